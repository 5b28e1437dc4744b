"""Scenarios 3 and 4 on a real kernel (guest/scenario_bond_vrf.sh, one boot).

3. VLAN 10 on an active-backup bond (bond0.10, table_bond0_10) works like
   eth0.10 beside it, and keeps working when the active slave's port dies.
4. A VRF on the same box (vrf-blue, table 10, eth2 enslaved, eth2 holding
   192.0.2.16 like eth0.10): policyroute's rules do not capture the VRF's
   traffic, the l3mdev rule stays, and table_ on a VRF slave or device is
   refused (python/policyroute/vrf.py), checked on the kernel's own JSON.
"""

from __future__ import annotations

import pytest

from policyroute import vrf

from . import checks

pytestmark = pytest.mark.root

MAC = {"eth0": "02:00:00:00:00:e0", "b0": "02:00:00:00:00:b0"}
TTL = {"gwA": 100, "gwC": 150, "gwD": 250}
PINGS = 3
LINKS = ("eth0.10", "bond0.10", "b0", "b1", "eth2")
VRF_TABLE = "10"


def numbers(boot):
    return checks.registered(boot.block("registered"))


def replies(boot, name, gateway):
    got, ttls = checks.ping(boot.block(name))
    assert got == PINGS and set(ttls) == {TTL[gateway]}, boot.block(name).text


def only(sent, *links):
    """At least PINGS packets left on each of links, none on the others."""
    assert all(sent[x] >= PINGS for x in links), sent
    assert all(sent[x] == 0 for x in sent if x not in links), sent


def l3mdev(rules):
    return [r for r in rules if "l3mdev" in r]


# ---------------------------------------------------------------- scenario 3

def test_bond_vlan_is_8021q_on_an_active_backup_bond(bond_vrf):
    links = checks.links(bond_vrf.block("links"))
    assert links["bond0"]["linkinfo"]["info_data"]["mode"] == "active-backup"
    for slave in ("b0", "b1"):
        assert links[slave]["master"] == "bond0"
    info = links["bond0.10"]["linkinfo"]
    assert info["info_kind"] == "vlan" and info["info_data"]["protocol"] == "802.1Q"
    assert links["bond0.10"]["link"] == "bond0"
    assert links["bond0.10"]["address"] == links["bond0"]["address"] == MAC["b0"]
    assert bond_vrf.block("start-bond0").rc == 0, bond_vrf.block("start-bond0").text
    assert "Adding policy routing for bond0.10 ... [ ok ]" in bond_vrf.block("start-bond0").text


def test_bond_vlan_gets_its_table_and_rules_like_eth0_10(bond_vrf):
    n = numbers(bond_vrf)
    st = checks.state(bond_vrf.block("rules-started"))
    for addr, name in (("192.0.2.20", "b0v10"), ("192.0.2.16", "e0v10")):
        slot = n[name] % 256
        got = {(r["priority"], r["table"]) for r in checks.ours(st["rules4"])
               if r.get("src") == addr}
        assert got == {(20000 + slot, str(n[name])), (22000 + slot, str(n[name]))}
    routes = [r for r in bond_vrf.block("tables").json() if r.get("table") == str(n["b0v10"])]
    assert {(r["dst"], r.get("gateway"), r["dev"]) for r in routes} == {
        ("default", "192.0.2.4", "bond0.10"), ("192.0.2.0/24", None, "bond0.10")}


def test_replies_leave_the_bond_vlan_over_the_active_slave(bond_vrf):
    replies(bond_vrf, "bond-ping", "gwC")
    only(checks.sent(bond_vrf, "bond"), "bond0.10", "b0")
    replies(bond_vrf, "eth0-ping", "gwA")
    only(checks.sent(bond_vrf, "eth0"), "eth0.10")


def test_neighbours_learn_the_bond_address_at_the_bonds_mac(bond_vrf):
    answers = checks.arp(bond_vrf.block("arp"))
    assert answers[("gwC", "gC.10", "192.0.2.20")] == {MAC["b0"]}
    assert answers[("gwA", "gA.10", "192.0.2.20")] == {MAC["b0"]}
    # eth2 holds 192.0.2.16 too, inside the VRF on another wire: only
    # eth0.10 answers on VLAN 10.
    assert answers[("gwC", "gC.10", "192.0.2.16")] == {MAC["eth0"]}


def test_a_dead_slave_changes_nothing_but_the_wire(bond_vrf):
    assert bond_vrf.block("slave-switched").rc == 0, bond_vrf.block("bond-state").text
    got = {line.split()[0]: line.split()[1] for line in
           bond_vrf.block("carrier-slave-down").lines()}
    assert got == {"bond0": "1", "bond0.10": "1", "b0": "0", "b1": "1"}
    assert checks.rule_set(checks.state(bond_vrf.block("rules-slave-down"))["rules4"]) == \
        checks.rule_set(checks.state(bond_vrf.block("rules-started"))["rules4"])
    replies(bond_vrf, "slave-ping", "gwC")
    only(checks.sent(bond_vrf, "slave"), "bond0.10", "b1")


