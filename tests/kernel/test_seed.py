"""Scenarios 1 and 2 on a real kernel (guest/scenario_seed.sh, one boot).

1. The seed's conf.d/net (guest/seed.net) verbatim: `rc-service net.eth0
   start` makes eth0.10/eth0.11 as real 802.1Q links and starts them
   nested; replies from each address leave their own VLAN link to the
   right gateway; neighbours learn each address at its parent's MAC;
   `rc-service net.eth1 stop` removes eth1's VLANs and exactly their
   policy.
2. Switch B's port to eth1 goes dark: eth1.10 and eth1.11 lose carrier
   together, failover_ moves both VLANs' aliases to eth0's VLANs and
   announces them, and everything comes back with the carrier.
"""

from __future__ import annotations

import pytest

from . import checks

pytestmark = pytest.mark.root

MAC = {"eth0": "02:00:00:00:00:e0", "eth1": "02:00:00:00:00:e1"}
VLANS = {"eth0.10": ("eth0", 10), "eth0.11": ("eth0", 11),
         "eth1.10": ("eth1", 10), "eth1.11": ("eth1", 11)}
TABLES = {"eth0.10": "e0v10", "eth0.11": "e0v11", "eth1.10": "e1v10", "eth1.11": "e1v11"}
# address -> (its link, the gateway its replies must reach)
ADDRS = {"192.0.2.16": ("eth0.10", "gwA"), "192.0.2.17": ("eth1.10", "gwB"),
         "192.0.2.18": ("eth1.10", "gwB"), "203.0.113.16": ("eth0.11", "gwA"),
         "203.0.113.17": ("eth1.11", "gwB")}
GATEWAYS = {"192.0.2": {"gwA": "192.0.2.2", "gwB": "192.0.2.3"},
            "203.0.113": {"gwA": "203.0.113.2", "gwB": "203.0.113.3"}}
TTL = {"gwA": 100, "gwB": 200}          # each gateway's ip_default_ttl
PINGS = 3


def numbers(seed) -> dict[str, int]:
    return checks.registered(seed.block("registered"))


def expected_rules(seed, addrs) -> set[tuple]:
    """docs/configuration.md's rules (slot = number % 256): two per address
    (no two of one link are one prefix here) and the one shared guard."""
    out = [{"priority": 21000, "src": "all", "table": "254", "suppress_prefixlen": 0,
            "protocol": "201"}]
    for addr in addrs:
        n = numbers(seed)[TABLES[ADDRS[addr][0]]]
        slot = n % 256
        out += [{"priority": 20000 + slot, "src": addr, "table": str(n),
                 "suppress_prefixlen": 0, "protocol": "201"},
                {"priority": 22000 + slot, "src": addr, "table": str(n), "protocol": "201"}]
    return checks.rule_set(out)


def lookups(rules, addr) -> set[str]:
    """Tables other than main that rules from addr look up."""
    return {r["table"] for r in checks.ours(rules) if r.get("src") == addr} - {"254"}


def assert_replies(seed, prefix, addr, link, gateway):
    """PINGS replies, all from gateway; sent on link and on no other VLAN link."""
    got, ttls = checks.ping(seed.block(f"{prefix}-{addr}-ping"))
    assert got == PINGS and set(ttls) == {TTL[gateway]}, seed.block(f"{prefix}-{addr}-ping").text
    sent = checks.sent(seed, f"{prefix}-{addr}")
    assert sent[link] >= PINGS, sent
    assert {k: v for k, v in sent.items() if k != link} == \
        {k: 0 for k in sent if k != link}, sent


# ---------------------------------------------------------------- scenario 1

def test_nested_vlan_starts_inside_the_parents_start(seed):
    for parent in ("eth0", "eth1"):
        block = seed.block(f"start-{parent}")
        assert block.rc == 0, block.text
        lines = block.lines()
        order = [f"Bringing up interface {parent}", f"Adding VLAN 10 to {parent}",
                 f"Bringing up interface {parent}.10",
                 f"Adding policy routing for {parent}.10", f"Adding VLAN 11 to {parent}",
                 f"Bringing up interface {parent}.11",
                 f"Adding policy routing for {parent}.11"]
        at = [next(i for i, line in enumerate(lines) if words in line) for words in order]
        assert at == sorted(at), lines
        indent = {w: len(lines[i]) - len(lines[i].lstrip(" *")) for w, i in zip(order, at)}
        assert indent[f"Bringing up interface {parent}.10"] > indent[f"Bringing up interface {parent}"]
        assert all("[ !! ]" not in line for line in lines), lines
    started = seed.block("openrc-started").text.split()
    assert {f"net.{v}" for v in VLANS} <= set(started)


