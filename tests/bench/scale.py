"""Benchmark: the helper at 1 to 10,000 addresses (issue 12, item (b)).

For each N: the installed helper's share of a start and of a stop as the
netifrc module runs it (one held process per start: pre-start and the
rules of config_'s addresses, then netifrc adds the addresses, not
counted, then post-start; one per stop: the stop's first step, netifrc
flushes the addresses, not counted, then the rest), and a one-shot
post-start and stop with the addresses there (what `policyroute up` and
a start without FIFOs do), beside what the same rule lines cost through
one ``ip -batch`` (iproute2 sets NLM_F_EXCL on rule add), through
policyroute's own netlink path alone (kernel.Runner.batch in this
process), and netifrc-native (one ``ip rule add`` process per line, as
iproute2.sh does; only up to NATIVE_MAX: at 10,000 it takes minutes);
with the helper's peak RSS.

The addresses are scattered (every other address, no two in one aligned
pair), so no layout compacts them into prefixes; the rules per address
are whatever plan.py lays out (2 and one shared guard rule per family).
Only the documentation ranges are used. Up to V4_MAX aliases are IPv4
(odd hosts of 198.51.100.0/24 and 203.0.113.0/24: 254 scattered ones);
beyond that IPv6 (odd hosts of 2001:db8:1::/64), as scattered IPv4
addresses run out. IPv6 is slower in the kernel whoever sends the
request: each IPv6 rule change walks every IPv6 route to renew its
serial number (fib6_flush_trees), and each /128 alias is a local route,
so at 10,000 the figure is the kernel's walk more than policyroute's.
Repeating IPv4 addresses across namespaces would not measure the same
thing: the rule list that makes insertion costly is per namespace.

Beside the scattered ones, at CONTIGUOUS_SIZES the same number of IPv6
aliases as one contiguous block (2001:db8:1::1:0 upward), as real alias
blocks are: the compact layout collapses them into a few covering
prefixes, so the rules are few and the figure is the helper's reading
and planning of N addresses.

Every figure is a median over interleaved repeats (start, stop, start,
...). Run as root: ``python tests/bench/scale.py [N ...]``; namespaces
are made and removed here.
"""

import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "tests" / "lab"))
from policyroute import netlink  # noqa: E402  (from this checkout)
from policyroute.parse import shell_var  # noqa: E402
from topology import Held  # noqa: E402  (the module's held hooks, on pipes)

HELPER_THRESHOLD = netlink.THRESHOLD    # netlink_figures lowers netlink's own
SIZES = (1, 10, 100, 1000, 10000)
CONTIGUOUS_SIZES = tuple(int(n) for n in
                         os.environ.get("BENCH_CONTIGUOUS_SIZES", "10000").split())
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
# repeats at N >= 10,000: each held round adds and flushes 10,000 IPv6
# addresses (the kernel's part, ~40 s each, not counted)
BIG_RUNS = int(os.environ.get("BENCH_BIG_RUNS", "2"))
# The netlink path alone at N >= 10,000 once fewer: the contiguous row's
# time (~45 s) in its place.
NETLINK_BIG_RUNS = max(1, BIG_RUNS - 1)
NATIVE_MAX = int(os.environ.get("BENCH_NATIVE_MAX", "1000"))
BATCH_MAX = int(os.environ.get("BENCH_BATCH_MAX", "10000"))
IFACE = "eth1.10"
TIME = "/usr/bin/time"         # GNU time: peak RSS of one process tree


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def median_ms(samples):
    return statistics.median(samples) * 1000


def run_child(argv, env=None, stdin=None):
    """(seconds, peak RSS in MiB) of one process, the largest of it and
    the children it ran. GNU time (a small C process) runs it: a child's
    maxrss starts at its parent's high-water mark (fork, or vfork, then
    exec), so this Python must not be the parent."""
    t = time.perf_counter()
    proc = subprocess.run([TIME, "-f", "%M", *argv], env=env, input=stdin,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"bench: {' '.join(argv[:4])}... exit {proc.returncode}: "
                           f"{proc.stderr}")
    return took, int(proc.stderr.split()[-1]) / 1024


def quiet(lock):
    """Wait until the follower's first pass (started by post-start; it
    holds the namespace lock) is over, so stop is timed alone; seconds
    waited after a 1 s grace in which the follower starts."""
    time.sleep(1.0)
    t = time.perf_counter()
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)
    return time.perf_counter() - t