# ---------------------------------------------------------------- scenario 4

def test_the_vrf_brings_its_l3mdev_rule_and_policyroute_keeps_it(bond_vrf):
    start = checks.state(bond_vrf.block("rules-start"))
    vrf = checks.state(bond_vrf.block("rules-vrf"))
    assert l3mdev(start["rules4"]) == [] and l3mdev(start["rules6"]) == []
    assert [r["priority"] for r in l3mdev(vrf["rules4"])] == [1000]
    assert [r["priority"] for r in l3mdev(vrf["rules6"])] == [1000]
    started = checks.state(bond_vrf.block("rules-started"))
    assert l3mdev(started["rules4"]) == l3mdev(vrf["rules4"])
    # Every policyroute rule sits behind the l3mdev rule.
    assert min(r["priority"] for r in checks.ours(started["rules4"])) > 1000


def test_vrf_traffic_is_not_captured_by_policyroutes_rules(bond_vrf):
    # Same source address, two VRFs: the VRF's ping leaves eth2 to gwD,
    # the default VRF's leaves eth0.10 to gwA (table e0v10).
    replies(bond_vrf, "vrf-ping", "gwD")
    only(checks.sent(bond_vrf, "vrf"), "eth2")
    replies(bond_vrf, "main-ping", "gwA")
    only(checks.sent(bond_vrf, "main"), "eth0.10")
    from_addr, in_vrf, via_slave = bond_vrf.block("route-get").docs()
    assert (from_addr[0]["dev"], from_addr[0]["table"]) == ("eth0.10", str(numbers(bond_vrf)["e0v10"]))
    assert (in_vrf[0]["dev"], in_vrf[0]["table"]) == ("eth2", VRF_TABLE)
    assert (via_slave[0]["dev"], via_slave[0]["table"]) == ("eth2", VRF_TABLE)


def test_the_vrf_table_is_untouched_and_works_after_the_stops(bond_vrf):
    assert bond_vrf.block("vrf-table").json() == bond_vrf.block("vrf-table-end").json()
    assert [r for r in bond_vrf.block("tables").json()
            if r.get("table") == VRF_TABLE and r.get("protocol") == "201"] == []
    for name in ("stop-bond0", "stop-eth0"):
        assert bond_vrf.block(name).rc == 0, bond_vrf.block(name).text
    vrf = checks.state(bond_vrf.block("rules-vrf"))
    end = checks.state(bond_vrf.block("rules-end"))
    assert checks.rule_set(end["rules4"]) == checks.rule_set(vrf["rules4"])
    assert checks.rule_set(end["rules6"]) == checks.rule_set(vrf["rules6"])
    assert end["routes4"] == []
    replies(bond_vrf, "vrf-end-ping", "gwD")
    assert checks.sent(bond_vrf, "vrf-end")["eth2"] >= PINGS
    assert bond_vrf.block("follower-end").text.strip() == "none"


@pytest.mark.parametrize("data", ["vrf-show", "link-type", "details"])
def test_table_on_a_vrf_slave_or_device_is_refused(bond_vrf, data):
    links = bond_vrf.block("links-plain" if data != "details" else "links").json()
    vrfs = {"vrf-show": lambda: bond_vrf.block("vrf-show").json(),   # ip -json vrf show
            "link-type": lambda: bond_vrf.block("vrfs").json(),      # ip -json link show type vrf
            "details": lambda: []}[data]()                          # ip -details alone
    err = vrf.refusal("eth2", "eth2", "blue2", links, vrfs)
    assert err is not None and err.exit_code == 1
    text = str(err)
    known = data != "link-type"                     # only that one has no table number
    assert text.startswith("table_eth2: 'blue2' eth2 is enslaved to VRF vrf-blue"
                           + (" (table 10):" if known else ":"))
    assert "l3mdev" in text
    assert ('routes_eth2="... table 10"' if known else 'routes_eth2="... table VRF-TABLE"') in text
    err = vrf.refusal("vrf-blue", "vrf_blue", "blue3", links, vrfs)
    assert err is not None and str(err).startswith("table_vrf_blue: 'blue3' vrf-blue is a VRF device")
    for iface in ("eth0", "eth0.10", "bond0", "bond0.10", "b0", "b1", "lo"):
        assert vrf.refusal(iface, iface.replace(".", "_"), "t", links, vrfs) is None
    assert vrf.refusal("eth2", "eth2", "", links, vrfs) is None          # no table_
    assert vrf.refusal("eth9", "eth9", "t", links, vrfs) is None         # not there yet


def test_a_start_with_table_on_the_vrf_slave_fails_and_adds_nothing(bond_vrf):
    start = bond_vrf.block("start-eth2")
    assert start.rc != 0, start.text
    assert "table_eth2: 'blue2' eth2 is enslaved to VRF vrf-blue (table 10)" in start.text
    end = checks.state(bond_vrf.block("rules-end"))
    after = checks.state(bond_vrf.block("rules-eth2"))
    assert checks.rule_set(after["rules4"]) == checks.rule_set(end["rules4"])
    assert after["routes4"] == []
