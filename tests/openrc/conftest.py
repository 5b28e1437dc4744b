"""Fixtures for the OpenRC tier: one isolated World per test.

    def test_x(world):                     # /bin/sh = $NRC_SHELL or dash
        world.veth("eth1.10")
        world.write_conf('config_eth1_10="192.0.2.17/24"\n')
        assert world.rc("net.eth1.10", "start").returncode == 0

    @pytest.mark.parametrize("world", SHELLS, indirect=True)
    def test_y(world): ...                 # once per shell

Use the ``host_guard`` fixture (or ``pytestmark =
pytest.mark.usefixtures("host_guard")``) to assert the host's rules, links,
namespaces, /etc and /run/openrc are as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .harness import SHELLS, World, host_snapshot

ALL_SHELLS = tuple(SHELLS)


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "the OpenRC tier needs root (namespaces, mounts)"
    for tool in ("unshare", "nsenter", "ip", "rc-service"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") +
                            ":/usr/sbin:/sbin"):
            return f"{tool} not found"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _unusable()
    if reason is None:
        return
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_generate_tests(metafunc):
    """Every test that takes a world runs once per /bin/sh (bash, dash,
    busybox), or only under $NRC_SHELL when that is set."""
    if "world" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        if "world" in str(mark.args[0]).replace(" ", "").split(","):
            return
    shells = [os.environ["NRC_SHELL"]] if os.environ.get("NRC_SHELL") else list(ALL_SHELLS)
    metafunc.parametrize("world", shells, indirect=True)


@pytest.fixture
def world(request):
    """A fresh World; shell from indirect param, $NRC_SHELL, else dash."""
    shell = getattr(request, "param", None) or os.environ.get(
        "NRC_SHELL", "dash")
    w = World(shell=shell)
    try:
        w.open()
        yield w
    finally:
        w.close(keep_files=bool(os.environ.get("NRC_KEEP")))


@pytest.fixture
def host_guard():
    """Fail the test if the host changed while it ran."""
    before = host_snapshot()
    yield before
    after = host_snapshot()
    changed = sorted(k for k in before if before[k] != after[k])
    assert not changed, f"host state changed: {changed}"


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def module_path(tmp_path_factory) -> Path:
    """The module as `make install` writes it (helper path fixed in).

    POLICYROUTE_MODULE points at an already installed module instead, so
    this tier can test an installed tree (e.g. /lib/netifrc/net).
    """
    given = os.environ.get("POLICYROUTE_MODULE")
    if given:
        return Path(given)
    root = tmp_path_factory.mktemp("installed")
    subprocess.run(["make", "-s", "-C", str(REPO), "install", "DESTDIR=",
                    f"PREFIX={root}/usr", f"MODULEDIR={root}/lib/netifrc/net",
                    f"IPROUTE2DIR={root}/etc/iproute2", "PYTHON=/usr/bin/python3"],
                   check=True, capture_output=True)
    return root / "lib/netifrc/net/policyroute.sh"
