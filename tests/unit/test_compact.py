"""The compact layout: covering prefixes per interface, one shared guard
per family, and who may delete the shared guard."""

import ipaddress

from policyroute import parse, plan
from policyroute.state import Record

P = ("protocol", "201")
GUARD4 = plan.Obj("rule", 4, ("priority", "21000", "lookup", "main",
                              "suppress_prefixlength", "0", *P))
GUARD6 = plan.Obj("rule", 6, ("priority", "21000", "lookup", "main",
                              "suppress_prefixlength", "0", *P))


def addrs(*texts, plen=24):
    return [plan.Address(ipaddress.ip_address(t).version, t, plen) for t in texts]


def v4_range(first, count):
    base = ipaddress.ip_address(first)
    return [str(base + i) for i in range(count)]


def sources(texts, family=4):
    return [str(p) for p in plan.source_prefixes(addrs(*texts), family)]


def keys(objs):
    return tuple((o.family, o.key) for o in objs)


# ---------------------------------------------------------------- prefixes

def test_aligned_block_is_one_prefix():
    assert sources(v4_range("192.0.2.16", 8)) == ["192.0.2.16/29"]


def test_unaligned_block_is_the_fewest_exact_prefixes():
    assert sources(v4_range("192.0.2.17", 8)) == [
        "192.0.2.17/32", "192.0.2.18/31", "192.0.2.20/30", "192.0.2.24/32"]


def test_a_gap_is_never_covered():
    """.19 is nobody's (or another interface's): no prefix reaches it."""
    got = plan.source_prefixes(addrs("192.0.2.16", "192.0.2.17", "192.0.2.18"), 4)
    assert [str(p) for p in got] == ["192.0.2.16/31", "192.0.2.18/32"]
    assert not any(ipaddress.ip_address("192.0.2.19") in ipaddress.ip_network(p) for p in got)


def test_cover_is_exact_for_a_scattered_set():
    import random
    rng = random.Random(7)
    chosen = sorted(rng.sample(range(256), 90))
    texts = [f"198.51.100.{i}" for i in chosen]
    prefixes = plan.source_prefixes(addrs(*texts), 4)
    covered = [str(a) for p in prefixes for a in ipaddress.ip_network(p)]   # ends included
    assert sorted(covered, key=ipaddress.ip_address) == texts
    assert len(prefixes) < len(texts)


def test_prefixes_are_ipaddress_collapse_of_the_same_addresses():
    """The cut on numbers is collapse_addresses's, for random sets of both
    families: runs, gaps, an address at 0 and at the top, the same address
    twice."""
    import random
    rng = random.Random(12)
    for family, base, top in ((4, "198.51.100.0", 0xff), (6, "2001:db8::", 0xffff)):
        start = int(ipaddress.ip_address(base))
        for _ in range(200):
            picked = [start + rng.randrange(top + 1)
                      for _ in range(rng.randrange(1, 60))]
            picked += [start + top] * rng.randrange(2) + [start] * rng.randrange(2)
            texts = [str(ipaddress.ip_address(n)) for n in picked]
            want = [str(p) for p in ipaddress.collapse_addresses(
                ipaddress.ip_network(t) for t in texts)]
            assert plan.source_prefixes(addrs(*texts), family) == want, texts


def test_families_are_kept_apart():
    mixed = addrs("192.0.2.16", "2001:db8:10::16", "192.0.2.17", "2001:db8:10::17")
    assert [str(p) for p in plan.source_prefixes(mixed, 4)] == ["192.0.2.16/31"]
    assert [str(p) for p in plan.source_prefixes(mixed, 6)] == ["2001:db8:10::16/127"]


def test_ten_thousand_contiguous_ipv6_aliases_are_a_handful_of_rules(seed_registry):
    base = ipaddress.ip_address("2001:db8:1::")
    observed = plan.Observed(addresses=tuple(
        plan.Address(6, str(base + i), 64) for i in range(10000)))
    cfg = parse.parse_interface("eth1.10", table="e1v10")
    rules = [o for o in plan.desired(cfg, 1024, seed_registry, observed) if o.kind == "rule"]
    # 10000 = 8192 + 1024 + 512 + 256 + 16: five prefixes, stage 1 and 3, one guard
    assert len(rules) == 11
    assert rules[5] == GUARD6


# ---------------------------------------------------------------- the guard

def test_guard_only_for_a_family_with_addresses(seed_registry):
    cfg = parse.parse_interface("eth1.10", table="e1v10")
    observed = plan.Observed(addresses=tuple(addrs("192.0.2.17")))
    want = plan.desired(cfg, 1024, seed_registry, observed)
    assert GUARD4 in want and GUARD6 not in want
    assert plan.desired(cfg, 1024, seed_registry, plan.Observed()) == []


def test_guard_off_has_one_rule_per_source_before_the_guard(seed_registry):
    cfg = parse.parse_interface("eth1.10", table="e1v10", guard="no")
    observed = plan.Observed(addresses=tuple(addrs(*v4_range("192.0.2.16", 4))))
    rules = [o for o in plan.desired(cfg, 1025, seed_registry, observed) if o.kind == "rule"]
    assert rules == [plan.Obj("rule", 4, ("from", "192.0.2.16/30", "priority", "20001",
                                          "lookup", "1025", *P))]
    assert int(rules[0].args[3]) < int(GUARD4.args[1])


