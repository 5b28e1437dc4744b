"""plan.key_of_args (our arguments) must equal observe.rule_key / route_key
(the kernel's JSON) for the same object, and differ for different ones.

Every JSON object here is real output of ``ip -N -json rule show`` /
``ip -N -json route show table all proto 201`` from iproute2 6.1.
"""

import pytest

from policyroute import observe, parse, plan

# (rules_ line as a user writes it, the kernel's JSON for the rule it made)
RULES = [
    ("fwmark 7 lookup 100 priority 32753",
     {"priority": 32753, "src": "all", "fwmark": "0x7", "table": "100", "protocol": "201"}),
    ("from 192.0.2.17 realms 3/4 lookup 100 priority 32754",
     {"priority": 32754, "src": "192.0.2.17", "table": "100", "flow_from": "3", "flow_to": "4",
      "protocol": "201"}),
    ("from 192.0.2.17 lookup main suppress_ifgroup 5 priority 32755",
     {"priority": 32755, "src": "192.0.2.17", "table": "254", "suppress_ifgroup": "5",
      "protocol": "201"}),
    ("from 192.0.2.17 lookup main suppress_prefixlength 0 priority 32756",
     {"priority": 32756, "src": "192.0.2.17", "table": "254", "suppress_prefixlen": 0,
      "protocol": "201"}),
    ("to 203.0.113.2 prohibit priority 32757",
     {"priority": 32757, "src": "all", "dst": "203.0.113.2", "action": "8", "protocol": "201"}),
    ("to 203.0.113.2 type unreachable priority 32758",
     {"priority": 32758, "src": "all", "dst": "203.0.113.2", "action": "7", "protocol": "201"}),
    ("to 203.0.113.0/24 blackhole priority 32759",
     {"priority": 32759, "src": "all", "dst": "203.0.113.0", "dstlen": 24, "action": "6",
      "protocol": "201"}),
    ("from 192.0.2.18 nop priority 32760",
     {"priority": 32760, "src": "192.0.2.18", "nop": None, "protocol": "201"}),
    ("l3mdev priority 32761",
     {"priority": 32761, "src": "all", "l3mdev": None, "protocol": "201"}),
    ("uidrange 1000-2000 ipproto tcp sport 80 dport 1000-2000 lookup 100 priority 32762",
     {"priority": 32762, "src": "all", "uid_start": 1000, "uid_end": 2000,
      "ipproto": "ipproto-6", "sport": 80, "dport_start": 1000, "dport_end": 2000,
      "table": "100", "protocol": "201"}),
    ("tos 0x10 oif eth1.10 lookup 100 priority 32763",
     {"priority": 32763, "src": "all", "tos": "0x10", "oif": "eth1.10", "table": "100",
      "protocol": "201"}),
    ("fwmark 0x10/0xff iif eth1.10 lookup 100 priority 32764",
     {"priority": 32764, "src": "all", "fwmark": "0x10", "fwmask": "0xff", "iif": "eth1.10",
      "table": "100", "protocol": "201"}),
    ("not from 192.0.2.0/24 to 198.51.100.0/24 lookup 100 priority 32765",
     {"priority": 32765, "not": None, "src": "192.0.2.0", "srclen": 24, "dst": "198.51.100.0",
      "dstlen": 24, "table": "100", "protocol": "201"}),
]
RULES6 = [
    ("from 2001:db8::/32 to 2001:db8:1::1 lookup 100 priority 32765",
     {"priority": 32765, "src": "2001:db8::", "srclen": 32, "dst": "2001:db8:1::1",
      "table": "100", "protocol": "201"}),
    ("from 2001:db8::17 protocol boot priority 113",
     {"priority": 113, "src": "2001:db8::17", "table": "254", "protocol": "3"}),
]