def install(root):
    """The helper as `make install` lays it out, run by /usr/bin/python3."""
    sh("make", "-s", "-C", str(REPO), "install", "DESTDIR=", f"PREFIX={root}/usr",
       f"MODULEDIR={root}/net", f"IPROUTE2DIR={root}/etc/iproute2", "PYTHON=/usr/bin/python3")
    return root / "usr/sbin/policyroute"


V4_MAX = 255                   # the base address and 254 scattered IPv4 aliases
BASE = {4: ("192.0.2.17/24", "192.0.2.1"), 6: ("2001:db8:10::17/64", "2001:db8:10::1")}


def family_of(n):
    return 4 if n <= V4_MAX else 6


def address(family, i, contiguous=False):
    """The i-th scattered alias: 198.51.100.1, .3, ... 203.0.113.253
    (IPv4), or 2001:db8:1::1, ::3, ... (IPv6); contiguous (IPv6 only):
    2001:db8:1::1:0, ::1:1, ..."""
    if contiguous:
        if family != 6 or i >= 1 << 16:
            raise ValueError("bench: contiguous aliases are IPv6, up to 65,536")
        return f"2001:db8:1::1:{i:x}/128"
    if family == 6:
        return f"2001:db8:1::{2 * i + 1:x}/128"
    net, host = ("198.51.100", "203.0.113")[i // 127], 2 * (i % 127) + 1
    return f"{net}.{host}/32"


class ScaleBox:
    """One namespace with IFACE (a veth): a base address with main's
    default through it, and n - 1 host aliases (scattered, or one
    contiguous block), of one family, not yet on the link: ``add()`` and
    ``flush()`` do what netifrc does with them at a start and a stop."""

    def __init__(self, n, contiguous=False):
        self.family = family_of(n)
        self.ns = f"prscale-{uuid.uuid4().hex[:8]}"
        self.ip = ["ip", "-n", self.ns]
        base, self.gateway = BASE[self.family]
        self.addresses = [base] + [address(self.family, i, contiguous) for i in range(n - 1)]
        sh("ip", "netns", "add", self.ns)
        try:
            sh(*self.ip, "link", "add", IFACE, "type", "veth", "peer", "name", "sw1")
            sh(*self.ip, "link", "set", IFACE, "up")
            sh(*self.ip, "link", "set", "sw1", "up")
        except BaseException:
            self.close()
            raise

    def add(self):
        nodad = " nodad" if self.family == 6 else ""
        lines = [f"address add {a} dev {IFACE}{nodad}" for a in self.addresses]
        sh(*self.ip, f"-{self.family}", "-batch", "-", input="\n".join(lines) + "\n")
        sh(*self.ip, f"-{self.family}", "route", "replace", "default", "via", self.gateway,
           "dev", IFACE)

    def flush(self):
        sh(*self.ip, f"-{self.family}", "address", "flush", "dev", IFACE)

    def rules(self):
        return len(sh(*self.ip, f"-{self.family}", "rule", "show").stdout.splitlines())

    def close(self):
        subprocess.run(["ip", "netns", "del", self.ns], check=False)


def helper_env(tmp, n):
    return dict(os.environ, POLICYROUTE_STATE_DIR=f"{tmp}/run{n}",
                POLICYROUTE_IPROUTE2_DIR=f"{tmp}/etc{n}", POLICYROUTE_IPROUTE2_DATA_DIRS="")


def held(helper, env, verb, values, between, word):
    """(seconds, peak RSS in MiB) of one held helper (commands/hold.py)
    run as the module runs it: its first step until the ready line, then
    ``between()`` (netifrc's part, not counted), then ``word`` until it
    ends. GNU time runs it, as run_child does; its arguments are the
    module's own (netifrc-module/policyroute.sh), which the helper reads
    without argparse (cli.hook_args)."""
    ifvar = [f"--ifvar={shell_var(IFACE)}"] if verb == "pre-start" else []
    with tempfile.NamedTemporaryFile("r", prefix="prscale-rss-") as rss:
        argv = [TIME, "-f", "%M", "-o", rss.name, str(helper), verb,
                f"--hold={rss.name}.none", *ifvar, "--values=-", "--", IFACE]
        t = time.perf_counter()
        proc = Held(argv, env, values, f"{verb}: 0")
        took = time.perf_counter() - t
        if not proc.ready:
            proc.end()
            raise RuntimeError(f"bench: {verb} --hold: {proc.first}")
        between()
        t = time.perf_counter()
        rc, words = proc.go(word)
        took += time.perf_counter() - t
        if rc != 0:
            raise RuntimeError(f"bench: {verb} --hold, {word}: exit {rc}: {words}")
        return took, int(rss.read().split()[-1]) / 1024


def held_figures(helper, box, env, runs, fresh=None):
    """Medians of the held start and stop, each round from a link without
    the addresses, as netifrc finds it; their peak RSS; the rule lines
    the start applied. ``fresh``: make a new box for each round after the
    first (at 10,000 IPv6: adding 10,000 IPv6 addresses again to a link
    that had them took the kernel minutes, not the ~40 s of a first time).
    Returns the box of the last round, without the addresses."""
    start_values = {"table": "e1v10", "netns": box.ns, "configured": "\n".join(box.addresses)}
    f = {"start": [], "stop": [], "rss": [], "follower": []}
    for i in range(runs):
        if i and fresh:
            box.close()
            box = fresh()
            start_values["netns"] = box.ns
        before = box.rules()
        took, peak = held(helper, env, "pre-start", start_values, box.add, "post-start")
        f["start"].append(took)
        f["rss"].append(peak)
        f["follower"].append(quiet(f"{env['POLICYROUTE_STATE_DIR']}/netns/{box.ns}/.lock"))
        applied = box.rules() - before
        took, peak = held(helper, env, "stop", {"netns": box.ns}, box.flush, "post-stop")
        f["stop"].append(took)
        f["rss"].append(peak)
        if box.rules() != before:
            raise RuntimeError("bench: the held stop left rules behind")
    return box, {"start": median_ms(f["start"]), "stop": median_ms(f["stop"]),
                 "follower": median_ms(f["follower"]), "rss": max(f["rss"]), "rules": applied}


def one_shot_figures(helper, box, env, runs):
    """Medians of post-start and stop run once each with the addresses
    there (policyroute up/down, a start without FIFOs), their peak RSS,
    and the rule lines post-start applies."""
    args = [IFACE, "--netns", box.ns, "--table", "e1v10"]
    lock = f"{env['POLICYROUTE_STATE_DIR']}/netns/{box.ns}/.lock"
    before = box.rules()
    f = {"post-start": [], "down": [], "rss": []}
    for _ in range(runs):
        took, peak = run_child([str(helper), "post-start", *args], env)
        f["post-start"].append(took)
        f["rss"].append(peak)
        quiet(lock)
        took, peak = run_child([str(helper), "stop", *args[:3]], env)
        f["down"].append(took)
        f["rss"].append(peak)
        if box.rules() != before:
            raise RuntimeError("bench: stop left rules behind")
    trace = sh(str(helper), "-v", "post-start", *args, env=env).stdout
    sh(str(helper), "stop", IFACE, "--netns", box.ns, env=env)
    prefix = f"ip -n {box.ns} -{box.family} "
    lines = [t[len(prefix):] for t in trace.splitlines() if t.startswith(prefix + "rule add ")]
    return {"post-start": median_ms(f["post-start"]), "down": median_ms(f["down"]),
            "rss": max(f["rss"]), "lines": lines}


def batch_figures(box, lines, runs):
    """The same rule lines through one ip -batch, then their deletion."""
    add, delete = [], []
    text = "".join(f"{line}\n" for line in lines)
    for _ in range(runs):
        add.append(run_child([*box.ip, f"-{box.family}", "-batch", "-"], stdin=text)[0])
        delete.append(run_child([*box.ip, f"-{box.family}", "-batch", "-"],
                                stdin=text.replace(" add ", " del "))[0])
    return median_ms(add), median_ms(delete)


def netlink_figures(box, lines, runs):
    """policyroute's apply layer alone: kernel.Runner.batch in this
    process, with netlink.THRESHOLD lowered so that every rule add goes by
    netlink (the helper itself uses ip -batch below the threshold); its
    deletions always go through ip -batch, 2,048 lines a run. pyroute2's
    import (~35 ms, once a process) is not in it."""
    from policyroute.kernel import Runner, in_netns
    netlink.THRESHOLD = 1
    netlink.library()       # pyroute2's import, once a process: not timed here
    runner, add, delete = Runner(), [], []
    dels = [line.replace(" add ", " del ", 1) for line in lines]
    with in_netns(box.ns):
        for _ in range(runs):
            t = time.perf_counter()
            runner.batch(box.family, lines)
            add.append(time.perf_counter() - t)
            t = time.perf_counter()
            runner.batch(box.family, dels)
            delete.append(time.perf_counter() - t)
    return median_ms(add), median_ms(delete)


def native_figures(box, lines, runs):
    """netifrc's iproute2.sh: one `ip rule add` (and del) process per line."""
    add, delete = [], []
    for _ in range(runs):
        for verb, out in (("add", add), ("del", delete)):
            t = time.perf_counter()
            for line in lines:
                sh(*box.ip, f"-{box.family}", *line.replace(" add ", f" {verb} ", 1).split())
            out.append(time.perf_counter() - t)
    return median_ms(add), median_ms(delete)


def v4_rule_lines(n):
    """The rule lines plan.py lays out for n scattered addresses, in IPv4:
    254 scattered documentation addresses are all there are, so address
    i is address(4, i % 254) sending to its own table 1025 + i // 254 at
    the priorities of one interface (as if each alias had a table). To
    the kernel that is the same list: it compares rules field by field,
    and the priorities are what decides where one is inserted."""
    from policyroute import bands
    first, guard, third = bands.auto_priorities(1025, True)
    lines = [f"rule add priority {guard} lookup main suppress_prefixlength 0 protocol 201"]
    for i in range(n):
        src, table = address(4, i % 254), 1025 + i // 254
        lines += [f"rule add from {src} priority {first} lookup {table} "
                  "suppress_prefixlength 0 protocol 201",
                  f"rule add from {src} priority {third} lookup {table} protocol 201"]
    return lines


def v4_apply_figures(n, runs):
    """Runner.batch (as the helper applies) and ip -batch of
    v4_rule_lines(n), in an empty namespace: the IPv4 figure beside an
    IPv6 N, whose rule changes each walk every IPv6 route."""
    box = ScaleBox(1)
    try:
        lines = v4_rule_lines(n)
        return {"rules": len(lines), "netlink": netlink_figures(box, lines, runs),
                "batch": batch_figures(box, lines, 1)}
    finally:
        box.close()


def figures(helper, n, tmp, contiguous=False):
    """Every figure for N addresses. Below 10,000, each repeat runs every
    measurement once, in turn (interleaved: a slower minute of the machine
    weighs on all of them alike), and each figure is the median over the
    repeats. At 10,000 IPv6: the held rounds, each in a fresh namespace
    (see held_figures), then the rest with the addresses on the link."""
    big = n >= 10000
    env = helper_env(tmp, f"{n}{'c' * contiguous}")
    box = ScaleBox(n, contiguous)
    try:
        sh(str(helper), "pre-start", IFACE, "--table", "e1v10", env=env)     # the name
        if big:
            box, row = _in_turn(helper, box, env, n, contiguous)
        else:
            box, row = _interleaved(helper, box, env, n, RUNS)
    finally:
        box.close()
    row["v4"] = v4_apply_figures(n, BIG_RUNS if big else RUNS) \
        if box.family == 6 and not contiguous else None
    return row


def _with_addresses(helper, box, env, n, row, netlink_runs, runs):
    """``row`` (a held round's figures) with those taken once the
    addresses are on the link: one-shot, the apply layer by netlink,
    ip -batch, native; RSS the peak of both."""
    box.add()
    held_rss = row["rss"]
    row.update(one_shot_figures(helper, box, env, runs))
    row["rss"] = max(row["rss"], held_rss)
    lines = row.pop("lines")
    row["netlink"] = netlink_figures(box, lines, netlink_runs)
    row["batch"] = batch_figures(box, lines, runs) if n <= BATCH_MAX else None
    row["native"] = native_figures(box, lines, runs) if n <= NATIVE_MAX else None
    return row


def _interleaved(helper, box, env, n, runs):
    """``runs`` repeats of a held round, then the rest with the addresses
    on the link, each once; the median of each figure (RSS: the peak)."""
    rows = []
    for _ in range(runs):
        box, row = held_figures(helper, box, env, 1)
        rows.append(_with_addresses(helper, box, env, n, row, 1, 1))
        box.flush()
    out = {}
    for key, first in rows[0].items():
        values = [r[key] for r in rows]
        if key == "rss":
            out[key] = max(values)
        elif key == "rules" or first is None:
            out[key] = first
        elif isinstance(first, tuple):
            out[key] = tuple(statistics.median(v) for v in zip(*values))
        else:
            out[key] = statistics.median(values)
    return box, out


def _in_turn(helper, box, env, n, contiguous):
    """At 10,000: the held rounds, each in a fresh namespace, then the
    rest once (the netlink apply NETLINK_BIG_RUNS times) in another."""
    box, row = held_figures(helper, box, env, BIG_RUNS, lambda: ScaleBox(n, contiguous))
    box.close()
    box = ScaleBox(n, contiguous)
    return box, _with_addresses(helper, box, env, n, row, NETLINK_BIG_RUNS, 1)


def _ms(value, width=10):
    return f"{value:>{width}.1f}" if value < 10 else f"{value:>{width}.0f}"


def _cell(pair, i):
    return _ms(pair[i]) if pair else f"{'-':>10}"


def table(rows):
    """The figures as text lines."""
    out = [f"helper at N addresses (IPv4 up to {V4_MAX}, then IPv6; guard on), scattered "
           f"(scat) or one contiguous block (cont), median ms; {RUNS} runs ({BIG_RUNS} at "
           f"10,000, ip -batch once there; native up to {NATIVE_MAX:,})",
           f"{'N':>6} {'fam':>3} {'layout':>6} {'rules':>6} {'start':>7} {'stop':>7} "
           f"{'1-shot+':>8} {'1-shot-':>8} {'netlink+':>10} "
           f"{'netlink-':>10} {'ip-batch+':>10} {'ip-batch-':>10} {'native+':>10} "
           f"{'native-':>10} {'native/start':>12} {'RSS MiB':>8} {'follower':>9}"]
    for (n, layout), r in rows.items():
        ratio = f"{r['native'][0] / r['start']:>11.2f}x" if r["native"] else f"{'-':>12}"
        out.append(f"{n:>6} {'v' + str(family_of(n)):>3} {layout:>6} {r['rules']:>6} "
                   f"{_ms(r['start'], 7)} {_ms(r['stop'], 7)} "
                   f"{_ms(r['post-start'], 8)} {_ms(r['down'], 8)} "
                   f"{_cell(r['netlink'], 0)} {_cell(r['netlink'], 1)} "
                   f"{_cell(r['batch'], 0)} {_cell(r['batch'], 1)} "
                   f"{_cell(r['native'], 0)} {_cell(r['native'], 1)} {ratio} "
                   f"{r['rss']:>8.1f} {_ms(r['follower'], 9)}")
    for (n, _layout), r in rows.items():
        if r["v4"]:
            v4 = r["v4"]
            out.append(f"  {n:>5} as IPv4 rules ({v4['rules']}, 254 sources x tables), "
                       f"apply layer alone: netlink +{_ms(v4['netlink'][0], 1)} "
                       f"-{_ms(v4['netlink'][1], 1)}, ip -batch +{_ms(v4['batch'][0], 1)} "
                       f"-{_ms(v4['batch'][1], 1)}")
    out.append(f"netlink: policyroute's apply layer alone ({NETLINK_BIG_RUNS} runs at "
               f"10,000): adds by netlink (the helper does so from {HELPER_THRESHOLD} rule adds "
               "in one call, else ip -batch), deletions through ip -batch in runs of 2,048; "
               "pyroute2's import (~35 ms, once a process) not counted")
    out.append("below 10,000 every figure is the median of repeats that each take every "
               "measurement once, in turn (interleaved)")
    out.append(f"native (one ip process per rule) measured up to N = {NATIVE_MAX}; "
               f"ip -batch up to N = {BATCH_MAX}; + add, - delete")
    out.append("start, stop: the helper's share of rc-service start / stop (one held process "
               "each: the rules go in before netifrc adds the addresses and out after it "
               "flushes them; netifrc's part not counted); 1-shot: post-start and stop with "
               "the addresses there (policyroute up/down, a start without FIFOs; once at "
               "10,000 IPv6); native, netlink and ip -batch with the addresses there")
    out.append("RSS: the helper's peak (or an ip it ran's); follower: how long its first "
               "pass, 1 s after post-start, still held the namespace lock (a stop waits; "
               "not counted in stop)")
    return out


def scale_figures(sizes=SIZES, contiguous_sizes=CONTIGUOUS_SIZES):
    """{(N, "scat" or "cont"): figures}: the entry point bench.py calls.
    A contiguous row follows the scattered one of its N."""
    rows = {}
    with tempfile.TemporaryDirectory(prefix="prscale-") as tmp:
        helper = install(Path(tmp) / "inst")
        for n in sizes:
            rows[n, "scat"] = figures(helper, n, tmp)
            if n in contiguous_sizes and family_of(n) == 6:
                rows[n, "cont"] = figures(helper, n, tmp, contiguous=True)
    return rows


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces)")
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES
    for line in table(scale_figures(sizes)):
        print(line)


if __name__ == "__main__":
    main()
