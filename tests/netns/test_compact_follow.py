"""The follower keeps the compact layout minimal as addresses come and go:
a block of aliases is one prefix, a hole in it splits it into the fewest
exact prefixes, filling the hole joins them again, and a failover loan
takes the block to the sibling's table and back."""

import ipaddress

import pytest

from netns_checks import holder, started, wait_for

pytestmark = pytest.mark.usefixtures("clean")

CONFIGURED = {"eth0.10": "192.0.2.16/24 2001:db8:10::16/64",
              "eth1.10": "192.0.2.17/24 2001:db8:10::17/64"}
SIBLING = {"eth0.10": "eth1.10", "eth1.10": "eth0.10"}
TABLE = {"eth0.10": "e0v10", "eth1.10": "e1v10"}
BLOCK = [f"192.0.2.{i}" for i in range(32, 40)]          # 192.0.2.32/29
HOLE = "192.0.2.35"


def start_pair(lab, pr):
    for iface in ("eth0.10", "eth1.10"):
        started(lab.start(pr, iface, TABLE[iface], configured=CONFIGURED[iface],
                          failover=SIBLING[iface]))
    return {iface: pr.table_number(TABLE[iface]) for iface in TABLE}


def carrier(lab, iface, up):
    switch = "swA" if iface.startswith("eth0") else "swB"
    lab.ns[switch].ip("link", "set", f"box-{iface}", "up" if up else "down")


@pytest.fixture
def block(lab):
    yield
    for link in ("eth0.10", "eth1.10"):
        carrier(lab, link, up=True)
        for address in BLOCK:
            lab.box.ip("addr", "del", address + "/24", "dev", link, check=False)


def sources(lab, table):
    """{stage: sorted from-prefixes} of our IPv4 rules that look up table."""
    out = {}
    for r in lab.box.ip_json("-N", "-4", "rule", "show"):
        if str(r.get("protocol")) == "201" and r.get("table") == str(table):
            stage = "specific" if "suppress_prefixlen" in r else "table"
            out.setdefault(stage, []).append(f"{r['src']}/{r.get('srclen', 32)}")
    return {stage: sorted(v) for stage, v in out.items()}


def exact(*addresses):
    nets = ipaddress.collapse_addresses(ipaddress.ip_network(a) for a in addresses)
    return sorted(str(n) for n in nets)


def laid_out(lab, table, *addresses):
    want = exact(*addresses)
    return sources(lab, table) == {"specific": want, "table": want}


def guards(lab):
    return [r for r in lab.box.ip_json("-N", "-4", "rule", "show")
            if r.get("priority") == 21000 and str(r.get("protocol")) == "201"]


def test_hole_in_a_block_splits_it_and_filling_it_joins_it(lab, pr, block):
    tables = start_pair(lab, pr)
    t1 = tables["eth1.10"]
    lab.box.batch([f"addr add {a}/24 dev eth1.10" for a in BLOCK])
    assert wait_for(lambda: laid_out(lab, t1, "192.0.2.17", *BLOCK)), sources(lab, t1)
    assert exact(*BLOCK) == ["192.0.2.32/29"]

    lab.box.ip("addr", "del", HOLE + "/24", "dev", "eth1.10")
    rest = [a for a in BLOCK if a != HOLE]
    assert wait_for(lambda: laid_out(lab, t1, "192.0.2.17", *rest)), sources(lab, t1)
    assert exact(*rest) == ["192.0.2.32/31", "192.0.2.34/32", "192.0.2.36/30"]
    assert lab.route_get("198.51.100.1", "192.0.2.36")["dev"] == "eth1.10"

    lab.box.ip("addr", "add", HOLE + "/24", "dev", "eth1.10")
    assert wait_for(lambda: laid_out(lab, t1, "192.0.2.17", *BLOCK)), sources(lab, t1)
    assert lab.route_get("198.51.100.1", HOLE)["dev"] == "eth1.10"
    assert len(guards(lab)) == 1


def test_failover_loan_takes_the_block_along_and_back(lab, pr, block):
    tables = start_pair(lab, pr)
    t0, t1 = tables["eth0.10"], tables["eth1.10"]
    lab.box.batch([f"addr add {a}/24 dev eth1.10" for a in BLOCK])
    assert wait_for(lambda: laid_out(lab, t1, "192.0.2.17", *BLOCK))

    carrier(lab, "eth1.10", up=False)
    assert wait_for(lambda: all(holder(lab, a) == "eth0.10" for a in BLOCK))
    assert wait_for(lambda: laid_out(lab, t0, "192.0.2.16", *BLOCK)), sources(lab, t0)
    assert wait_for(lambda: laid_out(lab, t1, "192.0.2.17")), sources(lab, t1)
    assert lab.route_get("198.51.100.1", BLOCK[-1])["dev"] == "eth0.10"

    carrier(lab, "eth1.10", up=True)
    assert wait_for(lambda: all(holder(lab, a) == "eth1.10" for a in BLOCK))
    assert wait_for(lambda: laid_out(lab, t1, "192.0.2.17", *BLOCK)), sources(lab, t1)
    assert wait_for(lambda: laid_out(lab, t0, "192.0.2.16")), sources(lab, t0)
    assert len(guards(lab)) == 1