# Issue 9: lines netifrc's rules_ always took, as iproute2 6.1 and a 6.18
# kernel keep them (`ip -N -json rule show` in an `unshare -n` namespace).
# No action is table main; a line's own protocol is kept; protocol 0 and 2
# are not shown.
NETIFRC_RULES = [
    ("from 192.0.2.17 priority 100",
     {"priority": 100, "src": "192.0.2.17", "table": "254", "protocol": "201"}),
    ("from 192.0.2.17 protocol static priority 100",
     {"priority": 100, "src": "192.0.2.17", "table": "254", "protocol": "4"}),
    ("from 192.0.2.17 proto 0 priority 101",
     {"priority": 101, "src": "192.0.2.17", "table": "254"}),
    ("from 192.0.2.17 protocol kernel priority 102",
     {"priority": 102, "src": "192.0.2.17", "table": "254"}),
    ("fwmark 0x10/0 lookup 100 priority 103",
     {"priority": 103, "src": "all", "fwmark": "0x10", "fwmask": "0", "table": "100",
      "protocol": "201"}),
    ("fwmark 0/0xff lookup 100 priority 104",
     {"priority": 104, "src": "all", "fwmark": "0", "fwmask": "0xff", "table": "100",
      "protocol": "201"}),
    ("fwmark 0 lookup 100 priority 105",
     {"priority": 105, "src": "all", "table": "100", "protocol": "201"}),
    ("realms 70000 lookup 100 priority 106",
     {"priority": 106, "src": "all", "table": "100", "flow_from": "1", "flow_to": "4464",
      "protocol": "201"}),
    ("tun_id 0x10 lookup 100 priority 107",
     {"priority": 107, "src": "all", "tun_id": 16, "table": "100", "protocol": "201"}),
    ("from all lookup local priority 108",
     {"priority": 108, "src": "all", "table": "255", "protocol": "201"}),
    ("from 192.0.2.17 goto 32766 priority 110",
     {"priority": 110, "src": "192.0.2.17", "goto": 32766, "protocol": "201"}),
    ("lookup main suppress_prefixlength 129 priority 111",
     {"priority": 111, "src": "all", "table": "254", "suppress_prefixlen": 129,
      "protocol": "201"}),
    ("fwmark 0x3/0x1 lookup 100 priority 112",
     {"priority": 112, "src": "all", "fwmark": "0x3", "fwmask": "0x1", "table": "100",
      "protocol": "201"}),
    ("to 203.0.113.2 6 priority 114",
     {"priority": 114, "src": "all", "dst": "203.0.113.2", "action": "6", "protocol": "201"}),
    ("from 192.0.2.21 realms 0x10 priority 116",
     {"priority": 116, "src": "192.0.2.21", "table": "254", "flow_to": "16",
      "protocol": "201"}),
    ("from 192.0.2.22 suppress_ifgroup 0x10 priority 117",
     {"priority": 117, "src": "192.0.2.22", "table": "254", "suppress_ifgroup": "16",
      "protocol": "201"}),
]

# Words of newer iproute2 (dscp 6.13, flowlabel 6.15, port and dscp masks
# 6.16), with the JSON its print_rule() writes for them (read from its
# source: iproute2 6.1 on the test machines does not know them).
NEWER_RULES = [
    ("dscp 10 lookup 100 priority 120",
     {"priority": 120, "src": "all", "table": "100", "dscp": "10", "protocol": "201"}, 4),
    ("dscp 10/0x3f lookup 100 priority 120",
     {"priority": 120, "src": "all", "table": "100", "dscp": "10", "dscp_mask": "0x3f",
      "protocol": "201"}, 4),
    ("dscp 0x2e/0x3c lookup 100 priority 121",
     {"priority": 121, "src": "all", "table": "100", "dscp": "46", "dscp_mask": "0x3c",
      "protocol": "201"}, 4),
    ("flowlabel 0x1234 lookup 100 priority 122",
     {"priority": 122, "src": "all", "table": "100", "flowlabel": "0x1234",
      "flowlabel_mask": "0xfffff", "protocol": "201"}, 6),
    ("flowlabel 0x1234/0xff00 lookup 100 priority 122",
     {"priority": 122, "src": "all", "table": "100", "flowlabel": "0x1234",
      "flowlabel_mask": "0xff00", "protocol": "201"}, 6),
    ("ipproto tcp dport 80/0xff00 lookup 100 priority 123",
     {"priority": 123, "src": "all", "ipproto": "ipproto-6", "dport": 80,
      "dport_mask": "0xff00", "table": "100", "protocol": "201"}, 4),
    ("ipproto tcp sport 80/0xffff lookup 100 priority 123",
     {"priority": 123, "src": "all", "ipproto": "ipproto-6", "sport": 80,
      "sport_mask": "0xffff", "table": "100", "protocol": "201"}, 4),
]


@pytest.mark.parametrize("line,kernel", NETIFRC_RULES, ids=[r[0] for r in NETIFRC_RULES])
def test_netifrc_line_keys_like_the_kernel(line, kernel):
    assert our_key(line) == (4, observe.rule_key(kernel, 4))


@pytest.mark.parametrize("line,kernel,family", NEWER_RULES, ids=[r[0] for r in NEWER_RULES])
def test_newer_iproute2_words_key_like_the_kernel(line, kernel, family):
    assert our_key(line, family) == (family, observe.rule_key(kernel, family))


