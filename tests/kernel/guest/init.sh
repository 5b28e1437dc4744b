#!/bin/sh
# shellcheck shell=dash
# PID 1 of one test boot of linux.uml (tests/kernel/uml.py starts it).
#
# The root is the host's, through hostfs, read-only; the kernel runs as an
# unprivileged host uid, so the guest could not write the host anyway.
# Everything the guest writes goes to tmpfs: /run, and overlays on /etc,
# /var and /tmp. The kernel command line gives KT_SCRIPT (the scenario)
# and KT_STAGE (the staged files); init's environment has both.
#
# Output protocol on the console (fd 1 of linux.uml), read by uml.py:
#   @@kt begin NAME / @@kt end NAME RC   around each block (lib.sh)
#   @@kt status RC                       the scenario's exit status, last
# UML always exits 0, so the status line is the only verdict.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 kt-run /run
# Kernel messages (bonding, 8021q, bridge) stay off the console.
echo 1 >/proc/sys/kernel/printk

# Modules from the package's tree, with their dependencies from
# modules.dep (loaded last-listed first): no kmod, no /lib/modules needed.
kt_kdir=/usr/lib/uml/modules/$(uname -r)
kt_load() # MODULE [PARAM=VALUE...]
{
	local line deps d order=''
	line=$(grep -m1 "/$1.ko:" "${kt_kdir}/modules.dep") || return 1
	shift
	deps=${line#*:}
	for d in ${deps}; do
		order="${d} ${order}"
	done
	for d in ${order}; do
		busybox insmod "${kt_kdir}/${d}" 2>/dev/null
	done
	busybox insmod "${kt_kdir}/${line%%:*}" "$@"
}
for m in overlay ipv6 8021q vrf bridge veth; do
	kt_load "${m}" || echo "@@kt init: no module ${m}"
done
# No bond0 unless a scenario makes one.
kt_load bonding max_bonds=0 || echo "@@kt init: no module bonding"

for d in etc var tmp; do
	mkdir -p "/run/kt/${d}.up" "/run/kt/${d}.work"
	mount -t overlay "kt-${d}" \
		-o "lowerdir=/${d},upperdir=/run/kt/${d}.up,workdir=/run/kt/${d}.work" "/${d}" ||
		echo "@@kt init: no overlay on /${d}"
done
ip link set lo up

cd / || exit 1
/bin/sh "${KT_SCRIPT}" </dev/null 2>&1
echo "@@kt status $?"
echo o >/proc/sysrq-trigger
sleep 30
