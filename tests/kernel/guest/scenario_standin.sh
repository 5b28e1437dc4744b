# shellcheck shell=sh disable=SC3043
# Self-test of the vlan stand-in (tests/openrc/modules/vlan.sh) on real
# 802.1Q, read by tests/kernel/test_standin.py: a module that logs every
# hook shows the nesting the contract describes. No policyroute here.
. "${KT_STAGE}/guest/lib.sh"

kt_openrc iproute2 macnet vlan
kt_services eth0 eth0.10 eth0.11
ip link add eth0 address 02:00:00:00:00:e0 type veth peer name p0
ip link set p0 up

# trace: logs "HOOK RC_SVCNAME IFACE IFVAR seen=..." where seen lists the
# interfaces whose pre_start ran earlier *in this shell*; it is ordered
# before the interface provider, like policyroute.
cat >"${KT_MODULES}/trace.sh" <<'EOM'
trace_depend() { before interface; }
_trace() { echo "$1 ${RC_SVCNAME} ${IFACE} ${IFVAR} seen=${_trace_seen}" >>/run/kt/trace; }
trace_pre_start()
{
	_trace pre_start
	_trace_seen="${_trace_seen}${IFACE},"
	service_set_value trace_iface "${IFACE}"
}
trace_post_start() { _trace post_start; }
trace_pre_stop() { _trace pre_stop; }
trace_stop() { _trace stop; }
trace_post_stop() { _trace post_stop; }
EOM
cat >/etc/conf.d/net <<'EONET'
vlans_eth0="10 11"
config_eth0="null"
config_eth0_10="192.0.2.16/24"
config_eth0_11="203.0.113.16/24"
EONET

kt_rc start net.eth0 start
kt trace-start cat /run/kt/trace
kt links ip -d -j link show
kt addrs ip -j -4 addr show
kt values sh -c 'for s in net.eth0 net.eth0.10 net.eth0.11; do
	echo "$s $(cat /run/openrc/options/$s/trace_iface)"; done'
kt started ls /run/openrc/started
: >/run/kt/trace

# A VLAN stopped on its own is not stopped again by its parent's stop.
kt_rc stop-vlan net.eth0.11 stop
kt_rc stop net.eth0 stop
kt trace-stop cat /run/kt/trace
kt links-stopped ip -j link show
kt started-stopped ls /run/openrc/started
