# shellcheck shell=sh disable=SC3043
# Scenarios 1 and 2 in one boot (tests/kernel/test_seed.py reads it):
# the seed's conf.d/net with real 802.1Q VLANs made by the vlan stand-in,
# then failover_ on carrier loss of eth1, the parent.
. "${KT_STAGE}/guest/lib.sh"
. "${KT_STAGE}/guest/seed.sh"

t0=$(kt_ms)
seed_build || exit 10
kt_openrc iproute2 macnet vlan policyroute
kt_services eth0 eth1 eth0.10 eth0.11 eth1.10 eth1.11
cp "${KT_STAGE}/guest/seed.net" /etc/conf.d/net
kt_note build-ms "$(( $(kt_ms) - t0 ))"
kt_state rules-start

# --- scenario 1: the seed, as netifrc's vlan module brings it up
kt_rc start-eth0 net.eth0 start
kt_rc start-eth1 net.eth1 start
kt links ip -d -j link show
kt addrs-started ip -j -4 addr show
kt openrc-started ls /run/openrc/started
kt registered cat /etc/iproute2/rt_tables.d/policyroute.conf
kt_state rules-started
kt tables ip -N -j -4 route show table all
seed_sysctls sysctls eth0 eth1 ${SEED_LINKS}
seed_packets s1 192.0.2.16 192.0.2.17 192.0.2.18 203.0.113.16 203.0.113.17
seed_arp arp \
	gwA/gA.10/192.0.2.2/192.0.2.16 gwA/gA.10/192.0.2.2/192.0.2.17 \
	gwA/gA.10/192.0.2.2/192.0.2.18 gwB/gB.10/192.0.2.3/192.0.2.16 \
	gwB/gB.10/192.0.2.3/192.0.2.17 gwB/gB.10/192.0.2.3/192.0.2.18 \
	gwA/gA.11/203.0.113.2/203.0.113.16 gwA/gA.11/203.0.113.2/203.0.113.17 \
	gwB/gB.11/203.0.113.3/203.0.113.16 gwB/gB.11/203.0.113.3/203.0.113.17 \
	gwA/gA.10/192.0.2.2/203.0.113.16 gwB/gB.10/192.0.2.3/203.0.113.17

kt_rc stop-eth1 net.eth1 stop
kt links-eth1-stopped ip -j link show
kt openrc-started-eth1-stopped ls /run/openrc/started
kt_state rules-eth1-stopped
seed_sysctls sysctls-eth1-stopped eth0.10 eth0.11

# --- scenario 2: carrier loss on eth1 with failover_ to eth0's VLANs
cat >>/etc/conf.d/net <<'EONET'
failover_eth1_10="eth0.10"
failover_eth1_11="eth0.11"
EONET
kt_rc restart-eth1 net.eth1 start
ip addr add 203.0.113.100/24 dev eth1.11
kt alias-rules kt_wait 20 sh -c \
	'ip -N -4 rule show | grep -q "from 203.0.113.100 lookup 1027"'
# Both gateways learn the aliases at eth1's MAC (they ask, eth1's VLAN
# links answer), so that a later change can only come from an announcement.
kt prime sh -c 'ip netns exec gwA busybox ping -c 1 -W 2 192.0.2.18;
	ip netns exec gwA busybox ping -c 1 -W 2 203.0.113.100;
	ip netns exec gwB busybox ping -c 1 -W 2 192.0.2.18;
	ip netns exec gwB busybox ping -c 1 -W 2 203.0.113.100'
seed_neigh neigh-before
kt_state rules-before-loss
seed_packets s2-before 192.0.2.18 203.0.113.100

ip -n swB link set p1 down          # switch B's port to eth1 goes dark
kt moved kt_wait 20 sh -c '. "${KT_STAGE}/guest/lib.sh";
	kt_has_addr eth0.10 192.0.2.18 && kt_has_addr eth0.11 203.0.113.100'
kt announced kt_wait 10 sh -c '. "${KT_STAGE}/guest/seed.sh";
	for gw in gwA gwB; do
		seed_gw_mac $gw 192.0.2.18 ${MAC_ETH0} &&
		seed_gw_mac $gw 203.0.113.100 ${MAC_ETH0} || exit 1
	done'
# The rules follow the addresses after the announcement (engine.settle
# announces first): wait until each moved address looks up only eth0's.
kt settled kt_wait 20 sh -c '. "${KT_STAGE}/guest/lib.sh";
	kt_rules_only 192.0.2.18 1024 && kt_rules_only 203.0.113.100 1025'
seed_carrier carrier-lost eth1 eth1.10 eth1.11 eth0.10 eth0.11
kt addrs-lost ip -j -4 addr show
seed_neigh neigh-lost
kt_state rules-lost
seed_packets s2-lost 192.0.2.17 192.0.2.18 203.0.113.100

ip -n swB link set p1 up            # and comes back
kt returned kt_wait 20 sh -c '. "${KT_STAGE}/guest/lib.sh";
	kt_has_addr eth1.10 192.0.2.18 && kt_has_addr eth1.11 203.0.113.100'
kt reannounced kt_wait 10 sh -c '. "${KT_STAGE}/guest/seed.sh";
	for gw in gwA gwB; do
		seed_gw_mac $gw 192.0.2.18 ${MAC_ETH1} &&
		seed_gw_mac $gw 203.0.113.100 ${MAC_ETH1} || exit 1
	done'
kt resettled kt_wait 20 sh -c '. "${KT_STAGE}/guest/lib.sh";
	kt_rules_only 192.0.2.18 1026 && kt_rules_only 203.0.113.100 1027'
seed_carrier carrier-back eth1 eth1.10 eth1.11
kt_state rules-back
seed_packets s2-back 192.0.2.18 203.0.113.100

kt follow-log cat /run/policyroute/follow.log
kt_rc stop-eth1-again net.eth1 stop
kt_rc stop-eth0 net.eth0 stop
kt links-end ip -j link show
kt_state rules-end
seed_follower follower-end
