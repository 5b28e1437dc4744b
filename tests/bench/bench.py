"""Benchmark (`make bench`): every figure measured side by side in one
run, as medians of interleaved repeats, with the ratio.

(a) `rc-service net.eth1.10 start` and stop through OpenRC (the project's
    harness) at 1, 4, 16 and 64 addresses: plain netifrc, the same policy
    by hand in netifrc's rules_/routes_ (native), and the module; the
    module's added cost is the module minus plain.
(b) the helper's post-start and stop at 1 to 10,000 scattered addresses,
    and 10,000 as one contiguous IPv6 block, beside one ip -batch of the
    same rules, the netlink apply alone and netifrc-native (one ip process
    per rule), with the helper's peak RSS (scale.py).
(c) per-packet cost at 0 to 10,000 addresses, contiguous and scattered,
    plain (one rule triple per address) beside the compact layout, from
    the first and last address and unbound (datapath.py).
(d) the follower's reaction, timed from the kernel's own events: an
    address added -> its last rule in the kernel, and carrier lost or
    back -> the alias's gratuitous ARP on the wire from its new link;
    median and p99 over 200 events each, beside the ip -batch of the
    same changes.
And the rule count after 20 restarts and 20 starts without a stop.

Run as root: `make bench` (or .venv/bin/python tests/bench/bench.py);
BENCH_PARTS=d (any of abcd) runs only those parts.
Everything happens in namespaces made and removed here.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))     # scale.py, datapath.py

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
PARTS = os.environ.get("BENCH_PARTS", "abcd")


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def timed(argv, env=None, stdin=None):
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, text=True, env=env, input=stdin)
    return time.perf_counter() - t


def median_ms(samples):
    return statistics.median(samples) * 1000


def install(root):
    sh("make", "-s", "-C", str(REPO), "install", "DESTDIR=", f"PREFIX={root}/usr",
       f"MODULEDIR={root}/net", f"IPROUTE2DIR={root}/etc/iproute2", "PYTHON=/usr/bin/python3")
    return root / "usr/sbin/policyroute", root / "net/policyroute.sh"


class Box:
    """One namespace with eth1.10 (a veth) holding n addresses."""

    def __init__(self, n):
        self.ns = f"prbench-{uuid.uuid4().hex[:8]}"
        sh("ip", "netns", "add", self.ns)
        ip = ["ip", "-n", self.ns]
        sh(*ip, "link", "add", "eth1.10", "type", "veth", "peer", "name", "sw1")
        sh(*ip, "link", "set", "eth1.10", "up")
        sh(*ip, "link", "set", "sw1", "up")
        lines = [f"address add 192.0.2.{17 + i}/24 dev eth1.10" for i in range(min(n, 200))]
        lines += [f"address add 198.51.{100 + (i // 250) % 4}.{1 + i % 250}/32 dev eth1.10"
                  for i in range(max(0, n - 200))]
        subprocess.run([*ip, "-batch", "-"], input="\n".join(lines) + "\n", check=True,
                       capture_output=True, text=True)
        sh(*ip, "route", "add", "default", "via", "192.0.2.1")

    def rules(self):
        return len(sh("ip", "-n", self.ns, "-N", "rule", "show").stdout.splitlines())

    def close(self):
        subprocess.run(["ip", "netns", "del", self.ns], check=False)


def restart_figures(helper, tmp):
    env = dict(os.environ, POLICYROUTE_STATE_DIR=f"{tmp}/runr", POLICYROUTE_IPROUTE2_DIR=f"{tmp}/etcr")
    box = Box(4)
    try:
        args = ["--netns", box.ns, "--table", "e1v10", "--rules", "from 192.0.2.17 to 198.51.100.0/24"]
        sh(str(helper), "post-start", "eth1.10", *args, env=env)
        once = box.rules()
        for _ in range(20):
            sh(str(helper), "stop", "eth1.10", "--netns", box.ns, env=env)
            sh(str(helper), "post-start", "eth1.10", *args, env=env)
        restarted = box.rules()
        for _ in range(20):
            sh(str(helper), "post-start", "eth1.10", *args, env=env)
        zapped = box.rules()
        sh(str(helper), "stop", "eth1.10", "--netns", box.ns, env=env)
        return once, restarted, zapped, box.rules()
    finally:
        box.close()


START_SIZES = tuple(int(n) for n in os.environ.get("BENCH_START_SIZES", "1 4 16 64").split())
VARIANTS = ("plain", "native", "module")


def _start_conf(n, variant):
    """conf.d/net for eth1.10 with n addresses. plain: netifrc alone, no
    policy; native: the same policy by hand in netifrc's own rules_ and
    routes_ (what local.start users write), one `ip rule add` per line;
    module: table_ and the module."""
    addrs = [f"192.0.2.{17 + i}" for i in range(n)]
    conf = 'config_eth1_10="' + "\n".join(f"{a}/24" for a in addrs) + '"\n'
    routes = ["default via 192.0.2.3 table e1v10"]
    if variant == "native":
        routes.append(f"192.0.2.0/24 src {addrs[0]} scope link table e1v10")
        lines = []
        for i, a in enumerate(addrs):
            lines += [f"from {a} lookup e1v10 suppress_prefixlength 0 priority {20002}",
                      f"from {a} lookup main suppress_prefixlength 0 priority {21002}",
                      f"from {a} lookup e1v10 priority {22002}"]
        conf += 'rules_eth1_10="' + "\n".join(lines) + '"\n'
    if variant == "module":
        conf += 'table_eth1_10="e1v10"\n'
    return conf + 'routes_eth1_10="' + "\n".join(routes) + '"\n'


def openrc_figures(module, shell="dash"):
    """(a) rc-service net.eth1.10 start and stop through real OpenRC (the
    project's harness), {n: {variant: (start ms, stop ms)}}: the three
    variants' worlds stand side by side and take turns, run by run."""
    from openrc.harness import World
    out = {}
    for n in START_SIZES:
        worlds = {}
        try:
            for variant in VARIANTS:
                w = worlds[variant] = World(shell=shell).open()
                w.veth("eth1.10")
                w.write_rt_tables("1026 e1v10\n", name="seed.conf")
                if variant == "module":
                    w.install_module(module)
                w.write_conf(_start_conf(n, variant))
            samples = {v: ([], []) for v in VARIANTS}
            for _ in range(RUNS):
                for variant, w in worlds.items():
                    t = time.perf_counter()
                    proc = w.rc("net.eth1.10", "start")
                    t1 = time.perf_counter()
                    assert proc.returncode == 0, proc.stdout + proc.stderr
                    proc = w.rc("net.eth1.10", "stop")
                    t2 = time.perf_counter()
                    assert proc.returncode == 0, proc.stdout + proc.stderr
                    samples[variant][0].append(t1 - t)
                    samples[variant][1].append(t2 - t1)
            out[n] = {v: (median_ms(a), median_ms(b)) for v, (a, b) in samples.items()}
        finally:
            for w in worlds.values():
                w.close()
    return out


def print_openrc(rc):
    print(f"(a) rc-service net.eth1.10 start / stop through OpenRC (harness, dash), "
          f"median of {RUNS} interleaved runs, ms")
    print(f"{'addresses':>10} {'plain':>15} {'native':>15} {'module':>15} "
          f"{'module-plain':>13} {'native-plain':>13}")
    for n, r in rc.items():
        cells = " ".join(f"{r[v][0]:>7.1f}/{r[v][1]:<7.1f}" for v in VARIANTS)
        print(f"{n:>10} {cells} {r['module'][0] - r['plain'][0]:>+9.1f}/{r['module'][1] - r['plain'][1]:<+6.0f}"
              f" {r['native'][0] - r['plain'][0]:>+9.1f}/{r['native'][1] - r['plain'][1]:<+6.0f}")


REACTIONS = int(os.environ.get("BENCH_REACTIONS", "200"))
# The records live under /run, a tmpfs, where an fsync costs nothing; a
# state folder on disk would time the disk instead.
RUN_TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Carrier events this far apart each find the follower idle, as a real
# switch failure would (back to back, the next one waits for the pass
# that converges the previous one's rules).
SETTLE = 0.1


def follower_figures(helper, tmp, run):
    """The follower's reaction times (ms): {kind: (median, p99, floor)}.
    ``run``: the state folder, on a tmpfs as /run is."""
    env = dict(os.environ, POLICYROUTE_STATE_DIR=run, POLICYROUTE_IPROUTE2_DIR=f"{tmp}/etcf")
    ns = f"prbench-{uuid.uuid4().hex[:8]}"
    ip = ["ip", "-n", ns]
    sh("ip", "netns", "add", ns)
    try:
        for n, (link, peer) in enumerate((("eth0.10", "sw0"), ("eth1.10", "sw1"))):
            sh(*ip, "link", "add", link, "type", "veth", "peer", "name", peer)
            for end in (link, peer):
                sh(*ip, "link", "set", end, "up")
            sh(*ip, "address", "add", f"192.0.2.{16 + n}/24", "dev", link)
        for link, other, table in (("eth0.10", "eth1.10", "e0v10"), ("eth1.10", "eth0.10", "e1v10")):
            args = [link, "--netns", ns, "--table", table, "--failover", other,
                    "--configured", f"192.0.2.{16 + (link == 'eth1.10')}/24"]
            sh(str(helper), "pre-start", *args, env=env)
            sh(str(helper), "post-start", *args, env=env)
        sys.path.insert(0, str(REPO / "python"))
        from policyroute.kernel import in_netns
        with in_netns(ns):
            added, floor_add = _address_reactions(ns)
            moved = _carrier_reactions(ns)
        floor_move = [timed([*ip, "-batch", "-"], stdin=_move_lines(a, b)) for a, b in
                      [("eth1.10", "eth0.10"), ("eth0.10", "eth1.10")] * 10]
        for link in ("eth0.10", "eth1.10"):
            sh(str(helper), "stop", link, "--netns", ns, env=env)
        return {"address added -> rules": (*_median_p99(added), median_ms(floor_add)),
                "carrier lost/back -> moved, announced": (*_median_p99(moved),
                                                          median_ms(floor_move))}
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def _median_p99(samples):
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


def _move_lines(src, dst):
    """What a move of one alias asks of the kernel, as one ip -batch."""
    return "".join(f"{line}\n" for line in (
        f"address add 192.0.2.200/24 dev {dst} broadcast +",
        f"address del 192.0.2.200/24 dev {src}",
        "rule add from 192.0.2.200 priority 20090 lookup 1024 suppress_prefixlength 0",
        "rule add from 192.0.2.200 priority 21090 lookup main suppress_prefixlength 0",
        "rule add from 192.0.2.200 priority 22090 lookup 1024",
        "rule del priority 20090", "rule del priority 21090", "rule del priority 22090"))


def _stream(sock, timeout=10.0):
    """(time read, message) of every netlink message, in order."""
    import select
    while True:
        if not select.select([sock], [], [], timeout)[0]:
            raise RuntimeError("bench: the follower did not react in 10 s")
        now = time.perf_counter()
        for msg in sock.get():
            yield now, msg


def _first(stream, pred):
    return next(t for t, msg in stream if pred(msg))


def _address_reactions(ns):
    """An alias added by hand: its NEWADDR event -> the second of its own
    rules (stage 1 and 3, the guard being shared) in the kernel. Then
    deleted, and its rules gone."""
    from pyroute2 import IPRSocket
    groups = 0x10 | 0x80                       # RTMGRP_IPV4_IFADDR, RTNLGRP_IPV4_RULE
    out, floor = [], []
    with IPRSocket() as sock:
        sock.bind(groups=groups)
        stream = _stream(sock)
        for _ in range(REACTIONS):
            seen = []

            def own_rules(msg, event):
                if msg.get("event") == event and msg.get_attr("FRA_SRC") == "192.0.2.100":
                    seen.append(msg)
                return len(seen) == 2
            sh("ip", "address", "add", "192.0.2.100/24", "dev", "eth1.10")
            t0 = _first(stream, lambda m: m.get("event") == "RTM_NEWADDR")
            out.append(_first(stream, lambda m: own_rules(m, "RTM_NEWRULE")) - t0)
            seen.clear()
            sh("ip", "address", "del", "192.0.2.100/24", "dev", "eth1.10")
            _first(stream, lambda m: own_rules(m, "RTM_DELRULE"))
            lines = "".join(f"rule add from 192.0.2.101 priority {p} lookup 1024\n"
                            for p in (20090, 22090))
            floor.append(timed(["ip", "-batch", "-"], stdin=lines))
            sh("ip", "-batch", "-", input=lines.replace(" add ", " del "))
    return out, floor


def _carrier_reactions(ns):
    """Carrier of eth1.10 lost (or back): the kernel's NEWLINK event ->
    the alias's gratuitous ARP leaving by its new link."""
    import socket
    from pyroute2 import IPRSocket
    sh("ip", "address", "add", "192.0.2.200/24", "dev", "eth1.10")
    alias = socket.inet_aton("192.0.2.200")
    out = []
    with IPRSocket() as sock, \
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806)) as arp:
        sock.bind(groups=0x1)                 # RTMGRP_LINK
        arp.setblocking(False)
        stream = _stream(sock)
        for n in range(REACTIONS):
            up = n % 2 == 1
            peer = "sw0" if not up else "sw1"     # where the announcement arrives
            sh("ip", "link", "set", "sw1", "up" if up else "down")
            t0 = _first(stream, lambda m: m.get("event") == "RTM_NEWLINK"
                        and m.get_attr("IFLA_IFNAME") == "eth1.10"
                        and m.get_attr("IFLA_CARRIER") == int(up))
            out.append(_garp(arp, alias, peer) - t0)
            time.sleep(SETTLE)      # the rules follow the announcement; let them
    return out


