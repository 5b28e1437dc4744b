"""The guard (brief 3): main's more specific routes (a docker-like bridge,
198.51.100.128/25 dev docker0) still win for traffic from .17; a user rule
with a low priority is evaluated before everything of ours; with
--guard no, the interface's table wins over main's specific route.

The container (ctr, 198.51.100.130) and both gateways (which also host
198.51.100.130) answer with their own names.
"""

import pytest

from netns_checks import our_rules, start_vlan10, started

pytestmark = pytest.mark.usefixtures("clean")

SRC = "192.0.2.17"
INTERNET = "198.51.100.1"
CONTAINER = "198.51.100.130"
USER_RULE = f"from {SRC} to {INTERNET} lookup e0v10 priority 900"


def post_start(lab, pr, **values):
    return started(pr.run("post-start", "eth1.10", netns=lab.box.name, table="e1v10", **values))


def test_main_specific_route_wins_with_the_guard(lab, pr):
    _e0, e1 = start_vlan10(lab, pr)
    got = lab.route_get(CONTAINER, SRC)
    assert got["dev"] == "docker0" and "gateway" not in got, got
    assert lab.who_answers(SRC, CONTAINER, 3) == {"ctr"}
    assert lab.who_answers(SRC, INTERNET, 3) == {"gwB"}         # the table still serves the rest


def test_user_rule_at_900_is_evaluated_first(lab, pr):
    e0, e1 = start_vlan10(lab, pr, rules=USER_RULE)
    user = [r for r in our_rules(lab) if r["priority"] == 900]
    assert user == [{"priority": 900, "src": SRC, "dst": INTERNET, "table": str(e0),
                     "protocol": "201"}]
    got = lab.route_get(INTERNET, SRC)
    assert (got["dev"], got.get("gateway"), got.get("table")) == ("eth0.10", "192.0.2.2", str(e0))
    assert lab.who_answers(SRC, INTERNET, 3) == {"gwA"}
    assert lab.who_answers(SRC, CONTAINER, 3) == {"ctr"}        # guard untouched by it


def test_guard_no_lets_the_table_win(lab, pr):
    _e0, e1 = start_vlan10(lab, pr)
    post_start(lab, pr, guard="no")
    slot = e1 % 256
    prios = sorted(r["priority"] for r in our_rules(lab) if r.get("src") == SRC)
    assert prios == [20000 + slot]         # compact layout: before the shared guard
    got = lab.route_get(CONTAINER, SRC)
    assert (got["dev"], got.get("gateway"), got.get("table")) == ("eth1.10", "192.0.2.3", str(e1))
    assert lab.who_answers(SRC, CONTAINER, 3) == {"gwB"}
    # .16 keeps its guard: the container is still reached through docker0.
    assert lab.who_answers("192.0.2.16", CONTAINER, 3) == {"ctr"}
    # And back: guard yes again restores the two guard rules.
    post_start(lab, pr, guard="yes")
    prios = sorted(r["priority"] for r in our_rules(lab) if r.get("src") == SRC)
    assert prios == [20000 + slot, 22000 + slot]
    assert [r for r in our_rules(lab) if r["priority"] == 21000 and r.get("src") == "all"]
    assert lab.who_answers(SRC, CONTAINER, 3) == {"ctr"}


def test_guard_ipv6_host_route_in_main(lab, pr):
    """IPv6: a /128 in main through eth0.10 towards gwA beats the table's default."""
    src, dst = "2001:db8:10::17", "2001:db8:ffff::1"
    route = ("2001:db8:ffff::1/128", "via", "2001:db8:10::2", "dev", "eth0.10")
    _e0, e1 = start_vlan10(lab, pr)
    lab.box.ip("-6", "route", "add", *route)
    try:
        assert lab.route_get(dst, src)["dev"] == "eth0.10"
        assert lab.who_answers(src, dst, 3) == {"gwA"}
        post_start(lab, pr, guard="no")
        got = lab.route_get(dst, src)
        assert (got["dev"], got.get("gateway")) == ("eth1.10", "2001:db8:10::3")
        assert lab.who_answers(src, dst, 3) == {"gwB"}
    finally:
        lab.box.ip("-6", "route", "del", *route)
