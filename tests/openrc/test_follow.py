"""The follower under real OpenRC: `rc-service net.X start` with table_ is
all it takes for addresses added later to get their rules, for
failover_ to move aliases on carrier loss, and for the follower to end
with the last managed interface. Runs once per /bin/sh."""

from __future__ import annotations

import json
import time

import pytest

from .harness import World

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("host_guard")]

CONF = """config_eth0_10="192.0.2.16/24"
config_eth1_10="192.0.2.17/24"
table_eth0_10="e0v10"
table_eth1_10="e1v10"
failover_eth1_10="eth0.10"
failover_eth0_10="eth1.10"
"""
ALIAS = "192.0.2.100"


def wait_for(what, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.05)


@pytest.fixture
def pair(world: World, module_path) -> World:
    world.install_module(module_path)
    for iface in ("eth0.10", "eth1.10"):
        world.veth(iface)
    world.write_conf(CONF)
    for iface in ("eth0.10", "eth1.10"):
        proc = world.rc(f"net.{iface}", "start")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return world


def lookups(world, address):
    rules = json.loads(world.ip("-N", "-j", "-4", "rule", "show").stdout or "[]")
    return sorted({r["table"] for r in rules
                   if r.get("src") == address and r.get("protocol") == "201"
                   and r["table"] != "254"})


def holder(world, address):
    for link in json.loads(world.ip("-N", "-j", "-4", "addr", "show").stdout or "[]"):
        if any(a.get("local") == address for a in link.get("addr_info", [])):
            return link["ifname"]
    return None


def follower(world):
    """The supervisor's pid if it runs, else None."""
    proc = world.run(["cat", "/run/policyroute/follow.pid"])
    if proc.returncode != 0:
        return None
    pid = proc.stdout.strip()
    alive = world.run(["sh", "-c", f"grep -q follow /proc/{pid}/cmdline"])
    return int(pid) if alive.returncode == 0 else None


def test_follower_starts_follows_and_ends_with_the_interfaces(pair):
    assert follower(pair), "post-start starts the follower"
    pair.ip("addr", "add", f"{ALIAS}/24", "dev", "eth1.10")
    assert wait_for(lambda: lookups(pair, ALIAS) == ["1025"]), lookups(pair, ALIAS)

    proc = pair.rc("net.eth0.10", "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert follower(pair), "eth1.10 is still managed"
    proc = pair.rc("net.eth1.10", "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert follower(pair) is None
    left = pair.run(["sh", "-c", "grep -l 'policyroute' /proc/[0-9]*/cmdline"]).stdout
    assert "follow" not in left
    assert lookups(pair, ALIAS) == [] and lookups(pair, "192.0.2.17") == []


def test_carrier_loss_moves_the_alias_and_stop_leaves_nothing(pair):
    pair.ip("addr", "add", f"{ALIAS}/24", "dev", "eth1.10")
    assert wait_for(lambda: lookups(pair, ALIAS) == ["1025"])
    pair.ip("link", "set", "eth1.10p", "down", netns="peer")     # the switch port dies
    assert wait_for(lambda: holder(pair, ALIAS) == "eth0.10")
    assert wait_for(lambda: lookups(pair, ALIAS) == ["1024"])
    assert holder(pair, "192.0.2.17") == "eth1.10"              # the primary stays

    # Stopping the owner during failover takes its alias along.
    proc = pair.rc("net.eth1.10", "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert holder(pair, ALIAS) is None and lookups(pair, ALIAS) == []
    proc = pair.rc("net.eth0.10", "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = [r for r in json.loads(pair.ip("-N", "-j", "rule", "show").stdout)
            if r.get("protocol") == "201"]
    assert ours == [] and follower(pair) is None


@pytest.mark.parametrize("target, words", [
    ("eth1.10", "failover_eth1_10: 'eth1.10' is this interface itself"),
    ("eth9", "failover_eth1_10: 'eth9' has no table_eth9"),
])
def test_bad_failover_fails_the_start_and_names_the_variable(world: World, module_path,
                                                             target, words):
    world.install_module(module_path)
    world.veth("eth1.10")
    world.write_conf('config_eth1_10="192.0.2.17/24"\ntable_eth1_10="e1v10"\n'
                     f'failover_eth1_10="{target}"\n')
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode != 0
    assert words in proc.stdout + proc.stderr
    assert world.addresses("eth1.10", family=4) == []        # refused before any address
