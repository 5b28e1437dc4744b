"""Failover planning, failover_ and config_ parsing, the follower's event
filter and the record's runtime fields: pure, no root."""

import json

import pytest

from policyroute import failover, follower, parse
from policyroute.checks import check_all
from policyroute.errors import ConfigErrors
from policyroute.state import Record
from policyroute.tables import Registry

FOREVER = failover.FOREVER


def link(name, carrier=True, *addrs):
    return failover.Link(name, carrier, tuple(addrs))


def addr(cidr, permanent=True):
    local, plen = cidr.split("/")
    return failover.Addr(6 if ":" in local else 4, local, int(plen), permanent)


def unit(iface, sibling, configured):
    return parse.parse_unit(iface, {"table": f"t{iface[3]}", "failover": sibling,
                                    "configured": configured})


def records(**moved):
    return {name: Record(name, moved=lent) for name, lent in moved.items()}


UNITS = {"eth0.10": unit("eth0.10", "eth1.10", "192.0.2.16/24"),
         "eth1.10": unit("eth1.10", "eth0.10", "192.0.2.17/24 2001:db8:10::17/64")}


def test_carrier_loss_moves_permanent_secondaries_only():
    links = {"eth0.10": link("eth0.10", True, addr("192.0.2.16/24")),
             "eth1.10": link("eth1.10", False, addr("192.0.2.17/24"), addr("192.0.2.100/24"),
                             addr("2001:db8:10::17/64"), addr("2001:db8:10::100/64"),
                             addr("198.51.100.7/24", permanent=False))}   # a DHCP lease
    moves, moved = failover.plan(UNITS, records(**{"eth0.10": [], "eth1.10": []}), links)
    assert [(m.addr.cidr, m.src, m.dst, m.owner) for m in moves] == [
        ("192.0.2.100/24", "eth1.10", "eth0.10", "eth1.10"),
        ("2001:db8:10::100/64", "eth1.10", "eth0.10", "eth1.10")]
    assert moved == {"eth0.10": [], "eth1.10": [["192.0.2.100/24", "eth0.10"],
                                                ["2001:db8:10::100/64", "eth0.10"]]}


def test_carrier_back_brings_them_home():
    links = {"eth0.10": link("eth0.10", True, addr("192.0.2.16/24"), addr("192.0.2.100/24")),
             "eth1.10": link("eth1.10", True, addr("192.0.2.17/24"))}
    moves, moved = failover.plan(
        UNITS, records(**{"eth0.10": [], "eth1.10": [["192.0.2.100/24", "eth0.10"]]}), links)
    assert [(m.addr.cidr, m.src, m.dst, m.home) for m in moves] == \
        [("192.0.2.100/24", "eth0.10", "eth1.10", True)]
    assert moved["eth1.10"] == []


@pytest.mark.parametrize("sibling_carrier, sibling_managed", [(False, True), (True, False)])
def test_nothing_moves_without_a_managed_sibling_with_carrier(sibling_carrier, sibling_managed):
    links = {"eth0.10": link("eth0.10", sibling_carrier, addr("192.0.2.16/24")),
             "eth1.10": link("eth1.10", False, addr("192.0.2.17/24"), addr("192.0.2.100/24"))}
    units = UNITS if sibling_managed else {"eth1.10": UNITS["eth1.10"]}
    moves, _ = failover.plan(units, records(**{n: [] for n in units}), links)
    assert moves == []


def test_a_lent_address_is_not_lent_again_and_a_vanished_one_is_forgotten():
    links = {"eth0.10": link("eth0.10", False, addr("192.0.2.16/24"), addr("192.0.2.100/24")),
             "eth1.10": link("eth1.10", False, addr("192.0.2.17/24"))}
    # Both dark: eth0.10 holds eth1.10's alias and must not pass it back as its own.
    moves, moved = failover.plan(
        UNITS, records(**{"eth0.10": [], "eth1.10": [["192.0.2.100/24", "eth0.10"],
                                                     ["192.0.2.101/24", "eth0.10"]]}), links)
    assert moves == []
    assert moved["eth1.10"] == [["192.0.2.100/24", "eth0.10"]]      # .101 is gone


def test_hand_back_lists_what_a_stopping_holder_borrowed():
    recs = records(**{"eth0.10": [], "eth1.10": [["192.0.2.100/24", "eth0.10"]]})
    assert failover.hand_back("eth0.10", recs) == [("192.0.2.100/24", "eth1.10")]
    assert failover.hand_back("eth1.10", recs) == []