def test_user_protocol_rule_is_found_and_removed_through_the_record():
    """A rule with the line's own protocol is not ours by protocol: observe
    reports it, diff adds it only when missing, and deletes it only when it
    is recorded (mine) and no longer wanted."""
    [obj] = [plan.Obj("rule", 4, plan.rule_args(
        parse.parse_rule("from 192.0.2.17 protocol static priority 100",
                         parse.Origin("rules_eth0", 1)), 100))]
    kernel = {"priority": 100, "src": "192.0.2.17", "table": "254", "protocol": "4"}
    have = [(4, observe.rule_key(kernel, 4))]
    assert plan.diff([obj], have, [obj]) == []                 # there: nothing to do
    assert plan.diff([obj], [], [obj]) == [plan.Op("add", obj)]
    assert plan.diff([], have, [obj]) == [plan.Op("del", obj)]    # recorded, not wanted
    assert plan.diff([], have, []) == []                         # someone else's: untouched
    assert plan.removal([obj], have) == [plan.Op("del", obj)]


def our_key(line, family=None):
    rule = parse.parse_rule(line, parse.Origin("rules_eth1_10", 1), family)
    obj = plan.Obj("rule", rule.family, plan.rule_args(rule, rule.priority))
    return rule.family, obj.key


@pytest.mark.parametrize("line,kernel", RULES, ids=[r[0] for r in RULES])
def test_rule_key_matches_kernel_v4(line, kernel):
    family, key = our_key(line)
    assert family == 4
    assert key == observe.rule_key(kernel, 4)


@pytest.mark.parametrize("line,kernel", RULES6, ids=[r[0] for r in RULES6])
def test_rule_key_matches_kernel_v6(line, kernel):
    assert our_key(line, 6) == (6, observe.rule_key(kernel, 6))
    assert our_key(line) == (6, observe.rule_key(kernel, 6))


def test_rule_key_of_foreign_goto_rule():
    """A rule of someone else's (no protocol): keys still line up."""
    kernel = {"priority": 100, "src": "192.0.2.17", "goto": 200}
    ours = plan.key_of_args("rule", 4, ("from", "192.0.2.17", "priority", "100", "goto", "200"))
    assert ours == observe.rule_key(kernel, 4)
    assert ("protocol", "201") not in ours
    assert ours != our_key("from 192.0.2.17 goto 200 priority 100")[1]


def test_auto_rules_match_kernel():
    sources = plan.source_prefixes([plan.Address(4, "192.0.2.17", 24)], 4)
    first, second, third = plan.auto_rules(sources, 4, 1025, True)
    assert first.key == observe.rule_key(
        {"priority": 20001, "src": "192.0.2.17", "table": "1025", "suppress_prefixlen": 0,
         "protocol": "201"}, 4)
    assert second.key == observe.rule_key(
        {"priority": 21000, "src": "all", "table": "254", "suppress_prefixlen": 0,
         "protocol": "201"}, 4)
    assert third.key == observe.rule_key(
        {"priority": 22001, "src": "192.0.2.17", "table": "1025", "protocol": "201"}, 4)


@pytest.mark.parametrize("line", [
    "fwmark 8 lookup 100 priority 32753",           # other mark
    "fwmark 7/0xff lookup 100 priority 32753",      # other mask
    "fwmark 7 lookup 101 priority 32753",           # other table
    "fwmark 7 lookup 100 priority 32752",           # other priority
    "fwmark 7 goto 32760 priority 32753",             # other action
    "fwmark 7 iif eth1.10 lookup 100 priority 32753",
    "not fwmark 7 lookup 100 priority 32753",
    "fwmark 7 lookup 100 priority 32753 suppress_prefixlength 0",
])
def test_different_rules_have_different_keys(line):
    kernel = RULES[0][1]
    assert our_key(line)[1] != observe.rule_key(kernel, 4)


def test_key_without_protocol_differs():
    kernel = dict(RULES[0][1])
    del kernel["protocol"]
    assert our_key(RULES[0][0])[1] != observe.rule_key(kernel, 4)


def test_different_actions_have_different_keys():
    k = {a: our_key(f"to 203.0.113.2 {a} priority 5")[1]
         for a in ("blackhole", "unreachable", "prohibit", "nop", "lookup 100", "goto 7")}
    assert len(set(k.values())) == len(k)


# ---------------------------------------------------------------- routes

def test_prefix_route_key_matches_kernel():
    [route] = plan.prefix_routes("eth1.10", [plan.Address(4, "192.0.2.17", 24)], 1025)
    kernel = {"dst": "192.0.2.0/24", "dev": "eth1.10", "table": "1025", "scope": "253",
              "prefsrc": "192.0.2.17", "flags": []}
    assert route.key == observe.route_key(kernel, 4)
    other_table = dict(kernel, table="1024")
    assert route.key != observe.route_key(other_table, 4)


