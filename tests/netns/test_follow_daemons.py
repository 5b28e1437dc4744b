"""Addresses that real daemons bring after the start: SLAAC from radvd's
router advertisements (stable and temporary addresses, on both same-subnet
VLAN 11 links) and a DHCP lease from dnsmasq that dhcpcd rebinds to a new
address. The follower gives each its rules and copies the default route
the daemon put in main; real packets leave by the address's own link.

The daemons write nothing of the host's: radvd and dnsmasq keep their
pid and lease files in the test's folder, dhcpcd runs with no hook script
(-c /bin/true, so no resolv.conf), in a mount namespace of its own with
tmpfs over /run and /var/lib/dhcpcd.
"""

import ipaddress
import shutil
import subprocess
import time

import pytest

from netns_checks import holder, lookups, started, wait_for

pytestmark = pytest.mark.usefixtures("clean")

PREFIX11 = "2001:db8:11::"
NET11 = ipaddress.ip_network(f"{PREFIX11}/64")
TABLE11 = {"eth0.11": "e0v11", "eth1.11": "e1v11"}
RADVD_CONF = """interface v11 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    prefix 2001:db8:11::/64 {
        AdvOnLink on;
        AdvAutonomous on;
        AdvValidLifetime 7200;
        AdvPreferredLifetime 3600;
    };
};
"""


