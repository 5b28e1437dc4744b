# netifrc module: source-based policy routing (policyroute(8)).
# shellcheck shell=sh disable=SC3043
#
# An adapter only. It reads this interface's variables once per start,
# hands them to the policyroute helper on stdin, and turns
# the helper's answer into einfo/ewarn/eerror. It parses nothing itself.
#
#   table_eth1_10="e1v10"        one routing table for this interface
#   rules_eth1_10="..."          extra `ip rule` lines (rules6_ for IPv6)
#   policyroute_guard_eth1_10=no main's more specific routes no longer win
#   policyroute_arp_eth1_10=no   leave arp_ignore/arp_announce/rp_filter
#   failover_eth1_10="eth0.10"   aliases move there while eth1.10 has no carrier
#
# While this module is loaded for an interface it owns rules_/rules6_:
# pre_start moves their values aside and unsets them, so iproute2.sh (which
# would `ip rule add` each line itself) finds nothing to add, and clears
# iproute2.sh's record of lines (ip_rule/ip6_rule) so it deletes nothing.

# Fixed at install time (make install): OpenRC's PATH is not trusted.
_policyroute_helper="@POLICYROUTE@"

_config_vars="$_config_vars table rules rules6 policyroute_guard policyroute_arp failover"

# After the modules that map per-MAC and per-ESSID settings onto IFVAR
# (_config_vars), before the one that adds addresses and rules_.
policyroute_depend()
{
	program ip
	after macnet ssidnet
	before interface
}

# The helper's words, one line each, as netifrc output. RC: the helper's
# exit code. When it failed, a line that is not one of its own (a shell's
# "not found", a Python traceback) is an error too: never hidden at boot.
_policyroute_report()
{
	local line
	if [ "$2" -gt 128 ] && [ -z "$1" ]; then
		eerror "the policyroute helper was ended by signal $(($2 - 128))"
		return
	fi
	[ -n "$1" ] || return 0
	printf '%s\n' "$1" | while IFS= read -r line; do
		case "${line}" in
			"policyroute: error: "*) eerror "${line#policyroute: error: }" ;;
			"policyroute: warning: "*) ewarn "${line#policyroute: warning: }" ;;
			"") ;;
			"ip "*|"sysctl "*) veinfo "${line}" ;;
			*) if [ "$2" -eq 0 ]; then veinfo "${line}"; else eerror "${line}"; fi ;;
		esac
	done
}

# _policyroute_call STEP ARG...: run the helper, show its words, return its
# exit code. The values come on stdin (_policyroute_values): never as
# arguments, where a leading dash is an option and 128 kB is too long.
_policyroute_call()
{
	local verbose="" out rc
	yesno "${EINFO_VERBOSE}" && verbose="--verbose"
	# shellcheck disable=SC2086 # $verbose is one word or none
	out=$("${_policyroute_helper}" ${verbose} "$@" 2>&1)
	rc=$?
	_policyroute_report "${out}" "${rc}"
	return "${rc}"
}

# _policyroute_get VAR: set _policyroute_v to the value as written. The
# helper reads it the way _get_array does (lines trimmed, blank lines
# dropped) and refuses what is not plain ASCII words, so no value is cut
# or changed first by a shell (dash's echo in _get_array turns \n, \c and
# \0 into a newline, a cut and a NUL) and no fork is spent reading it.
# A bash array (deprecated, still netifrc's) goes through _get_array.
_policyroute_get()
{
	eval "_policyroute_v=\${$1-}"
	local _policyroute_n=1
	if [ -n "${BASH}" ]; then
		eval "_policyroute_n=\${#$1[@]}"
		[ "${_policyroute_n}" -gt 1 ] && _policyroute_v=$(_get_array "$1")
	fi
	return 0
}

# _policyroute_values NAME=VALUE...: the records --values - reads.
_policyroute_values()
{
	printf '%s\0' "$@"
}

# netifrc's iproute2 module keeps the rules_ lines it added in these
# service values and deletes them at stop. Lines there while this module
# owns rules_ mean iproute2 read them after all (a netifrc that reads its
# variables otherwise): say so, naming the variable, instead of letting
# both modules add and delete the same lines.
# With "clear" (at stop), the lines go, so iproute2's post-stop deletes none.
_policyroute_iproute2_kept()
{
	local name
	for name in ip_rule ip6_rule; do
		[ -n "$(service_get_value "${name}")" ] || continue
		ewarn "netifrc's iproute2 module recorded rules in ${name} although policyroute owns rules_${IFVAR}: policyroute empties that list at stop, so iproute2 deletes none"
		[ "$1" = clear ] && service_set_value "${name}" ""
	done
	return 0
}