def test_prefix_route6_key_matches_kernel():
    [route] = plan.prefix_routes("eth1.10", [plan.Address(6, "2001:db8:10::17", 64)], 1025)
    kernel = {"dst": "2001:db8:10::/64", "dev": "eth1.10", "table": "1025", "metric": 1024,
              "flags": [], "pref": "medium"}
    assert route.key == observe.route_key(kernel, 6)


def test_default_copy_key_matches_kernel():
    obs = plan.Observed(defaults=((4, 254, "boot", "eth1.10", "192.0.2.3"),))
    [route] = plan.default_copies("eth1.10", obs, 1025)
    kernel = {"dst": "default", "gateway": "192.0.2.3", "dev": "eth1.10", "table": "1025",
              "flags": []}
    assert route.key == observe.route_key(kernel, 4)
    assert route.key != observe.route_key(dict(kernel, gateway="192.0.2.4"), 4)
    # unfiltered listings show the protocol; same key
    assert route.key == observe.route_key(dict(kernel, protocol="201"), 4)


# ---------------------------------------------------------------- observe() on real answers

ANSWERS = {
    4: [
        [{"ifindex": 3, "ifname": "eth1.10", "addr_info": [
            {"family": "inet", "local": "192.0.2.17", "prefixlen": 24, "scope": "0",
             "label": "eth1.10"},
            {"family": "inet", "local": "192.0.2.18", "prefixlen": 24, "scope": "0",
             "secondary": True, "label": "eth1.10"},
            {"family": "inet", "local": "192.0.2.40", "prefixlen": 24, "scope": "0",
             "secondary": True, "noprefixroute": True, "label": "eth1.10"}]}],
        [{"priority": 0, "src": "all", "table": "255"},
         {"priority": 20000, "src": "192.0.2.17", "table": "1025", "suppress_prefixlen": 0,
          "protocol": "201"},
         {"priority": 32766, "src": "all", "table": "254"},
         {"priority": 32767, "src": "all", "table": "253"}],
        [{"dst": "default", "gateway": "192.0.2.3", "dev": "eth1.10", "table": "1025",
          "protocol": "201", "flags": []},
         {"dst": "default", "gateway": "192.0.2.3", "dev": "eth1.10", "flags": []}],
        [{"dst": "default", "gateway": "192.0.2.3", "dev": "eth1.10", "table": "1025",
          "flags": []},
         {"dst": "192.0.2.0/24", "dev": "eth1.10", "table": "1025", "scope": "253",
          "prefsrc": "192.0.2.17", "flags": []}],
    ],
    6: [
        [{"ifindex": 3, "ifname": "eth1.10", "addr_info": [
            {"family": "inet6", "local": "2001:db8:10::17", "prefixlen": 64, "scope": "0",
             "nodad": True},
            {"family": "inet6", "local": "fe80::f069:7aff:fe2c:8d06", "prefixlen": 64,
             "scope": "253", "tentative": True}]}],
        [{"priority": 0, "src": "all", "table": "255"},
         {"priority": 32766, "src": "all", "table": "254"}],
        [{"dst": "default", "gateway": "2001:db8:10::1", "dev": "eth1.10", "metric": 1024,
          "flags": [], "pref": "medium"}],
        [{"dst": "2001:db8:10::/64", "dev": "eth1.10", "table": "1025", "metric": 1024,
          "flags": [], "pref": "medium"}],
    ],
}


class CannedRunner:
    def __init__(self):
        self.calls = []

    def query(self, family, commands, each=None):
        """ANSWERS[family]'s answer to each command (observe.queries' order)."""
        self.calls.append((family, tuple(commands)))
        order = [q.split(" dev ")[0] for q in observe.queries(None)]
        return read([ANSWERS[family][order.index(c.split(" dev ")[0])] for c in commands], each)


def read(answers, each):
    """Fresh lists, as ip gives them, of what kernel.Runner.query's
    ``each`` makes of the elements."""
    return [[f(j) for j in a] if f else list(a) for a, f in zip(answers, each or [None] * 9)]


