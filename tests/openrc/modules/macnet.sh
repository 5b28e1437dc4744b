# shellcheck shell=dash
# Stand-in for netifrc's macnet module, for the OpenRC test tier.
#
# Before the interface is configured, settings keyed by the link's MAC
# address (upper case, colons removed, e.g. routes_0200C0000211) are
# copied onto the interface's own names (routes_eth1_10) for every name in
# _config_vars. A module opts a setting in with
#   _config_vars="$_config_vars mysetting"

macnet_depend()
{
	before rename interface wireless
	after macchanger
}

macnet_pre_start()
{
	local _mn_mac=''
	_mn_mac=$(_get_mac_address 2>/dev/null) || return 0
	[ -n "${_mn_mac}" ] || return 0
	vebegin "Configuring ${IFACE} for MAC address ${_mn_mac}"
	_mn_mac=$(printf '%s\n' "${_mn_mac}" | tr -d ':')
	_configure_variables "${_mn_mac}"
	veend 0
}
