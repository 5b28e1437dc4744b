"""Fixtures for the kernel tier: scenario boots of linux.uml.

Every scenario script under guest/ is one boot; the first test that needs
a boot starts all of them, KT_JOBS (default 2) at a time, and each test
module reads its own boot's blocks:

    def test_x(seed):                      # seed = boots("scenario_seed.sh")
        assert seed.block("links").json()

The tier is skipped (and .ci/run then fails) without root or without
Debian's user-mode-linux.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from . import uml

SCENARIOS = ("scenario_seed.sh", "scenario_bond_vrf.sh", "scenario_standin.sh")
_TIMES: dict[str, float] = {}


def pytest_collection_modifyitems(config, items):
    reason = uml.unusable()
    if reason is None:
        return
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.skip(reason=reason))


class Boots:
    """All scenario boots of the session, started together."""

    def __init__(self, stage: uml.Stage, jobs: int):
        self.stage = stage
        self.pool = ThreadPoolExecutor(max_workers=jobs)
        self.futures = {s: self.pool.submit(uml.run, stage, s) for s in SCENARIOS}

    def __call__(self, script: str) -> uml.Boot:
        boot = self.futures[script].result()
        _TIMES[script] = boot.seconds
        return boot

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.stage.remove()


@pytest.fixture(scope="session")
def boots():
    # In /tmp itself: the guest's kernel runs as GUEST_UID and must reach
    # the stage (pytest's own temporary folders are root-only).
    stage = uml.Stage.make()
    b = Boots(stage, int(os.environ.get("KT_JOBS", "2")))
    try:
        yield b
    finally:
        b.close()


def booted(boots, script: str) -> uml.Boot:
    """The boot of script; fails (not errors) when it did not finish."""
    boot = boots(script)
    assert boot.status == 0, f"{script}: status {boot.status}\n{boot.tail()}"
    return boot


@pytest.fixture(scope="session")
def seed(boots):
    return booted(boots, "scenario_seed.sh")


@pytest.fixture(scope="session")
def bond_vrf(boots):
    return booted(boots, "scenario_bond_vrf.sh")


@pytest.fixture(scope="session")
def standin(boots):
    return booted(boots, "scenario_standin.sh")


def pytest_terminal_summary(terminalreporter):
    if _TIMES:
        terminalreporter.write_line("kernel tier boots: " + ", ".join(
            f"{s} {t:.0f} s" for s, t in sorted(_TIMES.items())))
