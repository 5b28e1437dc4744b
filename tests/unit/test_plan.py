"""plan.desired / diff / removal on the seed interface."""

import pytest

from policyroute import parse, plan
from policyroute.errors import ConfigErrors

P = ("protocol", "201")


def R(family, *args):
    return plan.Obj("rule", family, tuple(args))


def RT(family, *args):
    return plan.Obj("route", family, tuple(args))


ROUTE4 = RT(4, "192.0.2.0/24", "dev", "eth1.10", "src", "192.0.2.17", "scope", "link",
            "table", "1024", "proto", "201")
ROUTE6 = RT(6, "2001:db8:10::/64", "dev", "eth1.10", "table", "1024", "proto", "201")
DEFAULT4 = RT(4, "default", "via", "192.0.2.3", "dev", "eth1.10", "table", "1024",
              "proto", "201")
DEFAULT6 = RT(6, "default", "via", "2001:db8:10::1", "dev", "eth1.10", "table", "1024",
              "proto", "201")


def guarded(family, *sources):
    """The compact layout: stage 1 per source, the shared guard, stage 3."""
    return [R(family, "from", src, "priority", "20000", "lookup", "1024",
              "suppress_prefixlength", "0", *P) for src in sources] + \
        [R(family, "priority", "21000", "lookup", "main", "suppress_prefixlength", "0", *P)] + \
        [R(family, "from", src, "priority", "22000", "lookup", "1024", *P) for src in sources]


SEED_RULES = guarded(4, "192.0.2.17/32", "192.0.2.18/32") + guarded(6, "2001:db8:10::17/128")


def keys(objs):
    return tuple((o.family, o.key) for o in objs)


# ---------------------------------------------------------------- desired

def test_seed_with_guard(seed_cfg, seed_registry, seed_observed):
    want = plan.desired(seed_cfg, 1024, seed_registry, seed_observed)
    assert want == [ROUTE4, ROUTE6, DEFAULT4, DEFAULT6] + SEED_RULES


def test_seed_without_guard(seed_registry, seed_observed):
    cfg = parse.parse_interface("eth1.10", table="e1v10", guard="no")
    want = plan.desired(cfg, 1024, seed_registry, seed_observed)
    # One rule per source, before the guard band: the table wins over main.
    assert want == [ROUTE4, ROUTE6, DEFAULT4, DEFAULT6] + [
        R(4, "from", "192.0.2.17/32", "priority", "20000", "lookup", "1024", *P),
        R(4, "from", "192.0.2.18/32", "priority", "20000", "lookup", "1024", *P),
        R(6, "from", "2001:db8:10::17/128", "priority", "20000", "lookup", "1024", *P)]


def test_seed_with_user_rules(seed_registry, seed_observed):
    cfg = parse.parse_interface("eth1.10", table="e1v10",
                                rules="fwmark 7\nfrom 192.0.2.17 lookup hundred priority 50",
                                rules6="to 2001:db8:1::/48 lookup main")
    want = plan.desired(cfg, 1024, seed_registry, seed_observed)
    assert want == [ROUTE4, ROUTE6, DEFAULT4, DEFAULT6] + [
        R(4, "fwmark", "0x7/0xffffffff", "priority", "10000", "lookup", "254", *P),
        R(4, "from", "192.0.2.17/32", "priority", "50", "lookup", "100", *P),
        R(6, "to", "2001:db8:1::/48", "priority", "10001", "lookup", "254", *P),
    ] + SEED_RULES


def test_unknown_lookup_name_is_a_config_error(seed_registry, seed_observed):
    cfg = parse.parse_interface("eth1.10", table="e1v10",
                                rules="fwmark 1 lookup nosuch\nfwmark 2 lookup hundred\n"
                                      "fwmark 3 lookup other")
    with pytest.raises(ConfigErrors) as info:
        plan.desired(cfg, 1024, seed_registry, seed_observed)
    assert [(e.variable, e.line, e.token) for e in info.value.errors] == [
        ("rules_eth1_10", 1, "nosuch"), ("rules_eth1_10", 3, "other")]


def test_no_table_means_user_rules_only(seed_registry, seed_observed):
    cfg = parse.parse_interface("eth1.10", rules="fwmark 7 lookup 100")
    want = plan.desired(cfg, None, seed_registry, seed_observed)
    assert [o.kind for o in want] == ["rule"]
    assert want[0].args == ("fwmark", "0x7/0xffffffff", "priority", str(10000 + 48 * 16),
                            "lookup", "100", *P)