def daemon(argv, ns):
    return subprocess.Popen(["ip", "netns", "exec", ns.name, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def end(proc):
    proc.terminate()
    try:
        return proc.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]


def slaac(lab, iface):
    """Global IPv6 addresses the kernel configured from RAs on iface."""
    out = []
    for link in lab.box.ip_json("-N", "-6", "addr", "show", "dev", iface):
        for a in link.get("addr_info", []):
            if a.get("scope") in ("global", "0") and a.get("dynamic") \
                    and ipaddress.ip_address(a["local"]) in NET11:
                out.append(a["local"])
    return sorted(out)


def sysctl6(lab, iface, name, value):
    lab.box.exec("sh", "-c", f"echo {value} > /proc/sys/net/ipv6/conf/{iface}/{name}")


@pytest.fixture
def radvd(lab, tmp_path):
    """radvd on gwA's VLAN 11 link; the box's VLAN 11 links accept RAs
    (eth0.11 with temporary addresses too). All undone afterwards."""
    gw = lab.ns["gwA"]
    gw.ip("addr", "add", f"{PREFIX11}2/64", "dev", "v11", "nodad")
    gw.write_sysctl("net.ipv6.conf.all.forwarding", 1)
    for iface in TABLE11:
        sysctl6(lab, iface, "accept_ra", 1)
    sysctl6(lab, "eth0.11", "use_tempaddr", 2)
    conf = tmp_path / "radvd.conf"
    conf.write_text(RADVD_CONF)
    holder_ = {}
    yield lambda: holder_.setdefault("proc", daemon(
        [shutil.which("radvd"), "--nodaemon", "-C", str(conf), "-p", str(tmp_path / "radvd.pid"),
         "-m", "stderr"], gw))
    if "proc" in holder_:
        end(holder_["proc"])
    for iface in TABLE11:
        sysctl6(lab, iface, "accept_ra", 0)
        lab.box.ip("-6", "addr", "flush", "dev", iface, "scope", "global", check=False)
        lab.box.ip("-6", "route", "del", f"{PREFIX11}/64", "dev", iface, check=False)
    sysctl6(lab, "eth0.11", "use_tempaddr", 0)
    lab.box.ip("-6", "route", "flush", "proto", "ra", check=False)
    gw.write_sysctl("net.ipv6.conf.all.forwarding", 0)
    gw.ip("addr", "del", f"{PREFIX11}2/64", "dev", "v11", check=False)


def test_slaac_after_start_gets_rules_default_and_its_own_link(lab, pr, radvd):
    tables = {}
    for iface, table in TABLE11.items():
        started(lab.start(pr, iface, table))
        tables[iface] = str(pr.table_number(table))
        assert slaac(lab, iface) == []
    radvd()                                  # router advertisements arrive after the start
    assert wait_for(lambda: len(slaac(lab, "eth0.11")) == 2, timeout=20), \
        lab.box.ip("-6", "addr", "show", "dev", "eth0.11").stdout
    assert wait_for(lambda: len(slaac(lab, "eth1.11")) == 1, timeout=20)
    for iface in TABLE11:
        for address in slaac(lab, iface):
            assert wait_for(lambda: lookups(lab, address) == [tables[iface]]), (iface, address)
        # The RA's default route in main is copied into the interface's table.
        assert wait_for(lambda: [r for r in lab.box.ip_json(
            "-N", "-6", "route", "show", "table", tables[iface], "default")
            if str(r.get("protocol")) == "201" and r.get("dev") == iface]), iface

    for iface in TABLE11:
        address = slaac(lab, iface)[0]
        assert lab.route_get("2001:db8:ffff::1", address)["dev"] == iface
        answers = []
        delta = lab.tx_delta(lambda: answers.extend(
            lab.probe(address, "2001:db8:ffff::1", count=10)))
        assert {a.split()[0] for a in answers} == {"gwA"} and len(answers) == 10, answers
        assert delta[iface] >= 10, delta
        assert delta["eth0.10"] <= 3 and delta["eth1.10"] <= 3, delta


DHCPCD = ("mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/dhcpcd && "
          "exec dhcpcd -B -4 -A -f /dev/null -c /bin/true -C resolv.conf --noipv4ll -d eth1.11")


@pytest.fixture
def dhcp(lab, tmp_path):
    """dnsmasq on gwB's VLAN 11 link handing out one address at a time;
    dhcpcd on the box's eth1.11. Both ended afterwards (dhcpcd removes
    its address and routes as it stops). eth1.11 gives up its static
    address meanwhile, as with config_eth1_11="dhcp"."""
    procs = {}
    lab.box.ip("addr", "del", "203.0.113.17/24", "dev", "eth1.11")

    def serve(address):
        if "dnsmasq" in procs:
            end(procs.pop("dnsmasq"))
            (tmp_path / "leases").unlink(missing_ok=True)
        procs["dnsmasq"] = daemon(
            [shutil.which("dnsmasq"), "--no-daemon", "--conf-file=/dev/null", "--port=0",
             "--interface=v11", "--bind-interfaces", f"--dhcp-range={address},{address},1h",
             f"--dhcp-leasefile={tmp_path / 'leases'}", "--pid-file=", "--dhcp-authoritative",
             "--user=root", "--group=root"], lab.ns["gwB"])
        time.sleep(0.3)

    def client():
        procs["dhcpcd"] = daemon(["sh", "-c", DHCPCD], lab.box)
        return procs["dhcpcd"]

    yield serve, client
    for name in ("dhcpcd", "dnsmasq"):
        if name in procs:
            end(procs[name])
    lab.box.ip("addr", "add", "203.0.113.17/24", "dev", "eth1.11")


def test_dhcp_lease_and_rebind_to_a_new_address(lab, pr, dhcp):
    serve, client = dhcp
    started(lab.start(pr, "eth1.11", "e1v11", routes=False))
    table = str(pr.table_number("e1v11"))
    serve("203.0.113.60")
    dhcpcd = client()
    assert wait_for(lambda: holder(lab, "203.0.113.60") == "eth1.11", timeout=30)
    assert wait_for(lambda: lookups(lab, "203.0.113.60") == [table])
    # dhcpcd's default route in main, copied into the table the start left empty.
    assert wait_for(lambda: [r for r in lab.box.ip_json("-N", "route", "show", "table", table,
                                                        "default")
                             if r.get("gateway") == "203.0.113.3"
                             and str(r.get("protocol")) == "201"])
    assert lab.route_get("198.51.100.1", "203.0.113.60")["dev"] == "eth1.11"
    assert lab.who_answers("203.0.113.60", "198.51.100.1", count=3) == {"gwB"}

    serve("203.0.113.61")                    # the old address is no longer offered
    rebind = subprocess.run(["nsenter", "-t", str(dhcpcd.pid), "-m", "-n", "dhcpcd", "-n", "-4",
                             "eth1.11"], capture_output=True, text=True, timeout=30)
    assert rebind.returncode == 0, rebind.stderr
    assert wait_for(lambda: holder(lab, "203.0.113.61") == "eth1.11", timeout=30)
    assert wait_for(lambda: lookups(lab, "203.0.113.61") == [table])
    assert wait_for(lambda: lookups(lab, "203.0.113.60") == [])
    assert lab.who_answers("203.0.113.61", "198.51.100.1", count=3) == {"gwB"}
