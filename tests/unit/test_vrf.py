"""vrf.refusal on the kernel's own JSON (ip -json link show / vrf show)."""

from policyroute import vrf

LINKS = [{"ifname": "eth0.10"},
         {"ifname": "vrf-blue", "flags": ["MASTER", "UP"]},
         {"ifname": "eth2", "master": "vrf-blue"},
         {"ifname": "bond0.10", "master": "br0"},
         {"ifname": "br0"}]
VRFS = [{"name": "vrf-blue", "table": 10}]


def test_a_slave_and_the_vrf_device_are_refused_with_the_vrf_table_named():
    err = vrf.refusal("eth2", "eth2", "blue2", LINKS, VRFS)
    assert err.message().startswith("table_eth2: 'blue2' eth2 is enslaved to VRF vrf-blue "
                                     "(table 10): ")
    assert 'routes_eth2="... table 10"' in err.message()
    assert vrf.refusal("vrf-blue", "vrf_blue", "b", LINKS, VRFS).message().startswith(
        "table_vrf_blue: 'b' vrf-blue is a VRF device (table 10)")


def test_other_links_pass():
    assert vrf.refusal("eth0.10", "eth0_10", "e0v10", LINKS, VRFS) is None
    assert vrf.refusal("bond0.10", "bond0_10", "b", LINKS, VRFS) is None    # a bridge master
    assert vrf.refusal("eth9", "eth9", "e9", LINKS, VRFS) is None           # not made yet
    assert vrf.refusal("eth2", "eth2", None, LINKS, VRFS) is None           # no table_
