"""Issue 10, OpenRC tier: every value of the bad-input corpus
(tests/unit/bad_values.py) in a real conf.d/net, through `rc-service
net.eth1 start` under dash, bash and busybox and through `policyroute
check`: refused at pre-start naming the variable, nothing changed (rules,
routes, addresses, sysctls, rt_tables.d), and check's lines about eth1
the same as start's. Prints the tally per shell.

Run: .venv/bin/pytest -s tests/openrc/test_bad_input.py
Each shell takes every second value (NRC_CORPUS_STEP, default 2) from
its own offset: over 300 values per shell, and the whole corpus over the
shells, within the CI budget. NRC_CORPUS_STEP=1 runs every value under
every shell.
"""

import os
import re
import sys
from pathlib import Path

import pytest

from .harness import World

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import bad_values as corpus                     # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("host_guard")]
ERROR_RE = re.compile(r"^\s*\*\s+(?:ERROR: )?(?P<msg>[a-z0-9_]+(?: line \d+)?: '.*)$")


STATE_PARTS = {
    "rule4": "ip -N -4 rule show", "rule6": "ip -N -6 rule show",
    "route4": "ip -N -4 route show table all", "route6": "ip -N -6 route show table all",
    "addr": "ip -N -o addr show dev eth1 scope global",
    "sysctl": "cat /proc/sys/net/ipv4/conf/eth1/arp_ignore /proc/sys/net/ipv4/conf/eth1/arp_announce",
}


def state(world: World) -> dict:
    """Rules, routes, global addresses, sysctls, rt_tables.d, read in one
    run inside the world. netifrc's pre_up brings the link up before
    pre_start: its IPv6 link-local address and routes are not ours to
    compare."""
    script = "".join(f"echo '@@ {name}'; {cmd}; " for name, cmd in STATE_PARTS.items())
    proc = world.sh(script, check=True)
    out = {name: [] for name in STATE_PARTS}
    part = None
    for line in proc.stdout.splitlines():
        if line.startswith("@@ ") and line[3:] in out:
            part = line[3:]
        elif "fe80" not in line and "ff00::" not in line:
            out[part].append(line)
    out["rt_tables.d"] = sorted(p.name for p in world.rt_tables_d.iterdir())
    return out


def start_errors(proc) -> list[str]:
    return sorted(m["msg"] for line in (proc.stdout + proc.stderr).splitlines()
                  if (m := ERROR_RE.match(line)))


def check_errors(proc) -> list[str]:
    return sorted(line[len("policyroute: error: "):] for line in proc.stderr.splitlines()
                  if "eth1" in line)


def test_every_bad_value_is_refused_at_pre_start_as_check_refuses_it(world, module_path):
    helper = module_path.parents[3] / "usr/sbin/policyroute"
    world.install_module(module_path)
    world.veth("eth0", peer="peer0")
    world.veth("eth1", peer="peer1")
    world.add_service("net.eth1")
    for name, text in corpus.RT_TABLES_D.items():
        world.write_rt_tables(text.decode(), name=name)
    world.write_rt_tables("1024\te0\n", name="policyroute.conf")
    (world.conf_dir / "net").write_bytes(corpus.conf_text("table", corpus.GOOD["table"]))
    good = world.run([str(helper), "check", "/etc/conf.d/net"])
    assert good.returncode == 0, good.stderr
    step = int(os.environ.get("NRC_CORPUS_STEP", "2"))
    offset = ("dash", "bash", "busybox").index(world.shell) % step
    tally = {"values": 0, "refused at pre-start": 0, "nothing changed": 0,
             "check agrees": 0}
    failures = []
    before = state(world)
    # netns_ values are left to the unit tier: netifrc's pre_up moves the
    # link into that namespace before any module's pre_start runs.
    cases = [c for c in corpus.CASES if c[0] != "netns"
             and re.search(os.environ.get("NRC_CORPUS_MATCH", ""), c[3])]
    for name, value, extra, case_id in cases[offset::step]:
        (world.conf_dir / "net").write_bytes(corpus.conf_text(name, value, extra))
        tally["values"] += 1
        proc = world.rc("net.eth1", "start")
        got = start_errors(proc)
        check = world.run([str(helper), "check", "/etc/conf.d/net"])
        if proc.returncode != 0 and any(f"{name}_eth1" in e for e in got) \
                and "Traceback" not in proc.stdout + proc.stderr:
            tally["refused at pre-start"] += 1
        else:
            failures.append((case_id, "start", proc.stdout + proc.stderr))
        after = state(world)
        if after == before:
            tally["nothing changed"] += 1
        else:
            failures.append((case_id, "changed", {k: after[k] for k in after
                                                  if after[k] != before[k]}))
        if check.returncode == 1 and check_errors(check) == got:
            tally["check agrees"] += 1
        else:
            failures.append((case_id, "check", (check_errors(check), got)))
        world.rc("net.eth1", "zap")
    print(f"\nbad-input corpus, rc-service start under {world.shell}: {tally}")
    for f in failures[:3]:
        print(f)
    assert not failures, len(failures)
