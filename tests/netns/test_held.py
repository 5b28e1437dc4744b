"""The module's held hooks (commands/hold.py), driven as its shell drives
them: a held start adds the rules of config_'s addresses before netifrc
adds the addresses (an IPv6 rule change then walks no route of theirs),
and the record says "starting" until post-start; post-start brings the
rest and plans from what the interface really has; a start netifrc gave
up on leaves nothing; a held stop removes the rules only after netifrc
flushed the addresses, and the follower leaves the interface alone in
between."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netns_checks import veth_netns

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
import topology  # noqa: E402

IFACE = "eth1.10"
CONFIG = "192.0.2.17/24\n192.0.2.40/24\n2001:db8:10::17/64\n2001:db8:10::40/64\ndhcp"
ADDRESSES = [(4, "192.0.2.17/24"), (4, "192.0.2.40/24"),
             (6, "2001:db8:10::17/64"), (6, "2001:db8:10::40/64")]


@pytest.fixture
def ns():
    with veth_netns("prt-held", [(IFACE, "sw1")]) as name:
        yield name


@pytest.fixture
def helper(tmp_path):
    return topology.Helper(tmp_path)


def ip(ns, *args):
    return subprocess.run(["ip", "-N", "-n", ns, *args], check=True, capture_output=True,
                          text=True).stdout


def sources(ns):
    """{family: sorted from-prefixes of our rules}."""
    out = {}
    for fam in (4, 6):
        rules = json.loads(ip(ns, "-j", f"-{fam}", "rule", "show") or "[]")
        out[fam] = sorted({r["src"] + ("/" + str(r["srclen"]) if "srclen" in r else "")
                           for r in rules if r.get("protocol") == "201" and r.get("src", "all") != "all"})
    return out


def our_routes(ns):
    return ip(ns, "route", "show", "table", "all", "proto", "201") + \
        ip(ns, "-6", "route", "show", "table", "all", "proto", "201")


def add_addresses(ns, which=ADDRESSES):
    for fam, a in which:
        ip(ns, f"-{fam}", "address", "add", a, "dev", IFACE, *(["nodad"] if fam == 6 else []))


def phase(helper, ns):
    return json.loads(helper.record_path(IFACE, ns).read_text()).get("phase")


def recorded(helper, ns):
    """{(family, kind, words)} the record lists."""
    objects = json.loads(helper.record_path(IFACE, ns).read_text())["objects"]
    return {(o["family"], o["kind"], " ".join(o["args"])) for o in objects}


def start(helper, ns, **values):
    return helper.held("pre-start", IFACE, netns=ns, table="e1v10", configured=CONFIG,
                       **values)


def test_rules_come_before_the_addresses_and_post_start_plans_from_what_is_there(helper, ns):
    held = start(helper, ns)
    assert held.ready, held.first
    # No address yet: the rules of the configured ones, no route at all.
    assert sources(ns) == {4: ["192.0.2.17", "192.0.2.40"],
                           6: ["2001:db8:10::17", "2001:db8:10::40"]}
    assert our_routes(ns) == ""
    assert phase(helper, ns) == "starting"
    # netifrc adds three of the four; post-start keeps what is there.
    add_addresses(ns, ADDRESSES[:3])
    rc, words = held.go("post-start")
    assert rc == 0, words
    assert sources(ns) == {4: ["192.0.2.17", "192.0.2.40"], 6: ["2001:db8:10::17"]}
    assert "192.0.2.0/24 dev eth1.10" in our_routes(ns)
    assert phase(helper, ns) is None
    # The record lists the rules post-start deleted no more (saved again).
    assert not [w for _f, _k, w in recorded(helper, ns) if "2001:db8:10::40" in w]


def test_a_start_whose_addresses_all_came_records_what_the_kernel_has(helper, ns):
    """post-start adds only routes: its record as saved before applying is
    the outcome (saved once), and lists every rule and route of ours."""
    held = start(helper, ns)
    assert held.ready, held.first
    add_addresses(ns)
    rc, words = held.go("post-start")
    assert rc == 0, words
    assert phase(helper, ns) is None
    rules = {(fam, json.dumps(r, sort_keys=True)) for fam in (4, 6)
             for r in json.loads(ip(ns, "-j", f"-{fam}", "rule", "show") or "[]")
             if r.get("protocol") == "201"}
    routes = set(our_routes(ns).splitlines())       # each IPv6 route shows twice there
    kinds = [k for _f, k, _w in recorded(helper, ns)]
    assert kinds.count("rule") == len(rules) and kinds.count("route") == len(routes)
    assert sources(ns) == {4: ["192.0.2.17", "192.0.2.40"],
                           6: ["2001:db8:10::17", "2001:db8:10::40"]}
    held = helper.held("stop", IFACE, netns=ns)
    assert held.ready, held.first
    assert held.go("post-stop")[0] == 0
    assert sources(ns) == {4: [], 6: []} and our_routes(ns) == ""


def test_a_start_netifrc_gave_up_on_leaves_nothing(helper, ns):
    held = start(helper, ns)
    assert held.ready, held.first
    assert sources(ns)[4]
    rc, words = held.end()                  # no post-start: the start failed after us
    assert rc == 0, words
    assert sources(ns) == {4: [], 6: []}
    assert not helper.record_path(IFACE, ns).exists()


def test_a_failed_post_start_leaves_nothing(helper, ns):
    held = start(helper, ns, rules="from 192.0.2.17 lookup 4242 blackhole")
    assert not held.ready                   # bad input: refused before any rule
    assert "blackhole" in held.first
    assert held.end()[0] == 1
    assert sources(ns) == {4: [], 6: []}
    held = start(helper, ns)
    add_addresses(ns)
    ip(ns, "link", "set", IFACE, "down")    # the table's routes cannot go in now
    rc, words = held.go("post-start")
    assert rc != 0 and "policyroute: error:" in words, words
    assert sources(ns) == {4: [], 6: []}
    assert not helper.record_path(IFACE, ns).exists()


def held_stop(helper, ns):
    """A started interface's held stop, after its first step."""
    held = start(helper, ns)
    add_addresses(ns)
    assert held.go("post-start")[0] == 0
    stop = helper.held("stop", IFACE, netns=ns)
    assert stop.ready, stop.first
    return stop