def test_observe_reads_real_answers():
    runner = CannedRunner()
    seen = observe.observe(runner, "eth1.10")
    assert runner.calls == [(f, ("addr show dev eth1.10", "rule show",
                                 "route show table all exact default",
                                 "route show table all proto 201")) for f in (4, 6)]
    assert seen.addresses == (
        plan.Address(4, "192.0.2.17", 24),
        plan.Address(4, "192.0.2.18", 24, secondary=True),
        plan.Address(4, "192.0.2.40", 24, secondary=True, noprefixroute=True),
        plan.Address(6, "2001:db8:10::17", 64))
    # every rule is reported, whoever added it: the record and the plan decide
    assert seen.rule_keys == tuple((4, plan.key_of_args("rule", 4, args)) for args in (
        ("priority", "0", "lookup", "local"),
        ("from", "192.0.2.17/32", "priority", "20000", "lookup", "1025",
         "suppress_prefixlength", "0", "protocol", "201"),
        ("priority", "32766", "lookup", "main"),
        ("priority", "32767", "lookup", "default"))) + tuple(
        (6, plan.key_of_args("rule", 6, args)) for args in (
            ("priority", "0", "lookup", "local"), ("priority", "32766", "lookup", "main")))
    assert seen.defaults == ((4, 1025, "201", "eth1.10", "192.0.2.3"),
                             (4, 254, "boot", "eth1.10", "192.0.2.3"),
                             (6, 254, "boot", "eth1.10", "2001:db8:10::1"))
    routes = plan.prefix_routes("eth1.10", plan.global_addresses(seen), 1025)
    routes += plan.default_copies("eth1.10", seen, 1025)
    # everything the kernel has is wanted; only the IPv6 default copy is missing
    ops = plan.diff(routes, seen.route_keys, routes)
    assert ops == [plan.Op("add", plan.Obj("route", 6, (
        "default", "via", "2001:db8:10::1", "dev", "eth1.10", "table", "1025", "proto", "201")))]


def test_observe_without_link_skips_addresses():
    runner = CannedRunner()
    seen = observe.observe(runner, "eth1.10", link_exists=False)
    assert seen.addresses == ()
    assert all("addr show" not in c for _f, cmds in runner.calls for c in cmds)
    assert len(seen.route_keys) == 3


# ---------------------------------------------------------------- known mismatches
# Each case: a line policyroute accepts, and the JSON the kernel shows for
# the rule iproute2 6.1 makes from our arguments (checked by hand in an
# `unshare -n` namespace). A key mismatch means post-start's verify() fails
# with StateError every time, and stop never finds the rule to delete it.

MISMATCHES = [
    # Was a bug in python/policyroute/parse.py:84-93 (parse_prefix): a /0 prefix is
    # kept as "0.0.0.0/0", but the kernel stores no source for a /0 and
    # shows "src": "all". Fix: in parse_prefix return "all" for any network
    # with prefixlen 0 (and accept iproute2's "any"/"default" too).
    ("from 0.0.0.0/0 lookup 100 priority 104",
     {"priority": 104, "src": "all", "table": "100"}, 4),
    ("from ::/0 lookup 100 priority 104",
     {"priority": 104, "src": "all", "table": "100"}, 6),
    # Was a bug in python/policyroute/parse.py:112-117 (_realms): "realms 0/4" is kept
    # as "0/4", but the kernel shows only "flow_to": "4" when the source realm
    # is 0. Fix: in _realms return str(dst) when the source realm is 0.
    ("realms 0/4 lookup 100 priority 107",
     {"priority": 107, "src": "all", "table": "100", "flow_to": "4"}, 4),
    # Was a bug in python/policyroute/parse.py:105-109 (_fwmark): "fwmark 0/0" becomes
    # "0x0/0x0"; the kernel keeps no mark for mark 0 mask 0 and shows none.
    # Fix: refuse a zero mask ("matches every packet"), or drop the selector.
    ("fwmark 0/0 lookup 100 priority 113",
     {"priority": 113, "src": "all", "table": "100"}, 4),
]


