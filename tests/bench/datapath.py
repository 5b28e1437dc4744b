"""Bench (c) of issue 12: what the policy rules cost every packet.

A UDP sender (Python, in the namespace) sends to 2001:db8:ffff::1 through
a veth whose peer is down: the kernel looks the route up (walking `ip
rule`), then drops the packet at the link (TX dropped). Time per packet,
sending from the first and the last address of the interface and
unbound (main's default carries ``src``, see BOX), at N = 0, 10, 100, 1,000, 10,000 IPv6 addresses (IPv4 has too
little documentation space for 10,000), contiguous (base + i) and
scattered (base + 2i: no two adjacent, so nothing collapses), for the
plain layout (one triple per address, what this project added before) and
the compact one (plan.desired: covering prefixes, one shared guard) side
by side. Medians over interleaved repeats; ratio to N = 0.

Rules are written as the helper writes them (kernel.Runner.batch: netlink
through pyroute2, no NLM_F_EXCL, highest priority first, where `ip -batch`
takes minutes at 30,000 rules); the layouts themselves come from plan.py
(compact) and from ``plain_rules`` here.

Run as root: `python tests/bench/datapath.py` prints the table alone.
Everything happens in namespaces made and removed here.
"""

import ctypes
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from policyroute import bands, parse, plan  # noqa: E402

SIZES = (0, 10, 100, 1000, 10000)
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
BUDGET = 0.05                           # seconds of sending per measurement
MIN_PACKETS = 20
TABLE = 1024
BASE = ipaddress.ip_address("2001:db8:1::1:0")      # aligned: a block collapses well
GATEWAY_TABLE, GATEWAY_MAIN = "2001:db8:1::2", "2001:db8:1::3"
# The box's own address, not one of the N: main's default names it as src,
# so an unbound packet costs the rules and not IPv6's source selection,
# which scores every address of the link (ipv6_dev_get_saddr: O(N) per
# packet, whatever the rules).
BOX = "2001:db8:1::10"
DESTINATION = "2001:db8:ffff::1"
LINK = "d0"

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# ------------------------------------------------------------ layouts

def addresses(n, arrangement):
    step = 1 if arrangement == "contiguous" else 2
    return [str(BASE + i * step) for i in range(n)]


def plain_rules(addrs, table=TABLE):
    """One triple per address: the layout before the compact one."""
    s, proto = bands.slot(table), ("protocol", str(bands.PROTO))
    out = []
    for a in addrs:
        src = f"{a}/128"
        out += [("from", src, "priority", str(bands.STAGE_TABLE_SPECIFIC + s), "lookup",
                 str(table), "suppress_prefixlength", "0", *proto),
                ("from", src, "priority", str(bands.STAGE_MAIN_SPECIFIC + s), "lookup", "main",
                 "suppress_prefixlength", "0", *proto),
                ("from", src, "priority", str(bands.STAGE_TABLE + s), "lookup", str(table),
                 *proto)]
    return out


def compact_rules(addrs, table=TABLE):
    """What the helper plans for these addresses (guard on)."""
    cfg = parse.parse_interface(LINK, table=str(table))
    observed = plan.Observed(addresses=tuple(plan.Address(6, a, 64) for a in addrs))
    return [o.args for o in plan.desired(cfg, table, None, observed) if o.kind == "rule"]


LAYOUTS = {"plain": plain_rules, "compact": compact_rules}


# ------------------------------------------------------------ rules

def add_rules(rules):
    """Add rules in the current namespace the way the helper does
    (kernel.Runner.batch: netlink through pyroute2 without NLM_F_EXCL at
    this size, highest priority first; else one ip -batch)."""
    from policyroute.kernel import Runner
    Runner().batch(6, ["rule add " + " ".join(args) for args in rules])


# ------------------------------------------------------------ namespaces

