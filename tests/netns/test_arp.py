"""Same-subnet ARP (brief 4): once both VLAN 10 links are started, only the
link holding an address answers ARP for it, so the neighbour learns .17
at eth1.10's MAC and .16 at eth0.10's; the sysctls go back at stop.

The neighbour's bridge joins both switches, so every ARP request reaches
both box links (as with redundant switches).
"""

import time

import pytest

from netns_checks import start_vlan10

pytestmark = pytest.mark.usefixtures("clean")

OWNER = {"192.0.2.16": "eth0.10", "192.0.2.17": "eth1.10"}


def neighbour_learns(lab, address):
    """Flush the neighbour's cache, make it talk to address, read ip neigh."""
    nbr = lab.ns["nbr"]
    nbr.ip("neigh", "flush", "dev", "br10")
    lab.probe("", address, count=1, role="nbr", timeout=0.2)      # triggers ARP
    for _ in range(50):
        entries = nbr.ip_json("neigh", "show", "to", address, "dev", "br10")
        if entries and "lladdr" in entries[0]:
            return entries[0]["lladdr"]
        time.sleep(0.05)
    return None


def sysctls(lab, iface):
    return {name: lab.box.read_sysctl(f"net/ipv4/conf/{iface}/{name}")
            for name in ("arp_ignore", "arp_announce", "rp_filter")}


def test_every_link_answers_arp_before_the_helper(lab):
    """The bug being fixed: both links answer for .17."""
    macs = {lab.box.mac(i) for i in OWNER.values()}
    assert set(lab.arping("192.0.2.17")) == macs


def test_neighbour_resolves_each_address_to_its_own_link(lab, pr):
    start_vlan10(lab, pr)
    for address, iface in OWNER.items():
        mac = lab.box.mac(iface)
        assert lab.arping(address) == [mac], address
        for _ in range(3):                       # the kernel's own resolution, repeatedly
            assert neighbour_learns(lab, address) == mac, address


def test_sysctls_set_and_restored(lab, pr):
    before = {i: sysctls(lab, i) for i in OWNER.values()}
    assert all(v == {"arp_ignore": "0", "arp_announce": "0", "rp_filter": "0"}
               for v in before.values()), before
    # A strict rp_filter on eth1.10 must become loose (2), and go back to 1.
    lab.box.write_sysctl("net/ipv4/conf/eth1.10/rp_filter", 1)
    try:
        start_vlan10(lab, pr)
        assert sysctls(lab, "eth1.10") == {"arp_ignore": "1", "arp_announce": "2", "rp_filter": "2"}
        assert sysctls(lab, "eth0.10") == {"arp_ignore": "1", "arp_announce": "2", "rp_filter": "0"}
        for iface in OWNER.values():
            assert lab.stop(pr, iface).returncode == 0
        assert sysctls(lab, "eth1.10") == {"arp_ignore": "0", "arp_announce": "0", "rp_filter": "1"}
        assert sysctls(lab, "eth0.10") == before["eth0.10"]
    finally:
        lab.box.write_sysctl("net/ipv4/conf/eth1.10/rp_filter", 0)


def test_arp_no_leaves_sysctls_alone(lab, pr):
    start_vlan10(lab, pr, arp="no")
    assert sysctls(lab, "eth1.10") == {"arp_ignore": "0", "arp_announce": "0", "rp_filter": "0"}
    assert sysctls(lab, "eth0.10")["arp_ignore"] == "1"
