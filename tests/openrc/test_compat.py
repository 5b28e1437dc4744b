"""Issue 9: installing policyroute changes nothing for a conf.d/net that
uses netifrc's own rules_/rules6_ (no table_).

Each configuration of compat_corpus.yaml is started under real OpenRC in
two worlds, one with netifrc's iproute2 module alone and one with the
policyroute module installed. Both must give the same start result for
every interface and the same rules, read with ``ip -N -json rule show``
(-N: no rt_protos.d of the host renames a protocol), ignoring only the
protocol tag and the priority of lines that give none (the kernel stacks
those below the lowest rule, policyroute numbers them in written order).
Stopping every interface must then leave each world's rules as they were.
The worlds run side by side: netifrc alone goes through the whole corpus,
and two worlds with policyroute (whose starts cost more: the helper is a
python3 process) take half of it each. Runs under bash, dash and busybox.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from .harness import World

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("host_guard")]

CORPUS = yaml.safe_load(Path(__file__).with_name("compat_corpus.yaml").read_text())
RT_TABLES = "100\tisp\n200\tvpn\n"
MISSING = {"eth9"}                   # no link: its start fails in both worlds
KERNEL_PRIORITIES = {0, 32766, 32767}
MODULE_WORLDS = 2


def explicit_priorities(conf: str) -> set[int]:
    """Every number after a word iproute2 reads as priority (any prefix of
    preference, order or priority), read as strtoul(..., 0) reads it."""
    words = re.split(r"[\s\"']+", conf)
    out = set()
    for word, value in zip(words, words[1:]):
        if word and any(k.startswith(word) for k in ("preference", "order", "priority")):
            out.add(int(value, 16) if value.lower().startswith("0x")
                    else int(value, 8) if value.startswith("0") and value != "0"
                    else int(value))
    return out


def rules(world: World) -> list[dict]:
    out = []
    for family in (4, 6):
        text = world.ip("-N", "-json", f"-{family}", "rule", "show").stdout
        out += [dict(r, family=family) for r in json.loads(text or "[]")]
    return out


def comparable(found: list[dict], explicit: set[int]) -> Counter:
    """The rules as a multiset, without protocol, and without the priority
    of the rules no line gave one."""
    keep = explicit | KERNEL_PRIORITIES
    out = Counter()
    for r in found:
        r = {k: v for k, v in r.items() if k != "protocol"}
        if r["priority"] not in keep:
            del r["priority"]
        out[json.dumps(r, sort_keys=True)] += 1
    return out


def run_case(world: World, case: dict) -> dict:
    """Start the case's interfaces in order, read the rules, stop them all."""
    world.write_conf(case["conf"])
    before = rules(world)
    starts, output = {}, {}
    for iface in case["ifaces"]:
        proc = world.rc(f"net.{iface}", "start")
        starts[iface] = proc.returncode == 0
        output[iface] = proc.stdout + proc.stderr
    found = rules(world)
    for iface in reversed(case["ifaces"]):
        world.rc(f"net.{iface}", "stop" if starts[iface] else "zap")
    return {"starts": starts, "rules": found, "output": output,
            "left": rules(world) != before, "added": len(found) - len(before)}


def run_corpus(world: World, cases: list[dict]) -> list[dict]:
    world.write_rt_tables(RT_TABLES, name="local.conf")
    for iface in sorted({i for case in cases for i in case["ifaces"]} - MISSING):
        world.veth(iface)
    results = [run_case(world, case) for case in cases]
    assert world.run(["sh", "-c", "ls /run/policyroute 2>/dev/null"]).stdout.strip() == ""
    return results


def test_rules_mean_the_same_with_and_without_policyroute(world, module_path, capsys):
    plain = world                                   # netifrc's iproute2 module alone
    ours = [World(shell=world.shell) for _ in range(MODULE_WORLDS)]
    halves = [CORPUS[n::MODULE_WORLDS] for n in range(MODULE_WORLDS)]
    try:
        for w in ours:
            w.open()
            w.install_module(module_path)
        with concurrent.futures.ThreadPoolExecutor(1 + MODULE_WORLDS) as pool:
            runs = list(pool.map(run_corpus, [plain, *ours], [CORPUS, *halves]))
    finally:
        for w in ours:
            w.close()
    without, with_ = runs[0], [None] * len(CORPUS)
    for n, results in enumerate(runs[1:]):
        with_[n::MODULE_WORLDS] = results

    problems, starts, failed, compared = [], 0, 0, 0
    for case, a, b in zip(CORPUS, without, with_):
        name = case["name"]
        want = case.get("expect", "ok") == "ok"
        for iface, ok in a["starts"].items():
            starts += 1
            failed += not ok
            if ok != b["starts"][iface]:
                problems.append(f"{name}: net.{iface} start {'ok' if ok else 'failed'} without "
                                f"policyroute, {'ok' if b['starts'][iface] else 'failed'} with "
                                f"it:\n{b['output'][iface]}")
            elif ok != want:
                problems.append(f"{name}: net.{iface} start {'ok' if ok else 'failed'} in both, "
                                f"expected {case.get('expect', 'ok')}:\n{a['output'][iface]}")
        explicit = explicit_priorities(case["conf"])
        x, y = comparable(a["rules"], explicit), comparable(b["rules"], explicit)
        compared += a["added"]
        if x != y:
            problems.append(f"{name}: rules differ\n  only without policyroute: "
                            f"{sorted((x - y).elements())}\n  only with it: "
                            f"{sorted((y - x).elements())}")
        if want and a["added"] == 0 and "!policyroute" not in case["conf"]:
            problems.append(f"{name}: no rule was added at all")
        for label, r in (("without", a), ("with", b)):
            if r["left"]:
                problems.append(f"{name}: stop left rules behind {label} policyroute")

    with capsys.disabled():
        print(f"\ncompat ({world.shell}): {len(CORPUS)} configurations, {starts} starts "
              f"({failed} failing in both), {compared} rules: "
              f"{len(problems)} differences with and without policyroute")
    assert not problems, "\n".join(problems)