# _policyroute_read: this interface's values, each read once per start
# (variables set here live from pre_start to post_start).
_policyroute_read()
{
	_policyroute_get "table_${IFVAR}"; _policyroute_table=${_policyroute_v}
	_policyroute_get "rules_${IFVAR}"; _policyroute_rules=${_policyroute_v}
	_policyroute_get "rules6_${IFVAR}"; _policyroute_rules6=${_policyroute_v}
	_policyroute_get "policyroute_guard_${IFVAR}"; _policyroute_guard=${_policyroute_v}
	_policyroute_get "policyroute_arp_${IFVAR}"; _policyroute_arp=${_policyroute_v}
	_policyroute_get "failover_${IFVAR}"; _policyroute_failover=${_policyroute_v}
	_policyroute_get "config_${IFVAR}"; _policyroute_configured=${_policyroute_v}
	_policyroute_get "netns_${IFVAR}"; _policyroute_netns=${_policyroute_v}
}

# _policyroute_mine: this interface's records for --values -.
_policyroute_mine()
{
	_policyroute_values \
		"table=${_policyroute_table}" \
		"rules=${_policyroute_rules}" \
		"rules6=${_policyroute_rules6}" \
		"guard=${_policyroute_guard}" \
		"arp=${_policyroute_arp}" \
		"failover=${_policyroute_failover}" \
		"configured=${_policyroute_configured}" \
		"netns=${_policyroute_netns}"
}

# _policyroute_siblings: every interface's policyroute settings, as this
# shell has them from conf.d/net, so pre-start refuses what `policyroute
# check` refuses across interfaces (a shared table or priority) without
# reading the file again. `set` lists the names; a line of a multi-line
# value that looks like one more name is only passed when it is set.
_policyroute_siblings()
{
	local name
	for name in $(set | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
		case "${name}" in
			table_?*|rules_?*|rules6_?*|policyroute_guard_?*|policyroute_arp_?*|\
			failover_?*|config_?*|netns_?*) ;;
			*) continue ;;
		esac
		_policyroute_get "${name}"
		[ -n "${_policyroute_v}" ] && _policyroute_values "${name}=${_policyroute_v}"
	done
	return 0
}

# Take rules_/rules6_ away from iproute2.sh for this start.
_policyroute_take_rules()
{
	unset "rules_${IFVAR}" "rules6_${IFVAR}"
	service_set_value ip_rule ""
	service_set_value ip6_rule ""
}

# _policyroute_hold VALUES READY STEP ARG...: the helper's STEP in the
# background, its stdin and stdout on two FIFOs whose other ends this shell
# keeps (fds 8 and 9), so that the same process runs the hook after the
# next (_policyroute_go): a start or a stop pays for one Python, not two,
# and the rules go in before netifrc adds the addresses and out after it
# flushes them (python/policyroute/commands/hold.py). VALUES: the function
# that writes the values. Returns 0 once the helper says READY, else its
# exit code; 125 with nothing started when the FIFOs cannot be made (then
# each hook runs the helper once).
_policyroute_hold()
{
	local values="$1" ready="$2" step="$3" dir verbose="" line out=""
	shift 3
	dir=$(mktemp -d /run/policyroute-hold.XXXXXX 2>/dev/null) || return 125
	if ! mkfifo -m 0600 "${dir}/in" "${dir}/out" 2>/dev/null; then
		rm -rf "${dir}"
		return 125
	fi
	yesno "${EINFO_VERBOSE}" && verbose="--verbose"
	# shellcheck disable=SC2086 # $verbose is one word or none
	"${_policyroute_helper}" ${verbose} "${step}" --hold="${dir}" "$@" \
		<"${dir}/in" >"${dir}/out" 2>&1 &
	_policyroute_pid=$!
	exec 8>"${dir}/in" 9<"${dir}/out"
	# A subshell writes: should the helper be gone, SIGPIPE ends it, not us.
	( "${values}"; printf '\0' ) >&8 2>/dev/null
	while IFS= read -r line <&9; do
		if [ "${line}" = "${ready}" ]; then
			_policyroute_report "${out}" 0
			return 0
		fi
		out="${out}${line}
"
	done
	# It ended without its answer: never a success. Its FIFOs are still
	# there when it never ran.
	[ ! -e "${dir}" ] || rm -rf "${dir}"
	_policyroute_done "${out}" || return
	eerror "the policyroute helper ended before ${step}'s answer"
	return 1
}

# _policyroute_go WORD: have the held helper run its second step; its exit
# code.
_policyroute_go()
{
	local line out=""
	( printf '%s\n' "$1" >&8 ) 2>/dev/null
	exec 8>&-
	while IFS= read -r line <&9; do
		out="${out}${line}
"
	done
	_policyroute_done "${out}"
}