def test_vlans_are_real_8021q_links_sharing_their_parents_mac(seed):
    links = checks.links(seed.block("links"))
    for name, (parent, vid) in VLANS.items():
        info = links[name]["linkinfo"]
        assert info["info_kind"] == "vlan"
        assert info["info_data"]["protocol"] == "802.1Q" and info["info_data"]["id"] == vid
        assert links[name]["link"] == parent
        assert links[name]["address"] == links[parent]["address"] == MAC[parent]
        assert "LOWER_UP" in links[name]["flags"]


def test_addresses_tables_and_rules_are_the_worked_example(seed):
    have = checks.addresses(seed.block("addrs-started"))
    for addr, (link, _gw) in ADDRS.items():
        assert addr in have[link]
    # Names registered together, in sorted order, from 1024.
    assert numbers(seed) == {"e0v10": 1024, "e0v11": 1025, "e1v10": 1026, "e1v11": 1027}
    st = checks.state(seed.block("rules-started"))
    assert checks.rule_set(checks.ours(st["rules4"])) == expected_rules(seed, ADDRS)
    routes = seed.block("tables").json()
    for link, name in TABLES.items():
        n = str(numbers(seed)[name])
        mine = [r for r in routes if r.get("table") == n]
        net = "192.0.2" if link.endswith(".10") else "203.0.113"
        primary = next(a for a, (lk, _g) in ADDRS.items() if lk == link)
        gw = GATEWAYS[net]["gwA" if link.startswith("eth0") else "gwB"]
        # routes_ lines are proto boot, which ip -json leaves out.
        assert {(r["dst"], r.get("gateway"), r["dev"], r.get("prefsrc"), r.get("protocol"))
                for r in mine} == {("default", gw, link, None, None),
                                   (f"{net}.0/24", None, link, primary, "201")}, mine


def test_arp_sysctls_on_the_vlan_links_not_on_their_parents(seed):
    got = checks.table(seed.block("sysctls"))
    for link in VLANS:
        assert (got[(link, "arp_ignore")], got[(link, "arp_announce")]) == ("1", "2")
    for parent in ("eth0", "eth1"):
        assert (got[(parent, "arp_ignore")], got[(parent, "arp_announce")]) == ("0", "0")


@pytest.mark.parametrize("addr", sorted(ADDRS))
def test_replies_leave_their_own_vlan_link_to_the_right_gateway(seed, addr):
    link, gateway = ADDRS[addr]
    assert_replies(seed, "s1", addr, link, gateway)


def test_neighbours_resolve_each_address_to_its_parents_mac(seed):
    answers = checks.arp(seed.block("arp"))
    asked = 0
    for (gw, port, target), macs in answers.items():
        vlan = port.split(".")[1]
        if target not in ADDRS:
            continue
        link = ADDRS[target][0]
        if link.split(".")[1] != vlan:
            continue
        asked += 1
        assert macs == {MAC[link.split(".")[0]]}, (gw, target, macs)
    assert asked == 10


def test_no_answer_for_an_address_of_the_other_vlan_of_the_same_parent(seed):
    # eth0.10 and eth0.11 share eth0's MAC; arp_ignore=1 still keeps
    # eth0.10 from claiming eth0.11's address on VLAN 10.
    answers = checks.arp(seed.block("arp"))
    assert answers[("gwA", "gA.10", "203.0.113.16")] == set()
    assert answers[("gwB", "gB.10", "203.0.113.17")] == set()


def test_stopping_eth1_removes_its_vlans_and_exactly_their_policy(seed):
    block = seed.block("stop-eth1")
    assert block.rc == 0, block.text
    assert "Bringing down interface eth1.10" in block.text
    links = checks.links(seed.block("links-eth1-stopped"))
    assert "eth1.10" not in links and "eth1.11" not in links
    assert {"eth0", "eth1", "eth0.10", "eth0.11"} <= set(links)
    started = set(seed.block("openrc-started-eth1-stopped").text.split())
    assert not {s for s in started if s.startswith("net.eth1")}
    assert {"net.eth0", "net.eth0.10", "net.eth0.11"} <= started

    before = checks.state(seed.block("rules-started"))
    after = checks.state(seed.block("rules-eth1-stopped"))
    eth1 = {a for a, (link, _g) in ADDRS.items() if link.startswith("eth1")}
    assert checks.rule_set(after["rules4"]) == checks.rule_set(
        [r for r in before["rules4"] if r.get("src") not in eth1])
    gone = {str(numbers(seed)[TABLES[x]]) for x in ("eth1.10", "eth1.11")}
    assert checks.rule_set(after["routes4"]) == checks.rule_set(
        [r for r in before["routes4"] if r["table"] not in gone])
    got = checks.table(seed.block("sysctls-eth1-stopped"))
    assert got[("eth0.10", "arp_ignore")] == got[("eth0.11", "arp_ignore")] == "1"


