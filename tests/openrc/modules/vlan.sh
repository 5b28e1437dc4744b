# shellcheck shell=dash
# Stand-in for netifrc's vlan module, for the OpenRC and kernel test tiers.
#
# Written from /work/shared/netifrc-contract.md ("VLANs created by
# netifrc"), not from netifrc's code. With vlans_eth0="10 11":
# - at eth0's post_start, eth0.10 and eth0.11 are created (802.1Q on eth0)
#   and each is started *inside this process*: a subshell with
#   RC_SVCNAME=net.eth0.10 runs start() again, so every module's hooks run
#   for eth0.10 with the variables of eth0's run still set in the shell;
# - at eth0's pre_stop, each VLAN is stopped the same way and its link
#   deleted.
# Only the default name (IFACE.ID) is made. When /etc/init.d/net.eth0.10
# exists, OpenRC is told the VLAN's service started or stopped, so
# `rc-service net.eth0.10 status` agrees with the link.

vlan_depend()
{
	program ip
	after interface
}

# _vlan_ids: the VLAN ids of this interface, blank separated.
_vlan_ids()
{
	local _vi=''
	eval "_vi=\${vlans_${IFVAR}}"
	printf '%s\n' "${_vi}"
}

# _vlan_run start|stop NAME: the nested run of net.NAME, in a subshell of
# this one (variables stay, RC_SVCNAME follows the VLAN).
_vlan_run()
{
	(
		RC_SVCNAME="net.$2"
		export RC_SVCNAME
		"$1"
	)
}

# _vlan_has_service NAME: true when net.NAME has an init script.
_vlan_has_service()
{
	[ -e "/etc/init.d/net.$1" ]
}

vlan_post_start()
{
	local _vp_id='' _vp_name='' _vp_err='' _vp_rc=0
	for _vp_id in $(_vlan_ids); do
		_vp_name="${IFACE}.${_vp_id}"
		if ! _ip link show dev "${_vp_name}" >/dev/null 2>&1; then
			ebegin "Adding VLAN ${_vp_id} to ${IFACE}"
			_vp_err=$(_ip link add link "${IFACE}" name "${_vp_name}" \
				type vlan id "${_vp_id}" 2>&1)
			_vp_rc=$?
			eend ${_vp_rc} "${_vp_err}" || return ${_vp_rc}
		fi
		_vlan_run start "${_vp_name}"
		_vp_rc=$?
		if [ ${_vp_rc} -ne 0 ]; then
			eerror "Failed to start VLAN ${_vp_name}"
			return ${_vp_rc}
		fi
		_vlan_has_service "${_vp_name}" &&
			mark_service_started "net.${_vp_name}"
	done
	return 0
}

vlan_pre_stop()
{
	local _vs_id='' _vs_name=''
	for _vs_id in $(_vlan_ids); do
		_vs_name="${IFACE}.${_vs_id}"
		_ip link show dev "${_vs_name}" >/dev/null 2>&1 || continue
		# A VLAN stopped on its own (rc-service net.eth0.10 stop) is not
		# stopped twice; its link still goes.
		if ! _vlan_has_service "${_vs_name}" ||
			! service_stopped "net.${_vs_name}"; then
			_vlan_run stop "${_vs_name}"
			_vlan_has_service "${_vs_name}" &&
				mark_service_stopped "net.${_vs_name}"
		fi
		_ip -v link delete dev "${_vs_name}"
	done
	return 0
}