# _policyroute_done OUTPUT: the held helper has ended: close its FIFOs,
# show OUTPUT, return its exit code (an end without an answer is an error).
_policyroute_done()
{
	local rc
	exec 8>&- 9<&-
	wait "${_policyroute_pid}"
	rc=$?
	_policyroute_pid=
	_policyroute_report "$1" "${rc}"
	return "${rc}"
}

# The values of a start, and of a stop.
_policyroute_start_values()
{
	_policyroute_mine
	_policyroute_siblings
}

_policyroute_stop_values()
{
	_policyroute_values "netns=${_policyroute_netns}"
}

policyroute_pre_start()
{
	local rc
	_policyroute_read
	_policyroute_take_rules
	_policyroute_active=
	_policyroute_pid=
	[ -n "${_policyroute_table}${_policyroute_rules}${_policyroute_rules6}" ] || return 0
	_policyroute_active=yes

	ebegin "Checking policy routing for ${IFACE}"
	_policyroute_hold _policyroute_start_values "pre-start: 0" \
		pre-start --ifvar="${IFVAR}" --values=- -- "${IFACE}"
	rc=$?
	if [ "${rc}" -eq 125 ]; then
		_policyroute_start_values |
			_policyroute_call pre-start --ifvar="${IFVAR}" --values=- -- "${IFACE}"
		rc=$?
	fi
	# Killed, it could not take back what its first step may have added
	# (its FIFO ended only once that step was over: nothing is adding now).
	[ "${rc}" -gt 128 ] && _policyroute_stop_values |
		_policyroute_call stop --values=- -- "${IFACE}"
	eend "${rc}"
}

policyroute_post_start()
{
	local rc
	[ -n "${_policyroute_active}" ] || return 0
	_policyroute_iproute2_kept

	ebegin "Adding policy routing for ${IFACE}"
	if [ -n "${_policyroute_pid}" ]; then
		_policyroute_go post-start
		rc=$?
		# Killed, it could not take back the rules it added at pre_start.
		[ "${rc}" -gt 128 ] && _policyroute_stop_values |
			_policyroute_call stop --values=- -- "${IFACE}"
	else
		_policyroute_mine | _policyroute_call post-start --ifvar="${IFVAR}" --values=- -- "${IFACE}"
		rc=$?
	fi
	[ "${rc}" -eq 0 ] && service_set_value policyroute_started yes
	eend "${rc}"
}

# A stop must never fail because of us, and is a no-op for an interface
# this module did not start: `modules_X="!policyroute"`, or started before
# the module was installed. The helper settles failover loans here, while
# the addresses are there, and removes rules and routes at post_stop,
# after netifrc flushed the addresses. What it could not remove stays in
# its record, which the interface's next start takes over (OpenRC forgets
# a stopped service's values, this mark too: no later stop comes).
policyroute_stop()
{
	local rc
	_policyroute_pid=
	[ "$(service_get_value policyroute_started)" = yes ] || return 0
	_policyroute_iproute2_kept clear
	_policyroute_get "netns_${IFVAR}"
	_policyroute_netns=${_policyroute_v}

	# Held, post_stop does the rest. Without FIFOs (125), or when the held
	# helper was killed before its answer, the stop is carried out here; a
	# helper that said why it failed leaves it to the next start.
	_policyroute_hold _policyroute_stop_values "stop: 0" stop --values=- -- "${IFACE}" &&
		return 0
	rc=$?
	[ "${rc}" -eq 125 ] || [ "${rc}" -gt 128 ] || return 0
	ebegin "Removing policy routing for ${IFACE}"
	_policyroute_stop_values | _policyroute_call stop --values=- -- "${IFACE}"
	_policyroute_stopped $?
}

policyroute_post_stop()
{
	local rc
	[ -n "${_policyroute_pid}" ] || return 0
	ebegin "Removing policy routing for ${IFACE}"
	_policyroute_go post-stop
	rc=$?
	# Killed, it removed nothing, and once the service is stopped OpenRC
	# forgets the mark: no later stop would. A one-shot stop does it now.
	if [ "${rc}" -gt 128 ]; then
		_policyroute_stop_values | _policyroute_call stop --values=- -- "${IFACE}"
		rc=$?
	fi
	_policyroute_stopped "${rc}"
}

# _policyroute_stopped RC: the end of a stop's helper.
_policyroute_stopped()
{
	[ "$1" -eq 0 ] && service_set_value policyroute_started ""
	eend "$1"
	return 0
}