def test_links_of_reads_carrier_and_lifetimes():
    links = [{"ifname": "eth1.10", "flags": ["BROADCAST", "UP"]},
             {"ifname": "eth0.10", "flags": ["UP", "LOWER_UP"]}]
    v4 = [{"ifname": "eth0.10", "addr_info": [
        {"local": "192.0.2.16", "prefixlen": 24, "scope": "global",
         "valid_life_time": FOREVER},
        {"local": "192.0.2.60", "prefixlen": 24, "scope": "global", "dynamic": True,
         "valid_life_time": 3600},
        {"local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]}]
    out = failover.links_of(links, [(4, v4), (6, [])])
    assert out["eth1.10"] == link("eth1.10", False)
    assert out["eth0.10"] == link("eth0.10", True, addr("192.0.2.16/24"),
                                  addr("192.0.2.60/24", permanent=False))


@pytest.mark.parametrize("configured, primaries", [
    ("192.0.2.17/24", {4: "192.0.2.17"}),
    ("192.0.2.17/24 2001:db8:10::17/64 192.0.2.18/24", {4: "192.0.2.17", 6: "2001:db8:10::17"}),
    ("192.0.2.17 netmask 255.255.255.0", {4: "192.0.2.17"}),     # one entry with arguments
    ("192.0.2.17/24 brd +\n192.0.2.18/24", {4: "192.0.2.17"}),
    ("dhcp", {}), ("null", {}), ("", {}), (None, {}),
])
def test_primaries_read_config_as_netifrc_does(configured, primaries):
    assert parse.primaries(configured) == primaries


@pytest.mark.parametrize("value, words", [
    ("eth1.10", "failover_eth1_10: 'eth1.10' is this interface itself"),
    ("eth0.10;reboot", "failover_eth1_10: 'eth0.10;reboot' is not an interface name"),
])
def test_bad_failover_names_the_variable(value, words):
    with pytest.raises(ConfigErrors) as e:
        parse.parse_unit("eth1.10", {"table": "e1v10", "failover": value})
    assert str(e.value).startswith(words)


def test_check_reports_every_failover_problem(tmp_path):
    variables = {"table_eth0_10": "e0v10", "failover_eth0_10": "eth9",
                 "failover_eth1_10": "eth0.10", "table_eth1_11": "e1v11",
                 "failover_eth1_11": "eth1.11"}
    _configs, errors = check_all(variables, Registry(str(tmp_path)))
    assert sorted(e.message() for e in errors) == [
        "failover_eth0_10: 'eth9' has no table_eth9: failover moves addresses only to an "
        "interface policyroute manages",
        "failover_eth1_10: 'eth0.10' needs table_eth1_10 too",
        "failover_eth1_11: 'eth1.11' is this interface itself; name the one on the other switch"]


class Msg(dict):
    def get_attr(self, name):
        return self.get("attrs", {}).get(name)


@pytest.mark.parametrize("msg, names", [
    (Msg(event="RTM_NEWADDR", scope=0, index=1), {"lo"}),
    (Msg(event="RTM_NEWADDR", scope=253, index=1), set()),          # link-local: not ours
    (Msg(event="RTM_NEWLINK", attrs={"IFLA_IFNAME": "eth1.10"}), {"eth1.10"}),
    (Msg(event="RTM_NEWROUTE", dst_len=0, attrs={"RTA_TABLE": 254, "RTA_OIF": 1}), {"lo"}),
    (Msg(event="RTM_NEWROUTE", dst_len=0, attrs={"RTA_TABLE": 1024, "RTA_OIF": 1}), set()),
    (Msg(event="RTM_NEWROUTE", dst_len=24, attrs={"RTA_TABLE": 254, "RTA_OIF": 1}), set()),
    (Msg(event="RTM_NEWRULE"), set()),
])
def test_follower_reacts_to_global_addresses_links_and_mains_default(monkeypatch, msg, names):
    monkeypatch.setattr("socket.if_indextoname", {1: "lo"}.__getitem__)
    assert follower.affected(msg) == names


def test_record_keeps_inputs_and_loans_and_refuses_wrong_shapes():
    record = Record("eth1.10", inputs={"table": "e1v10", "failover": "eth0.10"},
                    moved=[["192.0.2.100/24", "eth0.10"]])
    again = Record.from_json(record.to_json())
    assert (again.inputs, again.moved) == (record.inputs, record.moved)
    base = json.loads(record.to_json())
    for field, bad in (("inputs", {"table": 7}), ("moved", [["192.0.2.100/24"]]),
                       ("moved", "eth0.10")):
        with pytest.raises(ValueError):
            Record.from_json(json.dumps({**base, field: bad}))