@contextmanager
def entered(name):
    """Run the block inside namespace ``name`` (this thread only)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        yield
    finally:
        _setns(home)
        os.close(target)
        os.close(home)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def ip(name, *args, input=None):
    subprocess.run(["ip", "-n", name, *args], input=input, text=True, check=True,
                   capture_output=True)


def build(name, addrs, rules):
    """A namespace with one link (peer down: packets are dropped there),
    its addresses, a table with a default, main's default, and the rules."""
    subprocess.run(["ip", "netns", "add", name], check=True)
    ip(name, "link", "add", LINK, "type", "veth", "peer", "name", f"p{LINK}")
    # Addresses first, then up: on an up link every add waits for its
    # multicast joins (10,000 took minutes), while down they take 0.5 s.
    ip(name, "-6", "-batch", "-", input="".join(f"addr add {a}/64 dev {LINK} nodad\n"
                                                for a in [BOX, *addrs]))
    ip(name, "link", "set", LINK, "up")
    lines = []
    for gateway in (GATEWAY_TABLE, GATEWAY_MAIN):
        lines.append(f"neigh add {gateway} lladdr 02:00:00:00:00:0{gateway[-1]} dev {LINK} "
                     "nud permanent")
    lines += [f"route add default via {GATEWAY_MAIN} dev {LINK} src {BOX}",
              f"route add default via {GATEWAY_TABLE} dev {LINK} table {TABLE}"]
    ip(name, "-6", "-batch", "-", input="".join(line + "\n" for line in lines))
    with entered(name):
        add_rules(rules)


def count_rules(name):
    out = subprocess.run(["ip", "-n", name, "-6", "rule", "show"], check=True,
                         capture_output=True, text=True).stdout
    return len(out.splitlines()) - 2          # IPv6: lookup local and lookup main


# ------------------------------------------------------------ sending

def sender(name, source):
    """A UDP socket of namespace ``name``, bound to source (None: unbound)."""
    with entered(name):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    if source:
        s.bind((source, 0))
    return s


def per_packet(sock):
    """Seconds per sendto (an unconnected socket looks the route up each
    time): the median over bursts of MIN_PACKETS sent for BUDGET seconds,
    so a burst where another process had the CPU does not count."""
    target, payload, bursts = (DESTINATION, 9), b"x", []
    start = time.perf_counter()
    while time.perf_counter() - start < BUDGET:
        t = time.perf_counter()
        for _ in range(MIN_PACKETS):
            sock.sendto(payload, target)
        bursts.append(time.perf_counter() - t)
    return statistics.median(bursts) / MIN_PACKETS


# ------------------------------------------------------------ the bench

def cases(sizes=SIZES):
    """(layout, arrangement, n): N = 0 once, then each layout side by side."""
    out = [("-", "-", 0)] if 0 in sizes else []
    for arrangement in ("contiguous", "scattered"):
        for n in (s for s in sizes if s):
            out += [(layout, arrangement, n) for layout in LAYOUTS]
    return out


def measure(sizes=SIZES, runs=RUNS):
    """Rows {layout, arrangement, n, rules, first, last, unbound} in seconds
    per packet (medians over ``runs`` interleaved repeats)."""
    tag = uuid.uuid4().hex[:6]
    made, rows = [], []
    try:
        for layout, arrangement, n in cases(sizes):
            name = f"prdp{tag}{len(made)}"
            addrs = addresses(n, arrangement)
            made.append(name)
            build(name, addrs, LAYOUTS[layout](addrs) if n else [])
            first, last = (addrs[0], addrs[-1]) if n else (BOX, BOX)
            socks = {"first": sender(name, first), "last": sender(name, last),
                     "unbound": sender(name, None)}
            rows.append({"layout": layout, "arrangement": arrangement, "n": n,
                         "rules": count_rules(name), "socks": socks,
                         **{k: [] for k in socks}})
        for _ in range(runs):
            for row in rows:
                for kind, sock in row["socks"].items():
                    row[kind].append(per_packet(sock))
    finally:
        for row in rows:
            for sock in row.pop("socks").values():
                sock.close()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    for row in rows:
        for kind in ("first", "last", "unbound"):
            row[kind] = statistics.median(row[kind])
    return rows


def table(rows, runs=RUNS):
    """The rows as text, each figure with its ratio to N = 0."""
    zero = next((r for r in rows if r["n"] == 0), None)
    lines = ["per-packet cost, IPv6 UDP sendto dropped after the route lookup "
             f"(median of {runs} interleaved runs; x = ratio to N = 0)",
             f"{'layout':8} {'arrangement':11} {'N':>6} {'rules':>6}   "
             f"{'first':>17} {'last':>17} {'unbound':>17}"]
    for r in rows:
        cells = []
        for kind in ("first", "last", "unbound"):
            ratio = r[kind] / zero[kind] if zero else float("nan")
            cells.append(f"{r[kind] * 1e6:9.1f} us {ratio:5.1f}x")
        lines.append(f"{r['layout']:8} {r['arrangement']:11} {r['n']:>6} {r['rules']:>6}   "
                     + " ".join(cells))
    return "\n".join(lines)


def main():
    if os.geteuid() != 0:
        print("datapath bench: needs root (network namespaces)", file=sys.stderr)
        return 1
    print(table(measure()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