@pytest.mark.parametrize("line,kernel,family", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_accepted_line_keys_like_the_kernel_rule_it_makes(line, kernel, family):
    rule = parse.parse_rule(line, parse.Origin("rules_eth1_10", 1), family)
    ours = {k: v for k, v in plan.Obj("rule", family, plan.rule_args(rule, rule.priority))
            .key if k != "protocol"}
    assert ours == dict(observe.rule_key(kernel, family))


class LinkRunner(CannedRunner):
    """Answers observe's queries, and `link show` / `vrf show` after them."""
    LINKS = [{"ifindex": 3, "ifname": "eth1.10", "master": "vrf-blue"}]
    VRFS = [{"name": "vrf-blue", "table": 10}]

    def query(self, family, commands, each=None):
        extra = [c for c in commands if c in observe.LINK_QUERIES]
        plain = super().query(family, commands[:len(commands) - len(extra)], each)
        self.calls[-1] = (family, tuple(commands))
        return plain + [{"link show": self.LINKS, "vrf show": self.VRFS}[c] for c in extra]


def test_vrf_check_rides_on_the_first_ipv4_read():
    """refuse_vrf's links and VRFs come from observe's own IPv4 batch: one
    ip per family, and what is observed is the same as without it."""
    runner, seen = LinkRunner(), []
    got = observe.observe(runner, "eth1.10", refuse=lambda links, vrfs: seen.append((links, vrfs)))
    assert [f for f, _cmds in runner.calls] == [4, 6]
    assert runner.calls[0][1][-2:] == ("link show", "vrf show")
    assert not set(runner.calls[1][1]) & set(observe.LINK_QUERIES)
    assert seen == [(LinkRunner.LINKS, LinkRunner.VRFS)]
    assert got == observe.observe(CannedRunner(), "eth1.10")


def test_vrf_refusal_through_observe_names_the_table():
    from policyroute import engine, errors
    cfg = parse.parse_unit("eth1.10", {"table": "e1v10"}).cfg
    with pytest.raises(errors.ConfigErrors) as e:
        observe.observe(LinkRunner(), "eth1.10", refuse=engine.refuse_vrf(cfg))
    assert "table_eth1_10: 'e1v10'" in str(e.value)
    assert "enslaved to VRF vrf-blue (table 10)" in str(e.value)
    assert engine.refuse_vrf(parse.parse_unit("eth1.10", {}).cfg) is None


class AllRunner(CannedRunner):
    """Answers observe_all's queries: `link show` first, `vrf show` last."""

    def query(self, family, commands, each=None):
        head = list(commands[:1]) if commands[0] == "link show" else []
        tail = list(commands[-1:]) if commands[-1] == "vrf show" else []
        middle = commands[len(head):len(commands) - len(tail)]
        plain = super().query(family, middle, each[len(head):len(each) - len(tail)])
        self.calls[-1] = (family, tuple(commands))
        return [LinkRunner.LINKS] * bool(head) + plain + [LinkRunner.VRFS] * bool(tail)


def test_vrf_check_rides_on_observe_all_too():
    """A held start's first read (engine.add_source_rules) refuses a
    table_ on a VRF before anything is made of the rest."""
    from policyroute import engine, errors
    runner = AllRunner()
    plain = observe.observe_all(runner)
    assert runner.calls[0][1][0] == "link show" and "vrf show" not in runner.calls[0][1]
    seen = []
    assert observe.observe_all(runner, lambda links, vrfs: seen.append((links, vrfs))) == plain
    assert runner.calls[-2][1][-1] == "vrf show" and "vrf show" not in runner.calls[-1][1]
    assert seen == [(LinkRunner.LINKS, LinkRunner.VRFS)]
    cfg = parse.parse_unit("eth1.10", {"table": "e1v10"}).cfg
    with pytest.raises(errors.ConfigErrors, match="enslaved to VRF vrf-blue"):
        observe.observe_all(AllRunner(), engine.refuse_vrf(cfg))


def test_verify_refuses_a_rule_the_kernel_has_twice():
    """Rules go without NLM_F_EXCL: had the plan missed one the kernel
    had, the read-back would find it twice, and the start is undone."""
    from policyroute import engine, errors
    rule = plan.Obj("rule", 4, ("from", "192.0.2.17/32", "priority", "20000", "lookup", "1025",
                                "suppress_prefixlength", "0", "protocol", "201"))
    engine.verify(CannedRunner(), "eth1.10", [rule])           # there once: fine
    saved = ANSWERS[4][1]
    ANSWERS[4][1] = saved + [saved[1]]            # the rule at priority 20000, twice
    try:
        with pytest.raises(errors.StateError, match="more than once: ip -4 rule add from "
                                                     "192.0.2.17/32 priority 20000"):
            engine.verify(CannedRunner(), "eth1.10", [rule])
    finally:
        ANSWERS[4][1] = saved


def test_keys_are_sorted_pairs_whatever_the_word_order():
    a = plan.key_of_args("rule", 4, ("from", "192.0.2.17", "priority", "100", "lookup", "200"))
    b = plan.key_of_args("rule", 4, ("priority", "100", "lookup", "200", "from", "192.0.2.17/32"))
    assert a == b and hash(a) == hash(b)
    assert [f for f, _v in a] == sorted(f for f, _v in a)
    assert ("from", "192.0.2.17/32") in a and dict(a)["action"] == "lookup 200"


def test_equal_pairs_are_one_object():
    """An address is in a stage-1 and a stage-3 rule, the table's lookup
    and the protocol in every rule: one pair each (issue 12: memory)."""
    rules = plan.auto_rules(["192.0.2.17/32", "192.0.2.19/32"], 4, 1024, guard=True)
    first, third = rules[0].key, rules[3].key
    assert dict(first)["from"] == dict(third)["from"] == "192.0.2.17/32"
    shared = [p for p in first if p in third]
    assert {f for f, _v in shared} == {"from", "action", "protocol"}
    assert all(any(p is q for q in third) for p in shared)
    kernel = {"priority": 20000, "src": "192.0.2.17", "table": "1024", "protocol": "201"}
    assert all(any(p is q for q in observe.rule_key(kernel, 4)) for p in shared)


def test_an_objects_key_is_built_once():
    args = ("from", "192.0.2.17", "priority", "100", "lookup", "200")
    obj, twin = plan.Obj("rule", 4, args), plan.Obj("rule", 4, tuple(list(args)))
    assert obj.key is obj.key
    assert obj == twin and len({obj, twin}) == 1 and obj != plan.Obj("rule", 6, args)


def test_keys_stay_equal_when_the_shared_pairs_are_forgotten(monkeypatch):
    monkeypatch.setattr(plan, "PAIRS_MAX", 4)
    monkeypatch.setattr(plan, "_PAIRS", {})
    args = ("from", "192.0.2.17", "priority", "100", "lookup", "200")
    before = plan.key_of_args("rule", 4, args)
    for n in range(8):
        plan.key_of_args("rule", 4, ("from", f"192.0.2.{n}", "priority", str(n), "lookup", "7"))
    assert len(plan._PAIRS) <= 5
    assert plan.key_of_args("rule", 4, args) == before


# ---------------------------------------------------------------- a follower pass's reads (issue 12 (d))

class NamespaceRunner(CannedRunner):
    """Answers observe_all: `link show`, then every link's addresses
    (eth0.10's beside eth1.10's), the rules and the routes."""
    LINKS = [{"ifindex": 2, "ifname": "eth0.10", "flags": ["UP", "LOWER_UP"]},
             {"ifindex": 3, "ifname": "eth1.10", "flags": ["UP", "LOWER_UP"]}]
    OTHER = {4: {"ifindex": 2, "ifname": "eth0.10", "addr_info": [
                 {"family": "inet", "local": "192.0.2.16", "prefixlen": 24, "scope": "0"}]},
             6: {"ifindex": 2, "ifname": "eth0.10", "addr_info": [
                 {"family": "inet6", "local": "2001:db8:10::16", "prefixlen": 64,
                  "scope": "0"}]}}

    def query(self, family, commands, each=None):
        self.calls.append((family, tuple(commands)))
        answers = [list(a) for a in ANSWERS[family]]
        answers[0] = [self.OTHER[family], *answers[0]]
        return read([self.LINKS] * (family == 4) + answers, each)


def test_observe_all_reads_a_namespace_in_one_ip_per_family():
    runner = NamespaceRunner()
    links, addrs, seen = observe.observe_all(runner)
    assert runner.calls == [(4, ("link show", "addr show", "rule show",
                                 "route show table all exact default",
                                 "route show table all proto 201")),
                            (6, ("addr show", "rule show", "route show table all exact default",
                                 "route show table all proto 201"))]
    assert links == NamespaceRunner.LINKS
    assert seen.addresses == ()
    # a link's view is what observe() of that link alone reads
    assert observe.of_link(seen, addrs, "eth1.10") == observe.observe(CannedRunner(), "eth1.10")
    other = observe.of_link(seen, addrs, "eth0.10")
    assert other.addresses == (plan.Address(4, "192.0.2.16", 24),
                               plan.Address(6, "2001:db8:10::16", 64))
    assert other.rule_keys == seen.rule_keys and other.route_keys == seen.route_keys
    assert observe.of_link(seen, addrs, "eth9").addresses == ()


def test_verify_reads_back_the_families_the_ops_touched():
    """A family without ops: the plan saw every wanted object there (else
    it would have added it); only the others are read back."""
    from policyroute import engine, errors
    rule = plan.Obj("rule", 4, ("from", "192.0.2.17/32", "priority", "20000", "lookup", "1025",
                                "suppress_prefixlength", "0", "protocol", "201"))
    route6 = plan.Obj("route", 6, ("default", "via", "2001:db8:10::1", "dev", "eth1.10",
                                   "table", "1025", "proto", "201"))
    runner = CannedRunner()
    engine.verify(runner, "eth1.10", [rule, route6], {4})
    assert [f for f, _cmds in runner.calls] == [4]
    with pytest.raises(errors.StateError, match="lacks: ip -6 route add default"):
        engine.verify(CannedRunner(), "eth1.10", [rule, route6], {4, 6})
    with pytest.raises(errors.StateError, match="lacks: ip -6 route add default"):
        engine.verify(CannedRunner(), "eth1.10", [rule, route6])


def _random_prefixes(rng, family, count):
    """Prefixes in the forms users and ip write: compressed or not, upper
    case, with and without a length, host bits set."""
    import ipaddress
    bits = 32 if family == 4 else 128
    for _ in range(count):
        number = rng.getrandbits(bits) & rng.choice([(1 << bits) - 1, (1 << bits) - 1 << 64,
                                                     0xffff, (1 << bits) - 1 ^ 0xffff0000])
        address = (ipaddress.IPv6Address if family == 6 else ipaddress.IPv4Address)(number)
        text = rng.choice([str(address), address.exploded,
                           address.exploded.upper() if family == 6 else str(address)])
        yield text + rng.choice(["", f"/{rng.randint(0, bits)}", f"/{bits}"])


@pytest.mark.parametrize("family", [4, 6])
def test_prefix_is_ipaddress_network_in_ip_words(family):
    """plan.prefix (through socket) gives what ipaddress.ip_network does,
    written as inet_ntop writes the address: the way ip prints it."""
    import ipaddress
    import random
    import socket
    rng = random.Random(family)
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    for text in _random_prefixes(rng, family, 3000):
        net = ipaddress.ip_network(text, strict=False)
        shown = socket.inet_ntop(af, net.network_address.packed)
        assert plan.prefix(text, family) == f"{shown}/{net.prefixlen}", text


@pytest.mark.parametrize("text, family, shown", [
    ("192.0.2.17/255.255.255.0", 4, "192.0.2.0/24"),
    ("::ffff:192.0.2.1", 6, "::ffff:192.0.2.1/128"),
    ("::ffff:c000:201/96", 6, "::ffff:0.0.0.0/96"),
    ("2001:db8:0:0:1:0:0:1", 6, "2001:db8::1:0:0:1/128"),
    ("default", 6, "::/0"),
    ("all", 4, "0.0.0.0/0"),
])
def test_prefix_edges(text, family, shown):
    assert plan.prefix(text, family) == shown


@pytest.mark.parametrize("text, family", [
    ("192.0.2.17", 6), ("2001:db8::1", 4), ("192.0.2.017", 4), ("192.0.2.17/33", 4),
    ("2001:db8::1/129", 6), ("fe80::1%eth0", 6), ("192.0.2.17/+8", 4), ("", 4),
])
def test_prefix_refuses_what_is_none(text, family):
    with pytest.raises(ValueError):
        plan.prefix(text, family)


def test_static_addresses_are_ipaddress_interfaces_in_ip_words():
    import ipaddress
    import random
    rng = random.Random(3)
    words = [t for family in (4, 6) for t in _random_prefixes(rng, family, 500)]
    words += ["dhcp", "null", "noop", "192.0.2.17/255.255.255.0", "fe80::1%eth0/64",
              "192.0.2.017/24", "2001:db8::1/129"]
    got = list(parse.static_addresses("\n".join(f"{w} brd +" for w in words)))
    want = []
    for w in words:
        try:
            a = ipaddress.ip_interface(w)
        except ValueError:
            continue
        if "%" in w:
            continue        # a scope id: iproute2 takes none, nor do we
        want.append((a.version, plan.prefix(str(a.ip), a.version)[:-len(f"/{a.max_prefixlen}")],
                     a.network.prefixlen))
    assert got == want


def test_verify_reads_no_rule_when_the_ops_added_none():
    """A held start's post-start adds routes only (its rules went in at
    pre-start and were just seen): no 2,001 rules read again, nor the
    default routes (a plan's alone)."""
    from policyroute import engine, errors
    rule = plan.Obj("rule", 6, ("from", "2001:db8::99/128", "priority", "20000", "lookup",
                                "1025", "protocol", "201"))
    route6 = plan.Obj("route", 6, ("default", "via", "2001:db8:10::1", "dev", "eth1.10",
                                   "table", "1025", "proto", "201"))
    runner = CannedRunner()
    engine.verify(runner, "eth1.10", [rule], {6}, {"route"})     # the rule is not looked for
    assert runner.calls == [(6, ("route show table all proto 201",))]
    with pytest.raises(errors.StateError, match="lacks: ip -6 route add default"):
        engine.verify(CannedRunner(), "eth1.10", [rule, route6], {6}, {"route"})
    with pytest.raises(errors.StateError, match="lacks: ip -6 rule add from 2001:db8::99"):
        engine.verify(CannedRunner(), "eth1.10", [rule], {6}, {"rule"})


@pytest.mark.parametrize("guard", [True, False])
def test_automatic_rules_carry_the_key_their_words_give(guard):
    """auto_rules makes each rule's key from its fields directly: it must
    be what key_of_args reads from the same words."""
    import random
    rng = random.Random(5)
    for family in (4, 6):
        sources = plan.source_prefixes(
            [plan.Address(family, p.split("/")[0], 24 if family == 4 else 64)
             for p in _random_prefixes(rng, family, 200)], family)
        for table in (254, 1025, 4000000000):
            for rule in plan.auto_rules(sources, family, table, guard):
                assert rule.key == plan.key_of_args(rule.kind, rule.family, rule.args), rule
