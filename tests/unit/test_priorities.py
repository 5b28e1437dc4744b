"""bands.py layout and the determinism of every priority we hand out."""

import zlib

import pytest

from policyroute import bands, engine, parse, plan
from policyroute.paths import Paths
from policyroute.tables import Registry


def test_band_layout_constants():
    assert (bands.USER_BASE, bands.USER_LINES, bands.SLOTS) == (10000, 16, 256)
    assert (bands.STAGE_TABLE_SPECIFIC, bands.STAGE_MAIN_SPECIFIC, bands.STAGE_TABLE) == \
        (20000, 21000, 22000)
    assert (bands.AUTO_FIRST, bands.AUTO_LAST) == (20000, 22255)
    assert (bands.PRIORITY_MIN, bands.PRIORITY_MAX) == (1, 32765)
    assert (bands.TABLE_FIRST, bands.TABLE_LAST) == (1024, 1279)
    assert bands.PROTO == 201


def test_bands_do_not_overlap():
    top_user = bands.user_priority(255, bands.USER_LINES - 1)
    assert top_user == 14095 < bands.AUTO_FIRST
    assert bands.user_priority(0, 0) == bands.USER_BASE
    # stage bands are disjoint and each holds every slot
    for first, nxt in ((bands.STAGE_TABLE_SPECIFIC, bands.STAGE_MAIN_SPECIFIC),
                       (bands.STAGE_MAIN_SPECIFIC, bands.STAGE_TABLE)):
        assert first + bands.SLOTS <= nxt
    assert bands.AUTO_LAST < bands.PRIORITY_MAX
    # every registered table number has a slot of its own
    slots = {bands.slot(t) for t in range(bands.TABLE_FIRST, bands.TABLE_LAST + 1)}
    assert len(slots) == bands.SLOTS


@pytest.mark.parametrize("table,slot", [(1024, 0), (1025, 1), (1279, 255), (1280, 0),
                                        (100, 100), (256, 0), (2**32 - 1, 255)])
def test_slot_is_table_mod_256(table, slot):
    assert bands.slot(table) == slot


@pytest.mark.parametrize("table,index,expected", [(1024, 0, 10000), (1024, 15, 10015),
                                                  (1025, 0, 10016), (1025, 3, 10019),
                                                  (100, 2, 10000 + 100 * 16 + 2)])
def test_user_priority(table, index, expected):
    assert bands.user_priority(table, index) == expected


@pytest.mark.parametrize("table,guard,expected", [
    (1024, True, (20000, 21000, 22000)), (1025, True, (20001, 21000, 22001)),
    (1279, True, (20255, 21000, 22255)), (1025, False, (None, None, 20001))])
def test_auto_priorities(table, guard, expected):
    assert bands.auto_priorities(table, guard) == expected


@pytest.mark.parametrize("priority,inside", [(19999, False), (20000, True), (20255, True),
                                             (20500, True), (21000, True), (22255, True),
                                             (22256, False), (10000, False)])
def test_in_auto_band(priority, inside):
    assert bands.in_auto_band(priority) is inside


def test_user_lines_keep_their_order_and_explicit_priorities_are_kept():
    cfg = parse.parse_interface("eth1.10", table="e1v10", rules=(
        "fwmark 1\nfwmark 2 priority 100\nfwmark 3\nfwmark 4 priority 30000\nfwmark 5"),
        rules6="fwmark 6")
    assert plan.user_priorities(cfg, 1025) == [10016, 100, 10017, 30000, 10018, 10019]


def test_priorities_without_table_come_from_the_interface_name():
    cfg = parse.parse_interface("eth1.10", rules="fwmark 1 lookup 100\nfwmark 2 lookup 100")
    slot = zlib.crc32(b"eth1_10") % 256          # 48: no per-process hash seed involved
    assert slot == 48
    assert plan.user_priorities(cfg, None) == [10000 + 48 * 16, 10000 + 48 * 16 + 1]


def _desired_priorities(cfg, table_id, registry, observed):
    return sorted((o.family, o.args) for o in plan.desired(cfg, table_id, registry, observed)
                  if o.kind == "rule")


CONFD = {"eth1.10": ("e1v10", "from 192.0.2.17 lookup isp\nfwmark 7"),
         "eth2": ("isp", "fwmark 9\nfrom 198.51.100.9 priority 50")}


@pytest.mark.parametrize("order", [("eth1.10", "eth2"), ("eth2", "eth1.10")])
def test_same_config_same_numbers_whatever_order_interfaces_start(tmp_path, order):
    """Each pre-start registers every interface's table name (sibling_tables),
    so the numbers, and so the priorities, do not depend on start order."""
    paths = Paths(state_dir=str(tmp_path / "run"),
                         iproute2_dir=str(tmp_path / f"etc-{'-'.join(order)}"), data_dirs=())
    siblings = [table for table, _rules in CONFD.values()]
    ids = {}
    for iface in order:
        table, rules = CONFD[iface]
        cfg = parse.parse_interface(iface, table=table, rules=rules)
        ids[iface] = engine.pre_start(cfg, paths, siblings)
    assert ids == {"eth1.10": 1024, "eth2": 1025}       # sorted names: e1v10 < isp
    registry = paths.registry()
    observed = plan.Observed(addresses=(plan.Address(4, "192.0.2.17", 24),))
    cfg = parse.parse_interface("eth1.10", table="e1v10", rules=CONFD["eth1.10"][1])
    rules = _desired_priorities(cfg, 1024, registry, observed)
    assert (4, ("from", "192.0.2.17/32", "priority", "10000", "lookup", "1025",
                "protocol", "201")) in rules
    assert (4, ("fwmark", "0x7/0xffffffff", "priority", "10001", "lookup", "254",
                "protocol", "201")) in rules


def test_desired_is_independent_of_address_order(registry):
    registry.register(["e1v10"])
    cfg = parse.parse_interface("eth1.10", table="e1v10", rules="fwmark 7")
    addrs = (plan.Address(6, "2001:db8:10::17", 64), plan.Address(4, "192.0.2.18", 24, True),
             plan.Address(4, "192.0.2.17", 24))
    a = plan.desired(cfg, 1024, registry, plan.Observed(addresses=addrs))
    b = plan.desired(cfg, 1024, registry, plan.Observed(addresses=tuple(reversed(addrs))))
    assert a == b


def test_registering_one_name_at_a_time_depends_on_order(tmp_path):
    """Why pre-start registers the siblings too: alone, the first name to
    start gets the lowest number."""
    r1 = Registry(tmp_path / "a")
    r1.register(["isp"])
    r1.register(["e1v10"])
    r2 = Registry(tmp_path / "b")
    r2.register(["e1v10", "isp"])
    assert r1.lookup("isp") == 1024 and r2.lookup("isp") == 1025