# ---------------------------------------------------------------- scenario 2

def test_restart_with_failover_and_a_hand_added_alias(seed):
    assert seed.block("restart-eth1").rc == 0, seed.block("restart-eth1").text
    assert seed.block("alias-rules").rc == 0         # the follower gave it rules
    rules = checks.state(seed.block("rules-before-loss"))["rules4"]
    assert lookups(rules, "203.0.113.100") == {str(numbers(seed)["e1v11"])}
    for addr in ("192.0.2.18", "203.0.113.100"):
        link = "eth1.10" if addr.startswith("192") else "eth1.11"
        assert_replies(seed, "s2-before", addr, link, "gwB")


def test_carrier_loss_on_the_parent_takes_both_vlans_down_together(seed):
    got = {line.split()[0]: line.split()[1:] for line in seed.block("carrier-lost").lines()}
    for link in ("eth1", "eth1.10", "eth1.11"):
        assert got[link] == ["0", "lowerlayerdown"], got
    assert got["eth0.10"] == got["eth0.11"] == ["1", "up"]


def test_failover_moves_both_vlans_aliases_to_eth0s_vlans(seed):
    moved = seed.block("moved")
    assert moved.rc == 0, moved.text
    have = checks.addresses(seed.block("addrs-lost"))
    assert {"192.0.2.16", "192.0.2.18"} <= have["eth0.10"]
    assert {"203.0.113.16", "203.0.113.100"} <= have["eth0.11"]
    # The first configured address of each interface stays.
    assert have["eth1.10"] == {"192.0.2.17"} and have["eth1.11"] == {"203.0.113.17"}


def test_moved_aliases_are_announced_to_the_neighbours(seed):
    before = seed.block("neigh-before").json()
    for addr in ("192.0.2.18", "203.0.113.100"):
        assert [n["lladdr"] for n in before if n["dst"] == addr] == [MAC["eth1"]] * 2
    # Nothing on the box talked to the gateways since: only the
    # announcement can have changed their caches.
    assert seed.block("announced").rc == 0, seed.block("announced").text
    lost = seed.block("neigh-lost").json()
    for addr in ("192.0.2.18", "203.0.113.100"):
        assert [n["lladdr"] for n in lost if n["dst"] == addr] == [MAC["eth0"]] * 2


def test_rules_follow_the_moved_aliases_and_replies_use_eth0(seed):
    assert seed.block("settled").rc == 0, seed.block("settled").text
    rules = checks.state(seed.block("rules-lost"))["rules4"]
    assert lookups(rules, "192.0.2.18") == {str(numbers(seed)["e0v10"])}
    assert lookups(rules, "203.0.113.100") == {str(numbers(seed)["e0v11"])}
    assert lookups(rules, "192.0.2.17") == {str(numbers(seed)["e1v10"])}
    assert_replies(seed, "s2-lost", "192.0.2.18", "eth0.10", "gwA")
    assert_replies(seed, "s2-lost", "203.0.113.100", "eth0.11", "gwA")


def test_carrier_return_moves_them_back_and_announces_again(seed):
    for name in ("returned", "reannounced", "resettled"):
        assert seed.block(name).rc == 0, (name, seed.block(name).text)
    got = {line.split()[0]: line.split()[1:] for line in seed.block("carrier-back").lines()}
    assert all(v == ["1", "up"] for v in got.values()), got
    before = checks.state(seed.block("rules-before-loss"))
    back = checks.state(seed.block("rules-back"))
    assert checks.rule_set(back["rules4"]) == checks.rule_set(before["rules4"])
    assert checks.rule_set(back["routes4"]) == checks.rule_set(before["routes4"])
    assert_replies(seed, "s2-back", "192.0.2.18", "eth1.10", "gwB")
    assert_replies(seed, "s2-back", "203.0.113.100", "eth1.11", "gwB")


def test_stops_leave_the_starting_rule_set_and_no_follower(seed):
    for name in ("stop-eth1-again", "stop-eth0"):
        assert seed.block(name).rc == 0, seed.block(name).text
    start = checks.state(seed.block("rules-start"))
    end = checks.state(seed.block("rules-end"))
    assert checks.rule_set(end["rules4"]) == checks.rule_set(start["rules4"])
    assert checks.rule_set(end["rules6"]) == checks.rule_set(start["rules6"])
    assert end["routes4"] == end["routes6"] == []
    assert not set(VLANS) & set(checks.links(seed.block("links-end")))
    assert seed.block("follower-end").text.strip() == "none"
    assert "Traceback" not in seed.block("follow-log").text
