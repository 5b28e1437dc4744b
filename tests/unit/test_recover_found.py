"""Recovery without a record (issue 10): an interface's objects are found
again from the kernel by protocol 201, and each found key turns back into
arguments that name exactly that rule or route."""

import json

import pytest

from policyroute import cli, engine, kernel, parse, plan, sysctl
from policyroute.observe import route_key, rule_key

IFACE = "eth1.10"


def keys(objs):
    return [(o.family, o.key) for o in objs]


def started(registry, seed_observed, rules="", guard="yes"):
    cfg = parse.parse_interface(IFACE, table="e1v10", rules=rules, guard=guard)
    return plan.desired(cfg, 1024, registry, seed_observed)


RULES = ("from 192.0.2.17 to 198.51.100.0/24 tos 0x10 fwmark 0x7/0xff iif lo lookup 100\n"
         "not to 203.0.113.0/24 ipproto tcp dport 22 priority 900 blackhole\n"
         "uidrange 100-200 sport 1000-2000 goto 32000 priority 901\n"
         "from 192.0.2.18 realms 3/4 lookup main suppress_prefixlength 8 priority 902")


def test_every_object_we_add_round_trips_through_its_key(seed_registry, seed_observed):
    want = started(seed_registry, seed_observed, RULES)
    assert len(want) > 10
    for o in want:
        back = engine.obj_of_key(o.kind, o.family, o.key)
        assert back.key == o.key, (o, back)


@pytest.mark.parametrize("j,family", [
    ({"priority": 22000, "src": "192.0.2.17", "table": "1024", "protocol": "201"}, 4),
    ({"priority": 21000, "src": "2001:db8:10::17", "table": "254", "suppress_prefixlen": 0,
      "protocol": "201"}, 6),
    ({"priority": 5, "not": None, "dst": "198.51.100.0", "dstlen": 24, "tos": "0x10",
      "fwmark": "0x7", "fwmask": "0xff", "action": "6", "protocol": "201"}, 4),
])
def test_kernel_rules_round_trip(j, family):
    key = rule_key(j, family)
    assert engine.obj_of_key("rule", family, key).key == key


def test_kernel_route_round_trips():
    j = {"dst": "default", "gateway": "192.0.2.3", "dev": IFACE, "table": "1024",
         "protocol": "201"}
    key = route_key(j, 4)
    obj = engine.obj_of_key("route", 4, key)
    assert obj.key == key
    assert obj.line("del") == f"route del 0.0.0.0/0 via 192.0.2.3 dev {IFACE} table 1024 proto 201"


def observed_of(objs):
    return plan.Observed(rule_keys=tuple((o.family, o.key) for o in objs if o.kind == "rule"),
                         route_keys=tuple((o.family, o.key) for o in objs if o.kind == "route"))


def test_found_is_what_the_start_added_and_nothing_else(seed_registry, seed_observed):
    mine = started(seed_registry, seed_observed, "fwmark 7 lookup e1v10\nfwmark 8 protocol 5")
    other_cfg = parse.parse_interface("eth0.10", table="e0v10", rules="fwmark 9")
    seed_registry.register(["e0v10"])
    other = plan.desired(other_cfg, 1025, seed_registry, plan.Observed(
        addresses=(plan.Address(4, "192.0.2.16", 24),)))
    foreign = [plan.Obj("rule", 4, ("from", "192.0.2.99/32", "priority", "21000", "lookup",
                                    "main", "suppress_prefixlength", "0", "protocol", "201")),
               plan.Obj("rule", 4, ("fwmark", "0x3", "priority", "500", "lookup", "1024"))]
    # the kernel has the shared guard once, whoever wants it
    got = engine.found(IFACE, observed_of(plan.unique(mine + other + foreign)))
    # the rules_ line with its own protocol (5) cannot be told apart: down --force --all
    expected = [o for o in mine if ("protocol", "5") not in o.key]
    assert sorted(keys(got), key=str) == sorted(keys(expected), key=str)


