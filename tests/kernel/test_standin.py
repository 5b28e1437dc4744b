"""The vlan stand-in (tests/openrc/modules/vlan.sh) on real 802.1Q: the
nesting /work/shared/netifrc-contract.md describes, seen by a module that
logs every hook (guest/scenario_standin.sh, one boot, no policyroute)."""

from __future__ import annotations

import pytest

from . import checks

pytestmark = pytest.mark.root


def test_vlans_start_nested_in_the_parents_post_start(standin):
    assert standin.block("start").rc == 0, standin.block("start").text
    # RC_SVCNAME and IFACE follow the VLAN; what eth0's run set in the
    # shell (seen=eth0,) is still set in each VLAN's hooks.
    assert standin.block("trace-start").lines() == [
        "pre_start net.eth0 eth0 eth0 seen=",
        "post_start net.eth0 eth0 eth0 seen=eth0,",
        "pre_start net.eth0.10 eth0.10 eth0_10 seen=eth0,",
        "post_start net.eth0.10 eth0.10 eth0_10 seen=eth0,eth0.10,",
        "pre_start net.eth0.11 eth0.11 eth0_11 seen=eth0,",
        "post_start net.eth0.11 eth0.11 eth0_11 seen=eth0,eth0.11,",
    ]


def test_service_values_are_kept_per_vlan_service(standin):
    assert standin.block("values").lines() == [
        "net.eth0 eth0", "net.eth0.10 eth0.10", "net.eth0.11 eth0.11"]
    assert {"net.eth0", "net.eth0.10", "net.eth0.11"} <= set(standin.block("started").text.split())


def test_vlan_links_are_8021q_with_their_addresses(standin):
    links = checks.links(standin.block("links"))
    for name, vid in (("eth0.10", 10), ("eth0.11", 11)):
        data = links[name]["linkinfo"]["info_data"]
        assert (links[name]["link"], data["protocol"], data["id"]) == ("eth0", "802.1Q", vid)
        assert links[name]["address"] == links["eth0"]["address"]
    have = checks.addresses(standin.block("addrs"))
    assert have["eth0.10"] == {"192.0.2.16"} and have["eth0.11"] == {"203.0.113.16"}
    assert have.get("eth0", set()) == set()       # config_eth0="null"


def test_parent_pre_stop_stops_each_vlan_once_then_deletes_it(standin):
    assert standin.block("stop-vlan").rc == 0 and standin.block("stop").rc == 0
    # eth0.11 was stopped on its own first: eth0's stop does not stop it
    # again, but deletes its link with eth0.10's.
    assert standin.block("trace-stop").lines() == [
        "pre_stop net.eth0.11 eth0.11 eth0_11 seen=",
        "stop net.eth0.11 eth0.11 eth0_11 seen=",
        "post_stop net.eth0.11 eth0.11 eth0_11 seen=",
        "pre_stop net.eth0.10 eth0.10 eth0_10 seen=",
        "stop net.eth0.10 eth0.10 eth0_10 seen=",
        "post_stop net.eth0.10 eth0.10 eth0_10 seen=",
        "pre_stop net.eth0 eth0 eth0 seen=",
        "stop net.eth0 eth0 eth0 seen=",
        "post_stop net.eth0 eth0 eth0 seen=",
    ]
    links = checks.links(standin.block("links-stopped"))
    assert "eth0.10" not in links and "eth0.11" not in links and "eth0" in links
    assert not {s for s in standin.block("started-stopped").text.split()
                if s.startswith("net.")}
