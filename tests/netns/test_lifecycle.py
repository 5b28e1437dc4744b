"""Start, restart and stop (briefs 5, 8 and 9): a second post-start (zap)
changes nothing, twenty restarts give the same kernel state byte for byte,
stop returns the namespace to where it started, a stop of an interface
never started is a no-op, the host is never touched, and a stop undoes
what was started even after the configuration was edited.
"""

import pytest

from netns_checks import our_rules, records, started

pytestmark = pytest.mark.usefixtures("clean")

# A rule with a priority, one without (10000 + slot*16), and an IPv6 one.
RULES = "from 192.0.2.17 to 198.51.100.1 lookup e0v10 priority 900\nto 203.0.113.0/24"
RULES6 = "to 2001:db8:ffff::/48"


def start_both(lab, pr, **values):
    started(lab.start(pr, "eth0.10", "e0v10"))
    started(lab.start(pr, "eth1.10", "e1v10", **values))


def table_text(lab, number):
    return {fam: lab.box.ip("-N", f"-{fam}", "route", "show", "table", str(number)).stdout
            for fam in (4, 6)}


def test_post_start_twice_is_byte_identical(lab, pr):
    start_both(lab, pr, rules=RULES, rules6=RULES6)
    first = lab.snapshot()
    again = pr.run("post-start", "eth1.10", netns=lab.box.name, table="e1v10",
                   rules=RULES, rules6=RULES6, verbose=True)
    started(again)
    assert again.stdout == "", "a second post-start ran ip commands:\n" + again.stdout
    assert lab.snapshot() == first


def test_twenty_restarts_are_byte_identical(lab, pr):
    start_both(lab, pr, rules=RULES, rules6=RULES6)
    first = lab.snapshot()
    for n in range(20):
        assert lab.stop(pr, "eth1.10").returncode == 0
        started(lab.start(pr, "eth1.10", "e1v10", rules=RULES, rules6=RULES6))
        assert lab.snapshot() == first, f"restart {n + 1} differs"


def test_stop_returns_to_the_start(lab, pr, baseline):
    start_both(lab, pr, rules=RULES, rules6=RULES6)
    e0, e1 = pr.table_number("e0v10"), pr.table_number("e1v10")
    for iface, number in (("eth1.10", e1), ("eth0.10", e0)):
        record = pr.record_path(iface, lab.box.name)
        assert record.exists()
        assert pr.run("stop", iface, netns=lab.box.name).returncode == 0
        assert not record.exists()
        # Only what netifrc's routes_ added is left in the table ...
        left = lab.box.ip_json("route", "show", "table", str(number))
        assert [r.get("protocol") for r in left] == [None], left
        lab.drop_table_routes(iface)
        # ... and once netifrc removed that, the table is empty.
        assert table_text(lab, number) == {4: "", 6: ""}
    assert our_rules(lab, 4) == [] and our_rules(lab, 6) == []
    assert lab.snapshot() == baseline
    assert records(pr) == []


def test_stop_of_an_interface_never_started_is_a_no_op(lab, pr, baseline):
    start_both(lab, pr)
    running = lab.snapshot()
    for argv in (("eth0.11", lab.box.name), ("eth1.11", lab.box.name),
                 ("eth1.10", None)):           # started in the box, not in the host
        proc = pr.run("stop", argv[0], netns=argv[1])
        assert (proc.returncode, proc.stderr) == (0, ""), proc
        assert lab.snapshot() == running
    assert sorted(records(pr)) == ["eth0.10.json", "eth1.10.json"]
    assert not pr.record_path("eth0.11", lab.box.name).exists()


def host_state():
    from topology import run
    return {fam: run(["ip", "-N", f"-{fam}", "rule", "show"]).stdout for fam in (4, 6)}


def test_netns_is_honoured_and_the_host_untouched(lab, pr):
    host = host_state()
    start_both(lab, pr, rules=RULES, rules6=RULES6)
    assert our_rules(lab, 4) and our_rules(lab, 6)
    assert host_state() == host
    assert pr.record_path("eth1.10", lab.box.name).exists()
    assert not pr.record_path("eth1.10").exists()
    for iface in ("eth1.10", "eth0.10"):
        assert lab.stop(pr, iface).returncode == 0
    assert host_state() == host


def test_stop_after_the_configuration_changed(lab, pr, baseline):
    """stop takes no values: it undoes the record, whatever rules_ says now."""
    start_both(lab, pr, rules=RULES, rules6=RULES6)
    assert [r["priority"] for r in our_rules(lab) if r["priority"] < 20000][0] == 900
    for iface in ("eth1.10", "eth0.10"):
        assert lab.stop(pr, iface).returncode == 0
    assert lab.snapshot() == baseline


def test_restart_with_edited_rules_replaces_them(lab, pr, baseline):
    """post-start with new values (no stop in between): the old lines go,
    the new ones come, nothing is doubled; stop then removes the new ones."""
    start_both(lab, pr, rules=RULES, rules6=RULES6)
    e0 = pr.table_number("e0v10")
    edited = "from 192.0.2.17 to 198.51.100.1 lookup e0v10 priority 901"
    started(pr.run("post-start", "eth1.10", netns=lab.box.name, table="e1v10", rules=edited))
    low = [(r["priority"], r.get("dst")) for r in our_rules(lab) if r["priority"] < 20000]
    assert low == [(901, "198.51.100.1")]
    assert [r for r in our_rules(lab, 6) if r["priority"] < 20000] == []
    texts = [(r["priority"], r.get("src"), r.get("dst"), r["table"]) for r in our_rules(lab)]
    assert len(texts) == len(set(texts))
    assert lab.route_get("198.51.100.1", "192.0.2.17")["table"] == str(e0)
    for iface in ("eth1.10", "eth0.10"):
        assert lab.stop(pr, iface).returncode == 0
    assert lab.snapshot() == baseline