def test_netifrc_rules_without_table_look_up_main_in_written_order(seed_registry,
                                                                   seed_observed):
    """Issue 9: netifrc's own rules_ (no table_, no action) keep their meaning:
    lookup main, the line's own priority or, without one, increasing ones in
    the order written (netifrc alone stacks them in reverse)."""
    cfg = parse.parse_interface("eth1.10", rules="from 192.0.2.17 priority 100\n"
                                                 "to 198.51.100.0/24\nfwmark 7 protocol static",
                                rules6="from 2001:db8:10::17 lookup hundred")
    base = 10000 + 48 * 16
    assert plan.desired(cfg, None, seed_registry, seed_observed) == [
        R(4, "from", "192.0.2.17/32", "priority", "100", "lookup", "254", *P),
        R(4, "to", "198.51.100.0/24", "priority", str(base), "lookup", "254", *P),
        R(4, "fwmark", "0x7/0xffffffff", "priority", str(base + 1), "lookup", "254",
          "protocol", "4"),
        R(6, "from", "2001:db8:10::17/128", "priority", str(base + 2), "lookup", "100", *P)]


def test_default_copied_only_when_the_table_has_none_of_its_own(seed_cfg, seed_registry):
    addrs = (plan.Address(4, "192.0.2.17", 24),)
    main4 = (4, 254, "boot", "eth1.10", "192.0.2.3")

    def defaults(*extra):
        obs = plan.Observed(addresses=addrs, defaults=(main4, *extra))
        return [o for o in plan.desired(seed_cfg, 1024, seed_registry, obs)
                if o.kind == "route" and o.args[0] == "default"]

    assert defaults() == [DEFAULT4]
    # the table has its own default (routes_ ... table e1v10): leave it alone
    assert defaults((4, 1024, "boot", "eth1.10", "192.0.2.99")) == []
    assert defaults((4, 1024, "static", "eth1.10", "192.0.2.99")) == []
    # our own earlier copy does not count as the table's own
    assert defaults((4, 1024, "201", "eth1.10", "192.0.2.3")) == [DEFAULT4]
    # another table's default, or an IPv6 default in the table, does not matter
    assert defaults((4, 1025, "boot", "eth1.10", "192.0.2.99"),
                    (6, 1024, "boot", "eth1.10", "2001:db8:10::1")) == [DEFAULT4]


def test_default_through_another_interface_is_not_copied(seed_cfg, seed_registry):
    obs = plan.Observed(addresses=(plan.Address(4, "192.0.2.17", 24),),
                        defaults=((4, 254, "boot", "eth0", "198.51.100.1"),))
    assert [o for o in plan.desired(seed_cfg, 1024, seed_registry, obs)
            if o.args[0] == "default"] == []


def test_default_without_gateway(seed_cfg, seed_registry):
    obs = plan.Observed(addresses=(plan.Address(4, "192.0.2.17", 24),),
                        defaults=((4, 254, "boot", "eth1.10", None),))
    assert RT(4, "default", "dev", "eth1.10", "table", "1024", "proto", "201") in \
        plan.desired(seed_cfg, 1024, seed_registry, obs)


def test_host_addresses_and_noprefixroute_get_no_prefix_route(seed_cfg, seed_registry):
    obs = plan.Observed(addresses=(
        plan.Address(4, "192.0.2.17", 32),
        plan.Address(4, "198.51.100.7", 24, noprefixroute=True),
        plan.Address(6, "2001:db8:10::17", 128),
        plan.Address(4, "203.0.113.5", 24, secondary=True)))
    want = plan.desired(seed_cfg, 1024, seed_registry, obs)
    assert [o for o in want if o.kind == "route"] == [
        RT(4, "203.0.113.0/24", "dev", "eth1.10", "src", "203.0.113.5", "scope", "link",
           "table", "1024", "proto", "201")]
    # ...but every address still gets its rules
    sources = {o.args[1] for o in want if o.kind == "rule" and o.args[0] == "from"}
    assert sources == {"192.0.2.17/32", "198.51.100.7/32", "2001:db8:10::17/128",
                       "203.0.113.5/32"}


def test_prefix_route_source_is_the_primary_address():
    addrs = plan.global_addresses(plan.Observed(addresses=(
        plan.Address(4, "192.0.2.5", 24, secondary=True), plan.Address(4, "192.0.2.17", 24))))
    [route] = plan.prefix_routes("eth1.10", addrs, 1024)
    assert route.args[:5] == ("192.0.2.0/24", "dev", "eth1.10", "src", "192.0.2.17")


# ---------------------------------------------------------------- diff

@pytest.fixture
def want(seed_cfg, seed_registry, seed_observed):
    return plan.desired(seed_cfg, 1024, seed_registry, seed_observed)


def test_diff_is_idempotent(want):
    assert plan.diff(want, keys(want), want) == []
    # keys of the kernel's own JSON for the same objects: still nothing to do
    assert plan.diff(want, keys(want)[::-1], want + want) == []