def test_every_guarded_interface_wants_the_same_guard(seed_registry):
    a = parse.parse_interface("eth0", table="100")
    b = parse.parse_interface("eth1", table="e1v10")
    obs_a = plan.Observed(addresses=tuple(addrs("192.0.2.16")))
    obs_b = plan.Observed(addresses=tuple(addrs("192.0.2.17")))
    guard_a = [o for o in plan.desired(a, 100, seed_registry, obs_a) if o.kind == "rule" and "from" not in o.args]
    guard_b = [o for o in plan.desired(b, 1024, seed_registry, obs_b) if o.kind == "rule" and "from" not in o.args]
    assert keys(guard_a) == keys(guard_b) == keys([GUARD4])


# ---------------------------------------------------------------- sharing

def test_diff_leaves_a_guard_another_record_lists():
    """eth1 lost its last address; eth0 still wants the guard."""
    ops = plan.diff([], keys([GUARD4]), [GUARD4], kept=[GUARD4])
    assert ops == []
    assert plan.diff([], keys([GUARD4]), [GUARD4]) == [plan.Op("del", GUARD4)]


def test_diff_does_not_add_a_guard_the_kernel_has():
    assert plan.diff([GUARD4], keys([GUARD4]), [GUARD4], kept=[GUARD4]) == []


def test_stop_leaves_the_guard_to_the_last_interface():
    eth0 = Record("eth0", objects=[GUARD4, GUARD6])
    eth1 = Record("eth1", objects=[GUARD4])
    records = {"eth0": eth0, "eth1": eth1}
    assert plan.unshared(eth1.objects, plan.others_objects(records, "eth1")) == []
    assert plan.unshared(eth0.objects, plan.others_objects(records, "eth0")) == [GUARD6]
    del records["eth1"]
    assert plan.unshared(eth0.objects, plan.others_objects(records, "eth0")) == [GUARD4, GUARD6]


def test_a_record_of_the_old_layout_converges_without_leftovers(seed_cfg, seed_registry,
                                                                seed_observed):
    """Three rules per address (stage 2 per slot) -> the compact layout:
    every old-only rule deleted, every new one added once, nothing else."""
    old = []
    for fam, src in ((4, "192.0.2.17/32"), (4, "192.0.2.18/32"), (6, "2001:db8:10::17/128")):
        old += [plan.Obj("rule", fam, ("from", src, "priority", "20000", "lookup", "1024",
                                       "suppress_prefixlength", "0", *P)),
                plan.Obj("rule", fam, ("from", src, "priority", "21000", "lookup", "main",
                                       "suppress_prefixlength", "0", *P)),
                plan.Obj("rule", fam, ("from", src, "priority", "22000", "lookup", "1024", *P))]
    want = plan.desired(seed_cfg, 1024, seed_registry, seed_observed)
    routes = [o for o in want if o.kind == "route"]
    ops = plan.diff(want, keys(old + routes), old + want)
    dels = {op.obj for op in ops if op.verb == "del"}
    adds = [op.obj for op in ops if op.verb == "add"]
    assert dels == {o for o in old if o.args[3] == "21000"}
    assert adds == [GUARD4, GUARD6]
    after = (set(keys(old + routes)) - set(keys(dels))) | set(keys(adds))
    assert after == set(keys(want))


# ---------------------------------------------------------------- make before break

def test_a_block_changing_shape_gets_its_new_rules_before_the_old_go(seed_registry):
    """.35 leaves .32-.39: the /29's rules go only after the three new
    prefixes' rules are in, so .32-.34 and .36-.39 always have rules."""
    cfg = parse.parse_interface("eth1.10", table="e1v10")
    block = v4_range("192.0.2.32", 8)
    before = plan.desired(cfg, 1024, seed_registry, plan.Observed(addresses=tuple(addrs(*block))))
    rest = [a for a in block if a != "192.0.2.35"]
    after = plan.desired(cfg, 1024, seed_registry, plan.Observed(addresses=tuple(addrs(*rest))))
    ops = plan.diff(after, keys(before), before + after)
    verbs = [op.verb for op in ops]
    assert verbs == ["add"] * 6 + ["del"] * 2, ops
    assert {op.obj.args[1] for op in ops if op.verb == "del"} == {"192.0.2.32/29"}


def test_a_replaced_route_still_goes_before_its_successor():
    """The prefix route's src changes: same destination and table, so the
    old one must be deleted first (the kernel would refuse the add)."""
    old = plan.Obj("route", 4, ("192.0.2.0/24", "dev", "eth1.10", "src", "192.0.2.17",
                                "scope", "link", "table", "1024", "proto", "201"))
    new = plan.Obj("route", 4, ("192.0.2.0/24", "dev", "eth1.10", "src", "192.0.2.18",
                                "scope", "link", "table", "1024", "proto", "201"))
    gone = plan.Obj("route", 4, ("198.51.100.0/24", "dev", "eth1.10", "table", "1024",
                                 "proto", "201"))
    ops = plan.diff([new], keys([old, gone]), [old, gone, new])
    assert ops == [plan.Op("del", old), plan.Op("add", new), plan.Op("del", gone)]
