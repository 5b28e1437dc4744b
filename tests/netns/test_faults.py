"""Fault tier (issue 10): SIGKILLs at random moments of post-start and
stop with 2,000 addresses on the interface. Each ends, after at most one
more start or stop, with the namespace's rules, routes and sysctls exactly
as before the first start and no rule without policyroute's protocol left
behind. The tally is printed (pytest -s).

Run: .venv/bin/pytest -s tests/netns/test_faults.py
"""

import random
import signal
import time

import pytest

from netns_checks import started

pytestmark = pytest.mark.usefixtures("clean")

IFACE, TABLE = "eth1.10", "e1v10"
ADDRESSES = 2000
KILLS = 25          # per phase: start and stop
TALLY = {"kills": 0, "back to the start": 0}


def aliases(lab, verb):
    lines = "".join(f"address {verb} 10.{i // 250}.{i % 250}.1/32 dev {IFACE}\n"
                    for i in range(ADDRESSES))
    lab.box.ip("-force", "-batch", "-", input=lines, check=False)


def untagged(snapshot, before):
    """Rules that are new since before and lack protocol 201."""
    new = set(snapshot["rules4"].splitlines()) - set(before["rules4"].splitlines())
    return [line for line in new if "proto 201" not in line]


def killed(pr, lab, verb, after):
    proc = pr.popen(verb, IFACE, netns=lab.box.name,
                    **({"table": TABLE} if verb == "post-start" else {}))
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    TALLY["kills"] += 1


@pytest.mark.parametrize("phase", ["post-start", "stop"])
def test_sigkill_at_random_moments(lab, pr, phase):
    rng = random.Random(10 + len(phase))
    aliases(lab, "add")
    try:
        before = lab.snapshot()
        started(pr.run("pre-start", IFACE, table=TABLE))
        t0 = time.monotonic()
        started(pr.run("post-start", IFACE, netns=lab.box.name, table=TABLE))
        took = time.monotonic() - t0
        started(pr.run("stop", IFACE, netns=lab.box.name))
        assert lab.snapshot() == before
        for _ in range(KILLS):
            if phase == "post-start":
                killed(pr, lab, "post-start", rng.uniform(0, took))
                # one more start, then a stop
                started(pr.run("post-start", IFACE, netns=lab.box.name, table=TABLE))
            else:
                started(pr.run("post-start", IFACE, netns=lab.box.name, table=TABLE))
                killed(pr, lab, "stop", rng.uniform(0, took))
            started(pr.run("stop", IFACE, netns=lab.box.name))
            now = lab.snapshot()
            assert untagged(now, before) == []
            assert now == before
            TALLY["back to the start"] += 1
    finally:
        aliases(lab, "del")
    print(f"\nfault tier, SIGKILL during {phase} with {ADDRESSES} addresses: {TALLY}")
