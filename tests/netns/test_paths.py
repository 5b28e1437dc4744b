"""Which way packets go: by source address, to the interface's own gateway
and link, and to same-subnet neighbours directly (briefs 1 and 2).

gwA (on switch A) and gwB (on switch B) both host 198.51.100.1 and
2001:db8:ffff::1; their echo servers answer with their own name, so the
answer tells the gateway, and the box's tx counters tell the link.
"""

import pytest

from netns_checks import assert_left_by, our_rules, sent, start_vlan10, started

pytestmark = pytest.mark.usefixtures("clean")

FAMILIES = {
    4: {"src16": "192.0.2.16", "src17": "192.0.2.17", "internet": "198.51.100.1",
        "vrrp": "192.0.2.1", "gwA": "192.0.2.2", "gwB": "192.0.2.3", "nbr": "192.0.2.50"},
    6: {"src16": "2001:db8:10::16", "src17": "2001:db8:10::17", "internet": "2001:db8:ffff::1",
        "vrrp": "2001:db8:10::1", "gwA": "2001:db8:10::2", "gwB": "2001:db8:10::3",
        "nbr": "2001:db8:10::50"},
}


@pytest.mark.parametrize("family", [4, 6])
def test_source_chooses_its_own_gateway_and_link(lab, pr, family):
    a = FAMILIES[family]
    # Before: everything follows main's default via VRRP on eth0.10 (the bug).
    got = lab.route_get(a["internet"], a["src17"])
    assert (got["dev"], got.get("gateway")) == ("eth0.10", a["vrrp"])
    answers, delta = sent(lab, a["src17"], a["internet"])
    assert {x.split()[0] for x in answers} == {"gwA"}, answers     # via VRRP -> gwA
    assert_left_by(delta, "eth0.10", 20)

    _e0, e1 = start_vlan10(lab, pr)

    # Kernel state: .17's two automatic rules and the shared guard, then the lookup result.
    mine = [r for r in our_rules(lab, family) if r.get("src") == a["src17"]]
    slot = e1 % 256
    assert sorted((r["priority"], r["table"], r.get("suppress_prefixlen")) for r in mine) == [
        (20000 + slot, str(e1), 0), (22000 + slot, str(e1), None)]
    assert [r for r in our_rules(lab, family) if r["priority"] == 21000 and r["table"] == "254"]
    got = lab.route_get(a["internet"], a["src17"])
    assert (got["dev"], got.get("gateway"), got.get("table")) == ("eth1.10", a["gwB"], str(e1))

    # Packets: .17 is answered by gwB through eth1.10, .16 by gwA through eth0.10.
    answers, delta = sent(lab, a["src17"], a["internet"])
    assert answers == [f"gwB v10 {a['internet']}"] * 20
    assert_left_by(delta, "eth1.10", 20)
    answers, delta = sent(lab, a["src16"], a["internet"])
    assert answers == [f"gwA v10 {a['internet']}"] * 20
    assert_left_by(delta, "eth0.10", 20)


@pytest.mark.parametrize("family", [4, 6])
def test_neighbour_is_reached_directly_on_the_source_link(lab, pr, family):
    a = FAMILIES[family]
    before = lab.route_get(a["nbr"], a["src17"])
    assert before["dev"] == "eth0.10"           # main's first connected route

    started(lab.start(pr, "eth1.10", "e1v10"))

    got = lab.route_get(a["nbr"], a["src17"])
    assert got["dev"] == "eth1.10" and "gateway" not in got, got
    # The neighbour's bridge joins both switches: its port towards switch B
    # must see the datagrams, the box's eth1.10 must have sent them.
    nbr_before = lab.ns["nbr"].counters()
    answers, delta = sent(lab, a["src17"], a["nbr"])
    nbr_after = lab.ns["nbr"].counters()
    assert answers == [f"nbr br10 {a['nbr']}"] * 20
    assert_left_by(delta, "eth1.10", 20)
    rx = {k: nbr_after[k][1] - nbr_before[k][1] for k in ("toA10", "toB10")}
    assert rx["toB10"] >= 20 and rx["toA10"] <= 3, rx