def test_a_held_stop_removes_the_rules_after_the_flush(helper, ns):
    stop = held_stop(helper, ns)
    assert phase(helper, ns) == "stopping"
    assert sources(ns)[6] == ["2001:db8:10::17", "2001:db8:10::40"]     # still there
    ip(ns, "address", "flush", "dev", IFACE)
    rc, words = stop.go("post-stop")
    assert rc == 0, words
    assert sources(ns) == {4: [], 6: []}
    assert our_routes(ns) == ""
    assert not helper.record_path(IFACE, ns).exists()


def test_a_held_stop_without_its_word_still_stops(helper, ns):
    assert held_stop(helper, ns).end()[0] == 0
    assert sources(ns) == {4: [], 6: []}
    assert not helper.record_path(IFACE, ns).exists()


# ip, logging what each run reads on stdin (the batch's commands)
LOGGING_IP = """#!/bin/sh
lines=$(cat)
printf '%s\\n' "$lines" >> "{log}"
printf '%s\\n' "$lines" | exec ip "$@"
"""


@pytest.fixture
def logged(tmp_path):
    """(env running ip through LOGGING_IP, the log)."""
    log, wrapper = tmp_path / "ip.log", tmp_path / "ip"
    wrapper.write_text(LOGGING_IP.format(log=log))
    wrapper.chmod(0o755)
    return {"POLICYROUTE_IP": str(wrapper)}, log


def our_rules(ns):
    return sorted(line for fam in (4, 6) for line in ip(ns, f"-{fam}", "rule", "show").splitlines()
                  if "proto 201" in line)


def test_post_start_reads_the_rules_again_only_when_one_changed(helper, ns, logged):
    """The first step's rules are kept for post-start (observe.keep_rules)
    while no rule changes in the namespace; netifrc adding addresses
    changes none."""
    env, log = logged
    held = helper.held("pre-start", IFACE, env=env, netns=ns, table="e1v10",
                       configured=CONFIG)
    assert held.ready, held.first
    early = our_rules(ns)
    add_addresses(ns)
    log.write_text("")
    rc, words = held.go("post-start")
    assert rc == 0, words
    assert "rule show" not in log.read_text().splitlines()
    assert our_rules(ns) == early
    assert [w for _f, k, w in recorded(helper, ns) if k == "rule"] and phase(helper, ns) is None


def test_a_rule_deleted_between_the_steps_is_read_and_put_back(helper, ns, logged):
    env, log = logged
    held = helper.held("pre-start", IFACE, env=env, netns=ns, table="e1v10",
                       configured=CONFIG)
    assert held.ready, held.first
    early = our_rules(ns)
    gone = next(line for line in early if "from 2001:db8:10::40" in line)
    ip(ns, "-6", "rule", "del", *gone.split(":", 1)[1].split(), "priority",
       gone.split(":", 1)[0])
    assert gone not in our_rules(ns)
    add_addresses(ns)
    log.write_text("")
    rc, words = held.go("post-start")
    assert rc == 0, words
    assert "rule show" in log.read_text().splitlines()
    assert our_rules(ns) == early
