"""observe.keep_rules, in this process inside a namespace of the test's:
the rules a held first step leaves are what a read gives, and are kept
only while no rule changes (netlink.RuleEvents counts every change)."""

import collections
import socket
import subprocess

import pytest

from netns_checks import veth_netns
from policyroute import kernel, netlink, observe, plan

IFACE = "eth1.10"
# Rules of other shapes there before, which the read turns into keys
FOREIGN = [(4, "from all fwmark 0x1/0xff lookup 100 priority 500"),
           (4, "not from 198.51.100.0/24 iif lo lookup main priority 501"),
           (6, "from 2001:db8:99::/48 to 2001:db8:98::/48 dport 53 lookup 100 priority 502"),
           (4, "from 203.0.113.7 sport 1000-2000 ipproto udp blackhole priority 503")]


@pytest.fixture
def ns():
    with veth_netns("prt-kept", [(IFACE, "sw1")]) as name:
        for family, line in FOREIGN:
            ip(name, f"-{family}", "rule", "add", *line.split())
        yield name


@pytest.fixture
def keeping(monkeypatch):
    monkeypatch.setattr(observe, "_kept", None)
    observe.keep_rules()
    yield
    for where in list(observe._kept):
        observe._drop(where)


def ip(ns, *args):
    return subprocess.run(["ip", "-N", "-n", ns, *args], check=True, capture_output=True,
                          text=True).stdout


def lines(n):
    """The automatic rules of n scattered addresses of each family."""
    v4 = [f"192.0.2.{i + 1}/32" for i in range(n)]
    v6 = [f"2001:db8:{i * 7919 % 65536:x}::{i % 256:x}/128" for i in range(n)]
    return {4: plan.auto_rules(v4, 4, 1025, True), 6: plan.auto_rules(v6, 6, 1025, True)}


def first_step(runner, n):
    """What engine.add_source_rules does about the rules: watch, read, add,
    keep. The objects added."""
    observe.watch_rules()
    before = observe.observe(runner, IFACE, rules=True)
    added = lines(n)
    for family, objs in added.items():
        runner.batch(family, [o.line("add") for o in objs])
    made = tuple((o.family, o.key) for objs in added.values() for o in objs)
    observe.rules_now(before.rule_keys + made, len(made))
    return made


def test_the_kept_rules_are_what_a_read_gives(ns, keeping):
    runner = kernel.Runner()
    with kernel.in_netns(ns):
        made = first_step(runner, 100)
        kept = observe._take_rules()
        read = observe.observe(runner, IFACE).rule_keys
    assert kept is not None
    assert collections.Counter(kept) == collections.Counter(read)
    assert len(read) == len(made) + len(FOREIGN) + 3 + 2      # and the kernel's own


def test_kept_rules_are_given_once_and_not_after_a_change(ns, keeping):
    runner = kernel.Runner()
    with kernel.in_netns(ns):
        first_step(runner, 10)
        assert observe._take_rules() is not None
        assert observe._take_rules() is None                # taken: read again
        first_step(runner, 0)
        ip(ns, "-6", "rule", "add", "from", "2001:db8:5::1", "lookup", "100", "priority", "600")
        assert observe._take_rules() is None
        assert observe.observe(runner, IFACE).rule_keys     # the read after it
        # many changes while waiting: more than its narrowed buffer holds
        first_step(runner, 0)
        events, _keys = observe._kept[kernel.netns_id()]
        assert events.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < 1 << 14
        others = plan.auto_rules([f"198.51.100.{i}/32" for i in range(1, 201)], 4, 1026, False)
        runner.batch(4, [o.line("add") for o in others])
        assert observe._take_rules() is None


def test_a_change_during_the_first_step_is_not_kept(ns, keeping):
    runner = kernel.Runner()
    with kernel.in_netns(ns):
        observe.watch_rules()
        before = observe.observe(runner, IFACE)
        ip(ns, "rule", "del", "priority", "503")           # by someone else, meanwhile
        observe.rules_now(before.rule_keys, 0)
        assert observe._take_rules() is None


def test_events_count_adds_and_deletions_and_say_when_some_were_lost(ns, monkeypatch):
    runner = kernel.Runner()
    with kernel.in_netns(ns):
        events = netlink.RuleEvents()
        try:
            assert events.count() == 0
            objs = lines(50)
            for family, rules in objs.items():
                runner.batch(family, [o.line("add") for o in rules])
            assert events.count() == 2 * 101
            runner.batch(4, [o.line("del") for o in objs[4]])
            assert events.count() == 101
        finally:
            events.close()
        monkeypatch.setattr(netlink, "EVENTS_RCVBUF", 4096)
        small = netlink.RuleEvents()
        try:
            runner.batch(4, [o.line("add") for o in objs[4]])
            assert small.count() is None
        finally:
            small.close()


def test_a_namespace_made_again_under_the_name_is_another(ns, keeping):
    runner = kernel.Runner()
    with kernel.in_netns(ns):
        first_step(runner, 10)
    subprocess.run(["ip", "netns", "del", ns], check=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    with kernel.in_netns(ns):
        assert observe._take_rules() is None
        assert observe.observe(runner, IFACE, link_exists=False).rule_keys   # read: the new one's
