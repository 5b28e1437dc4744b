# shellcheck shell=sh disable=SC3043
# Helpers for the scenario scripts that run inside linux.uml (sourced).
#
# A scenario prints blocks that tests/kernel/uml.py reads back:
#   @@kt begin NAME
#   ...output of one command...
#   @@kt end NAME RC
# Every fork costs ~25 ms in UML, so helpers batch (ip -batch, one
# ip -json per question) and read /sys and /proc with the shell's `read`.

KT_MODULES=/run/kt/modules

# kt NAME CMD...: run CMD, output and exit status in block NAME.
kt()
{
	local name="$1" rc
	shift
	echo "@@kt begin ${name}"
	"$@" 2>&1
	rc=$?
	echo "@@kt end ${name} ${rc}"
	return 0
}

# kt_note NAME TEXT: a block holding TEXT.
kt_note()
{
	echo "@@kt begin $1"
	printf '%s\n' "$2"
	echo "@@kt end $1 0"
}

# kt_ms: milliseconds since boot (no fork).
kt_ms()
{
	local up rest cs
	read -r up rest </proc/uptime
	cs=${up#*.}
	cs=${cs#0}
	echo $(( ${up%.*} * 1000 + 10 * cs ))
}

# kt_batch NETNS: `ip -batch -` on stdin, in NETNS ("" = the box).
kt_batch()
{
	if [ -n "$1" ]; then
		ip -n "$1" -batch -
	else
		ip -batch -
	fi
}

# kt_sysctl NETNS KEY=VALUE...: write sysctls (KEY with / separators)
# inside NETNS with one fork.
kt_sysctl()
{
	local ns="$1"
	shift
	ip netns exec "${ns}" /bin/sh -c '
		for kv; do echo "${kv#*=}" >"/proc/sys/${kv%%=*}" || exit 1; done' kt "$@"
}

# kt_state NAME: the box's rules (both families) and every table's routes
# of protocol 201, numbers not names, as one block.
kt_state()
{
	kt "$1" sh -c 'ip -N -j -4 rule show; ip -N -j -6 rule show;
		ip -N -j -4 route show table all proto 201;
		ip -N -j -6 route show table all proto 201'
}

# kt_tx NAME LINK...: tx_packets of each link, "LINK COUNT" per line.
kt_tx()
{
	local name="$1" l n
	shift
	echo "@@kt begin ${name}"
	for l; do
		n=-1
		[ -r "/sys/class/net/${l}/statistics/tx_packets" ] &&
			read -r n <"/sys/class/net/${l}/statistics/tx_packets"
		echo "${l} ${n}"
	done
	echo "@@kt end ${name} 0"
}

# kt_wait SECONDS CMD...: run CMD every 20 ms until it succeeds; prints the
# milliseconds it took, or "timeout".
kt_wait()
{
	local limit=$(( $1 * 1000 )) t0 t
	shift
	t0=$(kt_ms)
	while :; do
		"$@" && { t=$(kt_ms); echo $(( t - t0 )); return 0; }
		t=$(kt_ms)
		[ $(( t - t0 )) -lt "${limit}" ] || { echo timeout; return 1; }
		sleep 0.02
	done
}

# kt_has_addr LINK ADDR: ADDR (no prefix) is on LINK.
kt_has_addr()
{
	case " $(ip -o addr show dev "$1" 2>/dev/null | tr '\n' ' ') " in
		*" $2/"*) return 0 ;;
	esac
	return 1
}

# kt_openrc MODULE...: an OpenRC + netifrc-stand-in world in the guest,
# like tests/openrc/harness.py World but without namespaces (the guest is
# the box): fresh /etc/init.d, /etc/conf.d, /etc/iproute2 and /run/openrc;
# the stand-in net.lo and the named modules in MODULESDIR; policyroute's
# installed module from KT_STAGE when named "policyroute".
kt_openrc()
{
	local m d
	for d in /etc/init.d /etc/conf.d /etc/iproute2; do
		mkdir -p "${d}" && mount -t tmpfs -o mode=0755 kt "${d}"
	done
	mkdir -p /etc/iproute2/rt_tables.d "${KT_MODULES}" /run/openrc
	printf '255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n' >/etc/iproute2/rt_tables
	rm -rf /etc/rc.conf.d
	printf 'MODULESDIR="%s"\nrc_cgroup_mode="legacy"\n' "${KT_MODULES}" >/etc/rc.conf
	: >/etc/conf.d/net
	cp "${KT_STAGE}/openrc/net.lo" /etc/init.d/net.lo
	chmod 0755 /etc/init.d/net.lo
	(
		cd /run/openrc || exit 1
		mkdir -p daemons exclusive failed hotplugged inactive options \
			scheduled started starting stopping tmp wasinactive
		: >softlevel
		for d in sysfs localmount; do
			printf '#!/sbin/openrc-run\nstart() { :; }\n' >"/etc/init.d/${d}"
			chmod 0755 "/etc/init.d/${d}"
			ln -s "/etc/init.d/${d}" "started/${d}"
		done
	)
	for m; do
		if [ "${m}" = policyroute ]; then
			cp "${KT_STAGE}/inst/lib/netifrc/net/policyroute.sh" "${KT_MODULES}/"
		else
			cp "${KT_STAGE}/openrc/modules/${m}.sh" "${KT_MODULES}/"
		fi
	done
}

# kt_services NAME...: init.d links net.NAME -> net.lo.
kt_services()
{
	local s
	for s; do
		ln -sf net.lo "/etc/init.d/net.${s}"
	done
}

# kt_rc NAME SERVICE COMMAND: rc-service in block NAME, with its time.
kt_rc()
{
	local t0 t1 rc
	t0=$(kt_ms)
	echo "@@kt begin $1"
	rc-service --nocolor "$2" "$3" 2>&1
	rc=$?
	t1=$(kt_ms)
	echo "@@kt ms $(( t1 - t0 ))"
	echo "@@kt end $1 ${rc}"
}

# kt_ping NAME NETNS SRC DST [COUNT]: ping DST from SRC (an address or a
# link), in NETNS ("" = the box); the block holds ping's output.
kt_ping()
{
	local name="$1" ns="$2" src="$3" dst="$4" count="${5:-3}"
	if [ -n "${ns}" ]; then
		kt "${name}" ip netns exec "${ns}" busybox ping -c "${count}" -i 0.1 -W 2 -I "${src}" "${dst}"
	else
		kt "${name}" busybox ping -c "${count}" -i 0.1 -W 2 -I "${src}" "${dst}"
	fi
}

# kt_rules_only ADDR TABLE: every rule "from ADDR" that looks up a table
# other than main looks up TABLE (a number), and there is one.
kt_rules_only()
{
	local out
	out=$(ip -N -4 rule show | grep "from $1 lookup" | grep -v " lookup 254")
	[ -n "${out}" ] || return 1
	! printf '%s\n' "${out}" | grep -qv " lookup $2 "
}
