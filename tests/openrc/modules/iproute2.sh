# shellcheck shell=dash
# Stand-in for netifrc's iproute2 module, for the OpenRC test tier.
#
# It does what the project's module has to coexist with: it provides
# "interface" (link up/down, presence, addresses, routes, address flush)
# and it applies rules_$IFVAR / rules6_$IFVAR verbatim with "ip rule add",
# records them with service_set_value ip_rule / ip6_rule, and deletes the
# recorded lines at post_stop. Like netifrc it validates nothing.
# Tunnels, iplink_, DAD waiting and route-cache flushes are left out.

iproute2_depend()
{
	program ip
	provide interface
	after ifconfig
}

# _ip [-v] ARGS...: run ip, inside netns_$IFVAR when that namespace exists.
_ip()
{
	local _ip_verbose='' _ip_ns=''
	if [ "$1" = -v ]; then
		_ip_verbose=yes
		shift
	fi
	eval "_ip_ns=\${netns_${IFVAR}}"
	if [ -n "${_ip_ns}" ] && [ -e "/run/netns/${_ip_ns}" ]; then
		set -- -n "${_ip_ns}" "$@"
	fi
	[ -n "${_ip_verbose}" ] && veinfo ip "$@"
	command ip "$@"
}

_up()
{
	_ip -v link set dev "${IFACE}" up
}

_down()
{
	_ip -v link set dev "${IFACE}" down
}

_exists()
{
	_ip link show dev "${IFACE}" >/dev/null 2>&1
}

_ifindex()
{
	local _ix
	_ix=$(_ip -o link show dev "${IFACE}" 2>/dev/null) || {
		echo 0
		return 0
	}
	echo "${_ix%%:*}"
}

# _get_mac_address: the MAC in upper case, or nothing for a null MAC.
_get_mac_address()
{
	local _mac
	_mac=$(_ip -o link show dev "${IFACE}" 2>/dev/null |
		sed -n -e 's/.* link\/[a-z]* \([0-9a-fA-F:]*\).*/\1/p')
	_mac=$(printf '%s\n' "${_mac}" | tr 'abcdef' 'ABCDEF')
	case "${_mac}" in
		''|00:00:00:00:00:00|FF:FF:FF:FF:FF:FF) return 1 ;;
	esac
	printf '%s\n' "${_mac}"
}

_get_inet_address()
{
	_ip -4 -o addr show dev "${IFACE}" 2>/dev/null |
		sed -n -e 's/.* inet \([^ ]*\).*/\1/p' | sed -n 1p
}

