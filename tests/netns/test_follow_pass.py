"""One follower pass (engine.settle) in-process, in a namespace made here:
what it does to the kernel and how many ip runs it takes (issue 12 (d):
one read of the namespace per family stands for every converge until
something changes the kernel; the read-back reads the families changed).
"""

import json
import subprocess

import pytest

import topology
from netns_checks import veth_netns
from policyroute import engine, state
from policyroute.kernel import Runner, in_netns
from policyroute.paths import Paths
from policyroute.sysctl import Sysctl

ALIAS = "192.0.2.100"


class CountingRunner(Runner):
    """A Runner that notes every ip run: ("read" | "write", family)."""

    def __init__(self):
        super().__init__()
        self.runs = []

    def _run(self, argv, stdin):
        self.runs.append(("read" if "-json" in argv else "write", argv[0]))
        return super()._run(argv, stdin)


def ip(ns, *args):
    return subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


def rules_from(ns, address):
    shown = json.loads(ip(ns, "-N", "-j", "rule", "show").stdout)
    return sorted((r["priority"], r.get("table")) for r in shown if r.get("src") == address)


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A namespace with eth0.10 and eth1.10 started as failover siblings
    (no follower process: the test runs the passes), stopped and removed
    after; the kernel's rules back to the namespace's own three."""
    pr = topology.Helper(tmp_path)
    with veth_netns("prt-pass", [("eth0.10", "sw0"), ("eth1.10", "sw1")]) as ns:
        for n, link in enumerate(("eth0.10", "eth1.10")):
            ip(ns, "address", "add", f"192.0.2.{16 + n}/24", "dev", link)
        for link, other, table in (("eth0.10", "eth1.10", "e0v10"),
                                   ("eth1.10", "eth0.10", "e1v10")):
            values = dict(netns=ns, table=table, failover=other,
                          configured=f"192.0.2.{16 + (link == 'eth1.10')}/24")
            for verb in ("pre-start", "post-start"):
                proc = pr.run(verb, link, extra_env={"POLICYROUTE_FOLLOW": "no"}, **values)
                assert proc.returncode == 0, proc.stderr
        monkeypatch.setattr(state, "_kept", None)
        state.keep_records()                    # as the worker does
        yield ns, Paths(str(pr.state_dir), str(pr.iproute2_dir), ())
        for link in ("eth0.10", "eth1.10"):
            proc = pr.run("stop", link, netns=ns)
            assert proc.returncode == 0, proc.stderr
        assert len(ip(ns, "-N", "rule", "show").stdout.splitlines()) == 3


def settle(ns, paths, names):
    runner = CountingRunner()
    with in_netns(ns):
        problems = engine.settle(paths, runner, Sysctl(runner), ns, names)
    assert problems == []
    return runner.runs


def test_an_address_pass_reads_once_writes_once_reads_back_its_family(box):
    ns, paths = box
    assert settle(ns, paths, None) == [("read", "-4"), ("read", "-6")]    # all in place
    table = int(json.loads(ip(ns, "-N", "-j", "route", "show", "table", "all", "proto",
                              "201", "dev", "eth1.10").stdout)[0]["table"])
    ip(ns, "address", "add", f"{ALIAS}/24", "dev", "eth1.10")
    assert settle(ns, paths, {"eth1.10"}) == [("read", "-4"), ("read", "-6"),
                                              ("write", "-4"), ("read", "-4")]
    assert [t for _p, t in rules_from(ns, ALIAS)] == [str(table)] * 2     # stage 1 and 3
    # nothing changed since: the first read stands for both converges
    assert settle(ns, paths, None) == [("read", "-4"), ("read", "-6")]
    ip(ns, "address", "del", f"{ALIAS}/24", "dev", "eth1.10")
    assert settle(ns, paths, {"eth1.10"}) == [("read", "-4"), ("read", "-6"),
                                              ("write", "-4"), ("read", "-4")]
    assert rules_from(ns, ALIAS) == []


def test_after_a_move_each_converge_reads_the_kernel_again(box):
    """Carrier lost: the alias moves, and the converges of both links
    plan on the kernel after the move, not on the pass's first read."""
    ns, paths = box
    ip(ns, "address", "add", f"{ALIAS}/24", "dev", "eth1.10")
    settle(ns, paths, {"eth1.10"})
    ip(ns, "link", "set", "sw1", "down")
    runs = settle(ns, paths, {"eth1.10"})
    assert runs[:3] == [("read", "-4"), ("read", "-6"), ("write", "-4")]    # read, move
    assert runs.count(("read", "-6")) == 3      # the pass's, and each converge's own
    shown = json.loads(ip(ns, "-j", "addr", "show", "dev", "eth0.10").stdout)[0]["addr_info"]
    assert ALIAS in [a["local"] for a in shown]
    table0 = int(json.loads(ip(ns, "-N", "-j", "route", "show", "table", "all", "proto",
                               "201", "dev", "eth0.10").stdout)[0]["table"])
    assert [t for _p, t in rules_from(ns, ALIAS)] == [str(table0)] * 2
    ip(ns, "link", "set", "sw1", "up")
    settle(ns, paths, {"eth1.10"})              # home again
    shown = json.loads(ip(ns, "-j", "addr", "show", "dev", "eth1.10").stdout)[0]["addr_info"]
    assert ALIAS in [a["local"] for a in shown]
    ip(ns, "address", "del", f"{ALIAS}/24", "dev", "eth1.10")
    settle(ns, paths, {"eth1.10"})
    assert rules_from(ns, ALIAS) == []
