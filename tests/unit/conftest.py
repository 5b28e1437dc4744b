"""Unit tier: no root, no kernel, no network namespace; everything under tmp_path.

Every test runs with policyroute's paths pointed into its own tmp_path and
with ``ip`` replaced by a path that does not exist, so a test that reached
the kernel by mistake fails instead of touching the host.
"""

import pytest

from policyroute import kernel, parse, plan
from policyroute.tables import Registry


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    iproute2 = tmp_path / "etc-iproute2"
    state = tmp_path / "run-policyroute"
    monkeypatch.setenv("POLICYROUTE_IPROUTE2_DIR", str(iproute2))
    monkeypatch.setenv("POLICYROUTE_STATE_DIR", str(state))
    monkeypatch.setenv("POLICYROUTE_IPROUTE2_DATA_DIRS", "")
    monkeypatch.setattr(kernel, "IP", str(tmp_path / "no-such-ip"))
    return {"iproute2": iproute2, "state": state}


@pytest.fixture
def iproute2_dir(isolated):
    """An iproute2 configuration folder like a fresh Gentoo one."""
    d = isolated["iproute2"]
    d.mkdir(parents=True)
    (d / "rt_tables").write_text(
        "#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n"
        "#\n# local\n#\n100\thundred\n")
    return d


@pytest.fixture
def registry(iproute2_dir):
    return Registry(iproute2_dir)


SEED_ADDRESSES = (
    plan.Address(4, "192.0.2.17", 24),
    plan.Address(4, "192.0.2.18", 24, secondary=True),
    plan.Address(6, "2001:db8:10::17", 64),
)


@pytest.fixture
def seed_cfg():
    """The seed: eth1.10 with table e1v10, no rules_ lines."""
    return parse.parse_interface("eth1.10", table="e1v10")


@pytest.fixture
def seed_observed():
    """eth1.10's addresses; main has a default through it for each family."""
    return plan.Observed(
        addresses=SEED_ADDRESSES,
        defaults=((4, 254, "boot", "eth1.10", "192.0.2.3"),
                  (6, 254, "boot", "eth1.10", "2001:db8:10::1")))


@pytest.fixture
def seed_registry(registry):
    registry.register(["e1v10"])
    assert registry.lookup("e1v10") == 1024
    return registry