def test_diff_from_nothing_adds_everything_routes_first(want):
    ops = plan.diff(want, (), want)
    assert [op.verb for op in ops] == ["add"] * len(want)
    assert [op.obj for op in ops] == want
    kinds = [op.obj.kind for op in ops]
    assert kinds == sorted(kinds, key=lambda k: k != "route")       # no route after a rule
    assert ops[0].command() == ("-4 route add 192.0.2.0/24 dev eth1.10 src 192.0.2.17 "
                                "scope link table 1024 proto 201")


def test_diff_adds_only_what_is_missing(want):
    have = keys(want[:3] + want[5:])
    ops = plan.diff(want, have, want)
    assert ops == [plan.Op("add", want[3]), plan.Op("add", want[4])]


def test_diff_deletes_stale_objects_only_among_mine(want):
    stale_rule = R(4, "from", "192.0.2.99/32", "priority", "22000", "lookup", "1024", *P)
    stale_route = RT(4, "198.51.100.0/24", "dev", "eth1.10", "src", "198.51.100.9", "scope",
                     "link", "table", "1024", "proto", "201")
    others = R(4, "from", "192.0.2.50/32", "priority", "22000", "lookup", "1280", *P)
    have = keys(want) + keys([stale_route, stale_rule, others])
    ops = plan.diff(want, have, want + [stale_route, stale_rule])
    assert ops == [plan.Op("del", stale_rule), plan.Op("del", stale_route)]


def test_diff_deletes_rules_lines_first_and_routes_no_add_replaces_last(want):
    """A rules_ line's old self goes before anything is added (the kernel
    might see the new one as the same rule); a route no add replaces waits
    until the new rules are in (make before break)."""
    old = [RT(4, "198.51.100.0/24", "dev", "eth1.10", "table", "1024", "proto", "201"),
           R(4, "fwmark", "0x1/0xffffffff", "priority", "10000", "lookup", "1024", *P),
           RT(6, "2001:db8:99::/64", "dev", "eth1.10", "table", "1024", "proto", "201"),
           R(6, "fwmark", "0x1/0xffffffff", "priority", "10000", "lookup", "1024", *P)]
    ops = plan.diff(want, keys(old), want + old)
    verbs = [op.verb for op in ops]
    assert verbs == ["del"] * 2 + ["add"] * len(want) + ["del"] * 2
    assert [op.obj.kind for op in ops[:2]] == ["rule", "rule"]
    assert [op.obj.kind for op in ops[-2:]] == ["route", "route"]
    assert {op.obj for op in ops if op.verb == "del"} == set(old)


def test_diff_missing_object_that_was_recorded_is_added_not_deleted(want):
    ops = plan.diff(want, keys(want[1:]), want)
    assert ops == [plan.Op("add", want[0])]


def test_diff_ignores_duplicates(want):
    ops = plan.diff(want + want, (), want)
    assert len(ops) == len(want)


# ---------------------------------------------------------------- removal

def test_removal_deletes_only_what_is_present_rules_first(want):
    present = [o for i, o in enumerate(want) if i % 2 == 0]
    ops = plan.removal(want, keys(present))
    assert all(op.verb == "del" for op in ops)
    assert {op.obj for op in ops} == set(present)
    kinds = [op.obj.kind for op in ops]
    assert kinds == sorted(kinds, key=lambda k: k != "rule")
    assert plan.removal(want, ()) == []
    assert plan.removal([], keys(want)) == []


def test_op_inverse_and_command():
    op = plan.Op("add", R(6, "from", "2001:db8::17/128", "priority", "22000", "lookup",
                          "1024", *P))
    assert op.inverse() == plan.Op("del", op.obj)
    assert op.inverse().inverse() == op
    assert op.inverse().command() == \
        "-6 rule del from 2001:db8::17/128 priority 22000 lookup 1024 protocol 201"


def test_early_rules_go_highest_priority_first_in_their_order_within_one():
    """engine.add_source_rules' order: stage 3 (the highest number), the
    guard, stage 1; within a priority the plan's order."""
    sources = ["192.0.2.17/32", "192.0.2.19/32", "192.0.2.40/32"]
    rules = plan.auto_rules(sources, 4, 1025, True)
    ops = [plan.Op("add", o) for o in rules]
    ordered = plan.highest_priority_first(ops)
    priorities = [int(dict(op.obj.key)["priority"]) for op in ordered]
    assert priorities == sorted(priorities, reverse=True)
    assert sorted(ordered, key=lambda op: rules.index(op.obj)) == ops      # the same ops
    first, _guard, third = plan.bands.auto_priorities(1025, True)
    for stage in (first, third):
        of_stage = [dict(op.obj.key)["from"] for op in ordered
                    if dict(op.obj.key)["priority"] == str(stage)]
        assert of_stage == sources
