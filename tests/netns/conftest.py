"""Fixtures for the namespace tier: the helper driven for real, in the lab
of tests/lab/topology.py, asserting by kernel state (`ip -json`) and by
packets.

    lab       one topology per test module, always removed
    pr        the helper, with state and rt_tables.d in a module tmp dir
    clean     each test starts at the module's baseline and is brought
              back to it (every recorded interface stopped), then checked

Needs root and network namespaces; skipped otherwise.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lab"))       # topology.py, shared with `make demo`
sys.path.insert(0, str(HERE))                      # netns_checks.py

import topology  # noqa: E402
from netns_checks import records, reset  # noqa: E402


def _unusable():
    if os.geteuid() != 0:
        return "the netns tier needs root"
    if not shutil.which("ip"):
        return "ip (iproute2) not found"
    name = f"prt-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if made.returncode != 0:
        return "cannot create network namespaces"
    return None


def pytest_collection_modifyitems(config, items):
    mine = [i for i in items if Path(str(i.fspath)).resolve().is_relative_to(HERE)]
    if not mine:
        return
    reason = _unusable()
    if reason:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=reason))


def _gone(names):
    present = set(os.listdir(topology.NETNS_DIR)) if topology.NETNS_DIR.is_dir() else set()
    return [n for n in names if n in present]


@pytest.fixture(scope="module")
def lab():
    lab = topology.Lab("prt")
    names = [ns.name for ns in lab.ns.values()]
    try:
        lab.build()
        yield lab
    finally:
        lab.destroy()
        assert not _gone(names), "namespaces left behind"


@pytest.fixture(scope="module")
def pr(tmp_path_factory):
    return topology.Helper(tmp_path_factory.mktemp("policyroute"))


@pytest.fixture(scope="module")
def baseline(lab):
    return lab.snapshot()


@pytest.fixture
def clean(lab, pr, baseline):
    assert lab.snapshot() == baseline, "a previous test left the box changed"
    yield
    problems = reset(lab, pr)
    assert not problems
    assert lab.snapshot() == baseline, "the box is not back at its baseline"
    assert records(pr) == []
