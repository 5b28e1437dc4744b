# shellcheck shell=sh disable=SC3043
# The seed's network, for scenario_seed.sh (sourced after lib.sh).
#
#   gwA .2 (+ VRRP .1)                        gwB .3
#   lo 198.51.100.1, TTL 100                  lo 198.51.100.1, TTL 200
#      | trunk 10,11                             | trunk 10,11
#   [swA: br10 br11] ------ trunk 10,11 ------ [swB: br10 br11]
#      | trunk 10,11 (p0)                        | trunk 10,11 (p1)
#    eth0 (eth0.10 .16, eth0.11 .16)   box   eth1 (eth1.10 .17 .18, eth1.11 .17)
#
# Every trunk is a veth with real 802.1Q sub-interfaces on both ends; a
# switch bridges its sub-interfaces of one VLAN. VLAN 10 is 192.0.2.0/24,
# VLAN 11 203.0.113.0/24; both switches form one broadcast domain per
# VLAN, so each box interface hears every ARP request of its VLAN. The
# gateways answer pings with different TTLs: the TTL says who answered.

MAC_ETH0=02:00:00:00:00:e0
MAC_ETH1=02:00:00:00:00:e1
SEED_REACHABLE=600000

# seed_switch NS PORT...: VLAN 10 and 11 sub-interfaces of each trunk
# PORT, bridged per VLAN (br10, br11), everything up.
seed_switch()
{
	local ns="$1" p v
	shift
	{
		for p; do
			echo "link set ${p} up"
		done
		for v in 10 11; do
			echo "link add br${v} type bridge"
			for p; do
				echo "link add link ${p} name ${p}.${v} type vlan id ${v}"
				echo "link set ${p}.${v} master br${v}"
				echo "link set ${p}.${v} up"
			done
			echo "link set br${v} up"
		done
	} | kt_batch "${ns}"
}

# seed_gateway NS PORT LAST-OCTET TTL [EXTRA-V4]: a gateway on a trunk.
# Its neighbour entries stay REACHABLE for the whole boot (see seed_quiet;
# outside the first namespace there is no neigh/default to set).
seed_gateway()
{
	local ns="$1" p="$2" n="$3" ttl="$4" extra="$5"
	{
		echo "link set lo up"
		echo "address add 198.51.100.1/32 dev lo"
		echo "link add link ${p} name ${p}.10 type vlan id 10"
		echo "link add link ${p} name ${p}.11 type vlan id 11"
		echo "address add 192.0.2.${n}/24 dev ${p}.10"
		[ -n "${extra}" ] && echo "address add ${extra}/24 dev ${p}.10"
		echo "address add 203.0.113.${n}/24 dev ${p}.11"
		echo "link set ${p} up"
		echo "link set ${p}.10 up"
		echo "link set ${p}.11 up"
	} | kt_batch "${ns}" || return 1
	kt_sysctl "${ns}" "net/ipv4/ip_default_ttl=${ttl}" \
		"net/ipv4/neigh/${p}.10/base_reachable_time_ms=${SEED_REACHABLE}" \
		"net/ipv4/neigh/${p}.11/base_reachable_time_ms=${SEED_REACHABLE}"
}

# seed_quiet: for links made from now on, in the box: no IPv6 (no MLD or
# RS chatter) and neighbours that stay REACHABLE for the whole boot (no
# unicast ARP probes), so a link's tx counter counts what a test sent.
seed_quiet()
{
	echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
	echo "${SEED_REACHABLE}" >/proc/sys/net/ipv4/neigh/default/base_reachable_time_ms
}

seed_build()
{
	seed_quiet
	kt_batch "" <<-EOB
	netns add swA
	netns add swB
	netns add gwA
	netns add gwB
	link add eth0 address ${MAC_ETH0} type veth peer name p0 netns swA
	link add eth1 address ${MAC_ETH1} type veth peer name p1 netns swB
	link add ab netns swA type veth peer name ba netns swB
	link add gA netns gwA type veth peer name pgA netns swA
	link add gB netns gwB type veth peer name pgB netns swB
	EOB
	[ $? -eq 0 ] || return 1
	seed_switch swA p0 ab pgA || return 1
	seed_switch swB p1 ba pgB || return 1
	seed_gateway gwA gA 2 100 192.0.2.1 || return 1
	seed_gateway gwB gB 3 200
}