def test_a_tagged_route_in_main_claims_nothing(seed_registry, seed_observed):
    # Stage-2 rules look up main: a hand-made proto 201 route through the
    # interface in main must not make every interface's stage 2 its own.
    other = started(seed_registry, seed_observed)
    in_main = plan.Obj("route", 4, ("198.51.100.0/24", "dev", IFACE, "proto", "201"))
    observed = observed_of([o for o in other if o.kind == "rule"] + [in_main])
    assert engine.found(IFACE, observed) == []


def test_found_nothing_without_tagged_routes(seed_registry, seed_observed):
    rules_only = [o for o in started(seed_registry, seed_observed) if o.kind == "rule"]
    assert engine.found(IFACE, observed_of(rules_only)) == []


class FakeRunner:
    def __init__(self, values):
        self.values = values

    def sysctl_read(self, key):
        if key not in self.values:
            raise FileNotFoundError(key)
        return self.values[key]


def test_guessed_old_values_are_a_new_links():
    conf = "net/ipv4/conf"
    runner = FakeRunner({f"{conf}/{IFACE}/arp_ignore": "1", f"{conf}/default/arp_ignore": "0",
                         f"{conf}/{IFACE}/arp_announce": "2", f"{conf}/default/arp_announce": "2",
                         f"{conf}/{IFACE}/rp_filter": "2", f"{conf}/default/rp_filter": "1"})
    assert sysctl.Sysctl(runner).guessed(IFACE) == [
        [f"{conf}/{IFACE}/arp_ignore", "0", "1"], [f"{conf}/{IFACE}/rp_filter", "1", "2"]]
    assert sysctl.Sysctl(FakeRunner({})).guessed(IFACE) == []


def fake_ip(tmp_path, answers):
    path = tmp_path / "fake-ip"
    path.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s' '{answers}'\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("argv", [["down", IFACE], ["down", "--force", IFACE],
                                  ["stop", IFACE], ["down", "--all"]])
def test_corrupt_record_is_set_aside_with_one_warning(capsys, isolated, tmp_path, monkeypatch,
                                                      argv):
    isolated["state"].mkdir()
    path = isolated["state"] / f"{IFACE}.json"
    path.write_text(json.dumps({"version": 1, "iface": IFACE, "objects": [],
                                "sysctls": [[f"net/ipv4/conf/{IFACE}/../../x", "0", "1"]]}))
    monkeypatch.setattr(kernel, "IP", str(fake_ip(tmp_path, "[]" * 4)))
    code = cli.main([*argv, "--config", str(tmp_path / "absent")] if argv[0] == "down" else argv)
    out, err = capsys.readouterr()
    assert (code, out) == (0, "")
    [line] = err.splitlines()
    assert line.startswith(f"policyroute: warning: {path}: unreadable record (sysctl key"), line
    assert f"set aside as {path}.bad" in line
    assert not path.exists() and (tmp_path / "run-policyroute" / f"{IFACE}.json.bad").exists()


@pytest.mark.parametrize("argv,words", [
    (["down"], "give IFACE or --all"), (["down", "--all", IFACE], "give IFACE or --all"),
    (["down", "../x"], "IFACE: '../x' is not an interface name"),
    (["stop", "../x"], "IFACE: '../x' is not an interface name")])
def test_down_words(capsys, argv, words):
    code = cli.main(argv)
    _out, err = capsys.readouterr()
    assert code in (1, 2) and words in err and len(err.splitlines()) == 1


def test_stop_in_a_namespace_that_is_gone_drops_its_record(capsys, isolated):
    folder = isolated["state"] / "netns" / "prt-gone-for-good"
    folder.mkdir(parents=True)
    path = folder / f"{IFACE}.json"
    path.write_text(json.dumps({"version": 1, "iface": IFACE, "netns": "prt-gone-for-good",
                                "objects": []}))
    code = cli.main(["stop", IFACE, "--netns", "prt-gone-for-good"])
    _out, err = capsys.readouterr()
    assert code == 0 and not path.exists()
    assert err == (f"policyroute: warning: {IFACE}: netns prt-gone-for-good is gone, and what "
                   f"its start added with it; removing {path}\n")