def _garp(arp, alias, peer, timeout=10.0):
    import select
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not select.select([arp], [], [], end - time.monotonic())[0]:
            break
        while True:
            try:
                frame, where = arp.recvfrom(2048)
            except BlockingIOError:
                break
            # ARP payload at 14: sender IP at 28..32, target IP at 38..42
            if where[0] == peer and frame[28:32] == alias and frame[38:42] == alias:
                return time.perf_counter()
    raise RuntimeError("bench: no announcement in 10 s")


def print_follower(helper, tmp):
    with tempfile.TemporaryDirectory(prefix="prbench-", dir=RUN_TMPFS) as run:
        follow = follower_figures(helper, tmp, run)
    print(f"\n(d) follower reaction over {REACTIONS} events each, from the kernel's "
          "event, ms:")
    print(f"{'':>40} {'median':>7} {'p99':>7} {'ip -batch':>10} {'median/batch':>13}")
    for kind, (median, p99, floor) in follow.items():
        print(f"{kind:>40} {median:>7.1f} {p99:>7.1f} {floor:>10.1f} "
              f"{median / floor:>12.1f}x")


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces)")
    sys.stdout.reconfigure(line_buffering=True)     # each part as soon as measured
    import datapath
    import scale
    with tempfile.TemporaryDirectory(prefix="prbench-") as tmp:
        helper, module = install(Path(tmp) / "inst")
        if "a" in PARTS:
            print_openrc(openrc_figures(module))
        if "b" in PARTS:
            sizes = tuple(int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "").split()) \
                or scale.SIZES
            print("\n(b) " + "\n".join(scale.table(scale.scale_figures(sizes))), flush=True)
        if "c" in PARTS:
            print("\n(c) " + datapath.table(datapath.measure()), flush=True)
        if "d" in PARTS:
            print_follower(helper, tmp)
        once, restarted, zapped, after = restart_figures(helper, tmp)
        print(f"\nip rule lines: after one start {once}, after 20 stop+start {restarted}, "
              f"after 20 more starts without stop {zapped}, after stop {after}")


if __name__ == "__main__":
    main()
