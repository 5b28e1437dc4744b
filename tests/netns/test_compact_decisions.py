"""Same decisions, proven: for random address sets the kernel picks the
same route under the compact layout (shared guard, covering prefixes) as
under the plain one-triple-per-address layout.

Each case builds two namespaces with the same links (veth pairs), addresses,
main routes and per-table defaults. Namespace "compact" is started by the
helper itself; namespace "plain" too (so the tables' routes are the same),
then its rules of ours are replaced by the plain layout through ip -batch.
Then ``ip route get DST from SRC`` for every address and a spread of
destinations, and unbound ``ip route get DST``, must print the same in
both. Finally the compact side is stopped interface by interface in random
order: the shared guard stays while a guarded interface is left, and
nothing of ours is left at the end.
"""

import ipaddress
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from topology import Helper  # noqa: E402

IP = "ip"
NET = {4: ipaddress.ip_network("192.0.2.0/24"), 6: ipaddress.ip_network("2001:db8:10::/64")}
GATEWAY = {4: "192.0.2.1", 6: "2001:db8:10::1"}
# Main's more specific routes (the guard's business) and a default.
MAIN = {4: ["default via 192.0.2.1 dev d0", "198.51.100.128/25 via 192.0.2.2 dev d1",
            "203.0.113.0/24 dev d2"],
        6: ["default via 2001:db8:10::1 dev d0", "2001:db8:ffff::/48 via 2001:db8:10::2 dev d1",
            "2001:db8:eeee::/64 dev d2"]}
DESTINATIONS = {4: ["192.0.2.9", "192.0.2.77", "198.51.100.5", "198.51.100.200",
                    "203.0.113.9", "198.51.100.127"],
                6: ["2001:db8:10::9", "2001:db8:10::77", "2001:db8:ffff::5",
                    "2001:db8:eeee::9", "2001:db8:dddd::1"]}
LINKS = 3


