# shellcheck shell=sh disable=SC3043
# Scenarios 3 and 4 in one boot (tests/kernel/test_bond_vrf.py reads it):
# a VLAN on an active-backup bond with its own table, and a VRF on the
# same box whose slave has the very address eth0.10 has.
#
#   gwA .2 (+ .1) TTL 100   gwC .4 TTL 150        gwD .5 TTL 250 (netns blue)
#        | trunk                | trunk               |
#   [sw: br10] ---------------------------+        eth2 (192.0.2.16, in vrf-blue,
#        | trunk (p0)       | pb0    | pb1          table 10)
#      eth0 (eth0.10 .16)   b0      b1
#                           bond0 (bond0.10 .20)
. "${KT_STAGE}/guest/lib.sh"
. "${KT_STAGE}/guest/seed.sh"

MAC_B0=02:00:00:00:00:b0
MAC_B1=02:00:00:00:00:b1

bv_build()
{
	seed_quiet
	kt_batch "" <<-EOB
	netns add sw
	netns add gwA
	netns add gwC
	netns add blue
	link add eth0 address ${MAC_ETH0} type veth peer name p0 netns sw
	link add b0 address ${MAC_B0} type veth peer name pb0 netns sw
	link add b1 address ${MAC_B1} type veth peer name pb1 netns sw
	link add gA netns gwA type veth peer name pgA netns sw
	link add gC netns gwC type veth peer name pgC netns sw
	link add eth2 type veth peer name pe2 netns blue
	link add bond0 type bond mode active-backup miimon 50 primary b0
	link set b0 master bond0
	link set b1 master bond0
	EOB
	[ $? -eq 0 ] || return 1
	seed_switch sw p0 pb0 pb1 pgA pgC || return 1
	seed_gateway gwA gA 2 100 192.0.2.1 || return 1
	seed_gateway gwC gC 4 150 || return 1
	kt_batch blue <<-EOB
	link set lo up
	address add 198.51.100.1/32 dev lo
	address add 192.0.2.5/24 dev pe2
	link set pe2 up
	EOB
	[ $? -eq 0 ] || return 1
	kt_sysctl blue net/ipv4/ip_default_ttl=250 \
		"net/ipv4/neigh/pe2/base_reachable_time_ms=${SEED_REACHABLE}"
}

# The VRF, made by hand as an administrator would: its table 10 has a
# default route to gwD and an unreachable default at the highest metric,
# so a lookup in it never falls through to the next rules.
bv_vrf()
{
	kt_batch "" <<-EOB
	link add vrf-blue type vrf table 10
	link set vrf-blue up
	link set eth2 master vrf-blue
	address add 192.0.2.16/24 dev eth2
	link set eth2 up
	route add table 10 default via 192.0.2.5 dev eth2
	route add table 10 unreachable default metric 4278198272
	EOB
}

t0=$(kt_ms)
bv_build || exit 10
kt_openrc iproute2 macnet vlan policyroute
kt_services eth0 eth0.10 bond0 bond0.10
cat >/etc/conf.d/net <<'EONET'
vlans_eth0="10"
config_eth0="null"
config_eth0_10="192.0.2.16/24"
routes_eth0_10="default via 192.0.2.1
                default via 192.0.2.2 table e0v10"
table_eth0_10="e0v10"

vlans_bond0="10"
config_bond0="null"
config_bond0_10="192.0.2.20/24"
routes_bond0_10="default via 192.0.2.4 table b0v10"
table_bond0_10="b0v10"
EONET
kt_note build-ms "$(( $(kt_ms) - t0 ))"
kt_state rules-start
bv_vrf || exit 11
kt_state rules-vrf

kt_rc start-eth0 net.eth0 start
kt_rc start-bond0 net.bond0 start
kt links ip -d -j link show
kt links-plain ip -j link show
kt vrfs ip -j link show type vrf
kt vrf-show ip -j vrf show
kt registered cat /etc/iproute2/rt_tables.d/policyroute.conf
kt_state rules-started
kt tables ip -N -j -4 route show table all
kt vrf-table ip -N -j -4 route show vrf vrf-blue

# --- scenario 3: the bond's VLAN like any other interface
kt_tx bond-tx0 eth0.10 bond0.10 b0 b1 eth2
kt_ping bond-ping "" 192.0.2.20 198.51.100.1 3
kt_tx bond-tx1 eth0.10 bond0.10 b0 b1 eth2
kt_tx eth0-tx0 eth0.10 bond0.10 b0 b1 eth2
kt_ping eth0-ping "" 192.0.2.16 198.51.100.1 3
kt_tx eth0-tx1 eth0.10 bond0.10 b0 b1 eth2
seed_arp arp gwC/gC.10/192.0.2.4/192.0.2.20 gwC/gC.10/192.0.2.4/192.0.2.16 \
	gwA/gA.10/192.0.2.2/192.0.2.20
# The active slave's switch port fails: the bond goes on over b1.
ip -n sw link set pb0 down
kt slave-switched kt_wait 10 sh -c \
	'grep -q "Currently Active Slave: b1" /proc/net/bonding/bond0'
kt bond-state cat /proc/net/bonding/bond0
seed_carrier carrier-slave-down bond0 bond0.10 b0 b1
kt_state rules-slave-down
kt_tx slave-tx0 eth0.10 bond0.10 b0 b1 eth2
kt_ping slave-ping "" 192.0.2.20 198.51.100.1 3
kt_tx slave-tx1 eth0.10 bond0.10 b0 b1 eth2

# --- scenario 4: the VRF beside it
kt_tx vrf-tx0 eth0.10 bond0.10 b0 b1 eth2
kt_ping vrf-ping "" vrf-blue 198.51.100.1 3
kt_tx vrf-tx1 eth0.10 bond0.10 b0 b1 eth2
kt_tx main-tx0 eth0.10 bond0.10 b0 b1 eth2
kt_ping main-ping "" 192.0.2.16 198.51.100.1 3
kt_tx main-tx1 eth0.10 bond0.10 b0 b1 eth2
kt route-get sh -c 'ip -N -j route get 198.51.100.1 from 192.0.2.16;
	ip -N -j route get 198.51.100.1 vrf vrf-blue;
	ip -N -j route get 198.51.100.1 oif eth2'

kt_rc stop-bond0 net.bond0 stop
kt_rc stop-eth0 net.eth0 stop
kt_state rules-end
kt vrf-table-end ip -N -j -4 route show vrf vrf-blue
kt_tx vrf-end-tx0 eth2
kt_ping vrf-end-ping "" vrf-blue 198.51.100.1 3
kt_tx vrf-end-tx1 eth2
seed_follower follower-end

# --- scenario 4: table_ on the VRF's slave is refused by the start itself
printf 'config_eth2="null"\ntable_eth2="blue2"\n' >> /etc/conf.d/net
kt_services eth2
kt_rc start-eth2 net.eth2 start
kt_state rules-eth2