SEED_LINKS="eth0.10 eth0.11 eth1.10 eth1.11"

# seed_packets PREFIX ADDRESS...: for each address, the VLAN links' tx
# counters, 3 pings from it to 198.51.100.1 (TTL tells the gateway), the
# counters again: blocks PREFIX-ADDRESS-tx0, -ping, -tx1.
seed_packets()
{
	local p="$1" a
	shift
	for a; do
		# shellcheck disable=SC2086
		kt_tx "${p}-${a}-tx0" ${SEED_LINKS}
		kt_ping "${p}-${a}-ping" "" "${a}" 198.51.100.1 3
		# shellcheck disable=SC2086
		kt_tx "${p}-${a}-tx1" ${SEED_LINKS}
	done
}

# seed_arp NAME QUESTION...: each QUESTION is GW/PORT/SRC/TARGET; one ARP
# request broadcast per question (all at once), every reply heard within
# a second printed under a "? GW PORT TARGET" line.
seed_arp()
{
	local name="$1" dir=/run/kt/arp q i=0 gw port src target
	shift
	rm -rf "${dir}" && mkdir -p "${dir}"
	for q; do
		i=$((i + 1))
		gw=${q%%/*} q=${q#*/}
		port=${q%%/*} q=${q#*/}
		src=${q%%/*} target=${q#*/}
		echo "? ${gw} ${port} ${target}" >"${dir}/${i}"
		ip netns exec "${gw}" busybox arping -b -c 1 -w 1 -I "${port}" -s "${src}" \
			"${target}" >>"${dir}/${i}" 2>&1 &
	done
	wait
	echo "@@kt begin ${name}"
	cat "${dir}"/*
	echo "@@kt end ${name} 0"
}

# seed_sysctls NAME LINK...: arp_ignore, arp_announce, rp_filter of each.
seed_sysctls()
{
	local name="$1" l k v
	shift
	echo "@@kt begin ${name}"
	for l; do
		for k in arp_ignore arp_announce rp_filter; do
			v=-
			[ -r "/proc/sys/net/ipv4/conf/${l}/${k}" ] &&
				read -r v <"/proc/sys/net/ipv4/conf/${l}/${k}"
			echo "${l} ${k} ${v}"
		done
	done
	echo "@@kt end ${name} 0"
}

# seed_neigh NAME: both gateways' IPv4 neighbours.
seed_neigh()
{
	kt "$1" sh -c 'ip -n gwA -j -4 neigh show; ip -n gwB -j -4 neigh show'
}

# seed_gw_mac GW ADDRESS MAC: GW's neighbour entry for ADDRESS has MAC.
seed_gw_mac()
{
	case "$(ip -n "$1" -4 neigh show "$2")" in
		*" lladdr $3 "*) return 0 ;;
	esac
	return 1
}

# seed_carrier NAME LINK...: "LINK CARRIER OPERSTATE" per link.
seed_carrier()
{
	local name="$1" l c o
	shift
	echo "@@kt begin ${name}"
	for l; do
		c=- o=-
		read -r c <"/sys/class/net/${l}/carrier" 2>/dev/null
		read -r o <"/sys/class/net/${l}/operstate" 2>/dev/null
		echo "${l} ${c} ${o}"
	done
	echo "@@kt end ${name} 0"
}

# seed_follower NAME: the follower's pid file and whether it runs.
seed_follower()
{
	local pid=''
	echo "@@kt begin $1"
	[ -r /run/policyroute/follow.pid ] && read -r pid </run/policyroute/follow.pid
	if [ -n "${pid}" ] && [ -d "/proc/${pid}" ]; then
		echo "running ${pid}"
	else
		echo "none"
	fi
	echo "@@kt end $1 0"
}