# _add_address ADDR[/PLEN] [WORDS...]: add one config_ entry. Extra words
# (brd, peer, scope, label, ...) are passed to "ip addr add" unchanged.
# An address that is already there is a warning, as in netifrc.
_add_address()
{
	local _aa_addr="$1" _aa_err='' _aa_rc=0
	shift
	case "${_aa_addr}" in
		*/*) ;;
		*:*) _aa_addr="${_aa_addr}/128" ;;
		*) _aa_addr="${_aa_addr}/32" ;;
	esac
	case "${_aa_addr}" in
		*:*) ;;
		*)
			case " $* " in
				*" broadcast "*|*" brd "*) ;;
				*) set -- "$@" broadcast + ;;
			esac
			;;
	esac
	_aa_err=$(_ip -v addr add "${_aa_addr}" dev "${IFACE}" "$@" 2>&1)
	_aa_rc=$?
	if [ ${_aa_rc} -ne 0 ]; then
		if [ -n "$(_ip -o addr show to "${_aa_addr%/*}" dev "${IFACE}" 2>/dev/null)" ]; then
			ewarn "Address ${_aa_addr} already existed!"
			return 0
		fi
		eerror "${_aa_err}"
	fi
	return ${_aa_rc}
}

# _add_route [-4|-6] [TYPE] ROUTE...: "ip route append ROUTE dev IFACE".
# A route without "metric" gets $metric (set by net.lo); blackhole,
# prohibit, throw and unreachable routes get no dev and are recorded in
# nodev_routes so that post_stop can delete them.
_add_route()
{
	local _ar_fam='' _ar_type='' _ar_err='' _ar_rc=0 _ar_old=''
	case "$1" in
		-4|-6) _ar_fam="$1"; shift ;;
	esac
	case "$1" in
		blackhole|prohibit|throw|unreachable) _ar_type="$1"; shift ;;
	esac
	case " $* " in
		*" metric "*|*" nexthop "*) ;;
		*) [ -n "${metric}" ] && set -- "$@" metric "${metric}" ;;
	esac
	if [ -n "${_ar_type}" ]; then
		_ar_old=$(service_get_value nodev_routes)
		service_set_value nodev_routes "${_ar_old}
${_ar_fam} route del ${_ar_type} $*"
	else
		set -- "$@" dev "${IFACE}"
	fi
	# shellcheck disable=SC2086
	_ar_err=$(_ip -v ${_ar_fam} route append ${_ar_type} "$@" 2>&1)
	_ar_rc=$?
	if [ ${_ar_rc} -ne 0 ]; then
		case "${_ar_err}" in
			*"File exists"*)
				ewarn "Route '$*' already existed"
				return 0
				;;
		esac
		eerror "${_ar_err}"
	fi
	return ${_ar_rc}
}

# Drop the interface's global, site and host addresses (link-local stays).
_delete_addresses()
{
	_ip -v addr flush dev "${IFACE}" scope global 2>/dev/null
	_ip -v addr flush dev "${IFACE}" scope site 2>/dev/null
	[ "${IFACE}" = lo ] || _ip -v addr flush dev "${IFACE}" scope host 2>/dev/null
	return 0
}

# _iproute2_rules FAMILY add|del LINES: one "ip rule" per line, the line
# split into words as it is. Failures are shown but not fatal.
_iproute2_rules()
{
	local _r_fam="$1" _r_cmd="$2" _r_lines="$3" _r_line=''
	veindent
	while read -r _r_line; do
		[ -n "${_r_line}" ] || continue
		vebegin "${_r_cmd} ${_r_line}"
		# shellcheck disable=SC2086
		_ip "${_r_fam}" rule "${_r_cmd}" ${_r_line} </dev/null
		veend $?
	done <<EOF
${_r_lines}
EOF
	veoutdent
}

_iproute2_policy_routing()
{
	local _pr_rules=''
	_pr_rules=$(_get_array "rules_${IFVAR}")
	if [ -n "${_pr_rules}" ]; then
		service_set_value ip_rule "${_pr_rules}"
		einfo "Adding IPv4 RPDB rules"
		_iproute2_rules -4 add "${_pr_rules}"
	fi
	_pr_rules=$(_get_array "rules6_${IFVAR}")
	if [ -n "${_pr_rules}" ]; then
		service_set_value ip6_rule "${_pr_rules}"
		einfo "Adding IPv6 RPDB rules"
		_iproute2_rules -6 add "${_pr_rules}"
	fi
	return 0
}

# True when rules_ go in before routes_ (policy_rules_before_routes).
_iproute2_rules_first()
{
	local _rf=''
	eval "_rf=\${policy_rules_before_routes_${IFVAR}}"
	yesno "${_rf:-${policy_rules_before_routes:-no}}"
}

# netns_$IFVAR: move the link into that namespace (created if missing).
iproute2_pre_up()
{
	local _pu_ns=''
	eval "_pu_ns=\${netns_${IFVAR}}"
	[ -n "${_pu_ns}" ] || return 0
	command ip link show dev "${IFACE}" >/dev/null 2>&1 || return 0
	if [ ! -e "/run/netns/${_pu_ns}" ]; then
		command ip netns add "${_pu_ns}" || return 1
		command ip -n "${_pu_ns}" link set lo up
	fi
	command ip link set dev "${IFACE}" netns "${_pu_ns}"
}

iproute2_pre_start()
{
	local _ps_mtu=''
	eval "_ps_mtu=\${mtu_${IFVAR}}"
	[ -n "${_ps_mtu}" ] && _ip -v link set dev "${IFACE}" mtu "${_ps_mtu}"
	_iproute2_rules_first && _iproute2_policy_routing
	return 0
}

iproute2_post_start()
{
	_iproute2_rules_first || _iproute2_policy_routing
	return 0
}

iproute2_post_stop()
{
	local _po_lines='' _po_line=''
	_po_lines=$(service_get_value nodev_routes)
	while read -r _po_line; do
		[ -n "${_po_line}" ] || continue
		# shellcheck disable=SC2086
		_ip -v ${_po_line} </dev/null
	done <<EOF
${_po_lines}
EOF
	_po_lines=$(service_get_value ip_rule)
	if [ -n "${_po_lines}" ]; then
		einfo "Removing IPv4 RPDB rules"
		_iproute2_rules -4 del "${_po_lines}"
	fi
	_po_lines=$(service_get_value ip6_rule)
	if [ -n "${_po_lines}" ]; then
		einfo "Removing IPv6 RPDB rules"
		_iproute2_rules -6 del "${_po_lines}"
	fi
	return 0
}