def ip(ns, *args, input=None, check=True):
    proc = subprocess.run([IP, "-n", ns, *args], input=input, capture_output=True, text=True,
                          timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"ip -n {ns} {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def batch(ns, family, lines, force=False):
    args = [f"-{family}"] + (["-force"] if force else []) + ["-batch", "-"]
    return ip(ns, *args, input="".join(line + "\n" for line in lines), check=not force)


def random_case(rng):
    """{link: (table, guard, {family: [addresses]})}: contiguous runs and
    scattered ones, interleaved between links, some addresses nobody's."""
    tables = rng.sample(range(1024, 1280), LINKS)
    case = {f"d{i}": (tables[i], rng.random() < 0.6, {4: [], 6: []}) for i in range(LINKS)}
    for family, net in NET.items():
        host = 16
        while host < 200:
            link = rng.choice(list(case))
            run = rng.choice([1, 1, 2, 3, 4, 8, 13])
            for k in range(run):
                case[link][2][family].append(str(net[host + k]))
            host += run + rng.choice([0, 0, 0, 1, 5])      # 0: the next run abuts
    return case


def build(ns, case):
    subprocess.run([IP, "netns", "add", ns], check=True)
    ip(ns, "link", "set", "lo", "up")
    for link, (table, _guard, addresses) in case.items():
        ip(ns, "link", "add", link, "type", "veth", "peer", "name", f"p{link}")
        ip(ns, "link", "set", f"p{link}", "up")
        ip(ns, "link", "set", link, "up")
        for family in (4, 6):
            plen = NET[family].prefixlen
            batch(ns, family, [f"addr add {a}/{plen} dev {link}" + (" nodad" if family == 6
                                                                     else "")
                               for a in addresses[family]])
    for family in (4, 6):
        batch(ns, family, [f"route add {r}" for r in MAIN[family]])
        # What routes_ "default via GW table T" would add: each table its own gateway.
        batch(ns, family, [f"route add default via {NET[family][240 + i]} dev {link} "
                           f"table {table}" for i, (link, (table, _g, a)) in
                           enumerate(case.items()) if a[family]])


def start(helper, ns, case):
    env = {"POLICYROUTE_FOLLOW": "no"}
    for link, (table, guard, _a) in case.items():
        proc = helper.run("post-start", link, netns=ns, table=str(table),
                          guard="yes" if guard else "no", extra_env=env)
        assert proc.returncode == 0, proc.stderr


def ours(ns, family):
    return [line for line in ip(ns, f"-{family}", "rule", "show").stdout.splitlines()
            if "proto policyroute" in line or "proto 201" in line]


def plain_layout(case, family):
    """The one-triple-per-address layout this project used before."""
    lines = []
    for _link, (table, guard, addresses) in case.items():
        s = table % 256
        for a in addresses[family]:
            src = f"{a}/{NET[family].max_prefixlen}"
            if guard:
                lines += [f"rule add from {src} priority {20000 + s} lookup {table} "
                          "suppress_prefixlength 0 protocol 201",
                          f"rule add from {src} priority {21000 + s} lookup main "
                          "suppress_prefixlength 0 protocol 201"]
            lines.append(f"rule add from {src} priority {22000 + s} lookup {table} protocol 201")
    return lines


def replace_with_plain(ns, case):
    for family in (4, 6):
        ip(ns, f"-{family}", "rule", "flush", "protocol", "201")
        batch(ns, family, plain_layout(case, family))


def decisions(ns, case, family):
    """route get for every address and unbound, to every destination."""
    sources = [a for _t, _g, addresses in case.values() for a in addresses[family]]
    lines = [f"route get {d}" + (f" from {s}" if s else "")
             for s in [None] + sources for d in DESTINATIONS[family]]
    proc = batch(ns, family, lines, force=True)
    answers = proc.stdout.replace("\n    cache", " cache").splitlines()
    return lines, answers, proc.stderr


def stop_all(helper, ns, case, rng):
    """Stop in random order; the guard lives exactly as long as a guarded link."""
    order = list(case)
    rng.shuffle(order)
    for n, link in enumerate(order):
        proc = helper.run("stop", link, netns=ns)
        assert proc.returncode == 0, proc.stderr
        left = order[n + 1:]
        for family in (4, 6):
            wanted = any(case[k][1] and case[k][2][family] for k in left)
            guards = [r for r in ours(ns, family) if r.startswith("21000:")]
            assert len(guards) == (1 if wanted else 0), (link, left, family, guards)
    assert ours(ns, 4) == [] and ours(ns, 6) == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_compact_layout_decides_as_the_plain_one(tmp_path, seed):
    rng = random.Random(seed)
    case = random_case(rng)
    tag = f"prcd{os.getpid()}s{seed}"
    compact, plain = f"{tag}c", f"{tag}p"
    helper_c, helper_p = Helper(tmp_path / "c"), Helper(tmp_path / "p")
    try:
        for ns, helper in ((compact, helper_c), (plain, helper_p)):
            build(ns, case)
            start(helper, ns, case)
        replace_with_plain(plain, case)
        for family in (4, 6):
            n_compact, n_plain = len(ours(compact, family)), len(ours(plain, family))
            assert n_compact < n_plain, (family, n_compact, n_plain)
            lines, want, errors = decisions(plain, case, family)
            _lines, got, errors_c = decisions(compact, case, family)
            assert not errors and not errors_c, errors or errors_c
            assert len(want) == len(lines)
            for line, w, g in zip(lines, want, got):
                assert g == w, f"{line}: compact {g!r}, plain {w!r}"
            assert any("table" in w for w in want)       # the tables do decide some
        stop_all(helper_c, compact, case, rng)
    finally:
        for ns in (compact, plain):
            subprocess.run([IP, "netns", "del", ns], capture_output=True)
    assert not {compact, plain} & set(os.listdir("/run/netns"))


def test_records_of_the_plain_layout_converge_to_the_compact_one(tmp_path):
    """An upgrade: the kernel and the records hold one triple per address
    (what the previous version added). The next start leaves exactly the
    compact rules, the stop leaves nothing."""
    case = random_case(random.Random(11))
    ns = f"prcd{os.getpid()}up"
    helper = Helper(tmp_path)
    try:
        build(ns, case)
        start(helper, ns, case)
        compact = {f: sorted(ours(ns, f)) for f in (4, 6)}
        replace_with_plain(ns, case)
        for link, (table, guard, addresses) in case.items():
            path = helper.record_path(link, ns)
            record = json.loads(path.read_text())
            one = {link: (table, guard, addresses)}
            record["objects"] = [o for o in record["objects"] if o["kind"] == "route"] + [
                {"kind": "rule", "family": f, "args": line.split()[2:]}
                for f in (4, 6) for line in plain_layout(one, f)]
            path.write_text(json.dumps(record))
        start(helper, ns, case)
        assert {f: sorted(ours(ns, f)) for f in (4, 6)} == compact
        for link in case:
            assert helper.run("stop", link, netns=ns).returncode == 0
        assert ours(ns, 4) == [] and ours(ns, 6) == []
    finally:
        subprocess.run([IP, "netns", "del", ns], capture_output=True)
