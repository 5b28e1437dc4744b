"""Some 2,000 addresses through the helper as installed (/usr/bin/python3):
post-start leaves exactly the rules its record lists (no duplicate, none
missing, every address sent to its table), and stop takes the rule set
back to where it was. The addresses are scattered (odd host numbers), so
no layout compacts them much; the rule layout itself is plan.py's. There
are enough IPv6 ones (two rules each) for their rules to pass
netlink.THRESHOLD and go by pyroute2; the IPv4 ones go through ip -batch.
"""

import ipaddress
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from netns_checks import veth_netns

from policyroute import netlink, observe, plan
from policyroute.state import Record

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
IFACE = "eth1.10"
V4 = 254                        # odd hosts of two documentation /24s
ADDRESSES = 2 + V4 + netlink.THRESHOLD // 2 + 100

pytestmark = pytest.mark.skipif(PYTHON is None, reason="no /usr/bin/python3")


def aliases():
    """(family, address) of ADDRESSES - 2 scattered aliases: odd IPv4 hosts
    of two documentation /24s, then odd IPv6 hosts."""
    v4 = [f"{net}.{h}" for net in ("198.51.100", "203.0.113") for h in range(1, 255, 2)]
    v6 = [f"2001:db8:1::{2 * i + 1:x}" for i in range(ADDRESSES - 2 - len(v4))]
    return [(4, a) for a in v4] + [(6, a) for a in v6]


def ip(ns, *args, **kw):
    return subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True,
                          text=True, **kw).stdout


@pytest.fixture
def box():
    with veth_netns("prt-nls", [(IFACE, "sw1")]) as ns:
        lines = [f"address add 192.0.2.17/24 dev {IFACE}",
                 f"address add 2001:db8:10::17/64 dev {IFACE} nodad"]
        lines += [f"address add {a}/{32 if f == 4 else 128} dev {IFACE}"
                  + ("" if f == 4 else " nodad") for f, a in aliases()]
        ip(ns, "-batch", "-", input="\n".join(lines) + "\n")
        ip(ns, "-4", "route", "add", "default", "via", "192.0.2.1", "dev", IFACE)
        yield ns


def kernel_rules(ns):
    """(family, key) of every rule, sorted (duplicates stay visible)."""
    out = []
    for family in (4, 6):
        text = ip(ns, f"-{family}", "-N", "-json", "rule", "show")
        out += [(family, observe.rule_key(j, family)) for j in json.loads(text)]
    return sorted(out, key=lambda fk: (fk[0], sorted(fk[1])))


def helper(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"),
               POLICYROUTE_STATE_DIR=str(tmp_path / "run"),
               POLICYROUTE_IPROUTE2_DIR=str(tmp_path / "etc"),
               POLICYROUTE_IPROUTE2_DATA_DIRS="")
    # -S as installed (the helper adds site for pyroute2); importtime
    # shows which modules it imported
    t = time.perf_counter()
    proc = subprocess.run([PYTHON, "-S", "-X", "importtime", "-m", "policyroute", *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return time.perf_counter() - t, proc.stderr


NETLINK = "pyroute2.netlink.rtnl.fibmsg"     # imported only when rules go by netlink


def uncovered(addresses, rules, table):
    """The addresses no rule sends to the table: none has a ``from``
    prefix holding the address and ``lookup TABLE``."""
    sources = {(fam, dict(k)["from"]) for fam, k in rules
               if dict(k).get("action") == f"lookup {table}" and "from" in dict(k)}
    return [(f, a) for f, a in addresses
            if not any((f, str(ipaddress.ip_network(f"{a}/{n}", strict=False))) in sources
                       for n in range(32 if f == 4 else 128, -1, -1))]


def test_two_thousand_addresses_exact_rules_and_back(box, tmp_path):
    before = kernel_rules(box)
    values = [IFACE, "--netns", box, "--table", "e1v10"]
    helper(tmp_path, "pre-start", *values)
    took, imported = helper(tmp_path, "post-start", *values)
    assert NETLINK in imported
    record = Record.from_json((tmp_path / "run" / "netns" / box / f"{IFACE}.json").read_text())
    ours = sorted(((o.family, o.key) for o in record.objects if o.kind == "rule"),
                  key=lambda fk: (fk[0], sorted(fk[1])))
    after = kernel_rules(box)
    assert after == sorted(before + ours, key=lambda fk: (fk[0], sorted(fk[1])))
    assert len(ours) == len(set(ours)) >= ADDRESSES
    assert uncovered([(4, "192.0.2.17"), (6, "2001:db8:10::17"), *aliases()],
                     ours, record.table) == []
    assert all(o.key == plan.key_of_args(o.kind, o.family, o.args) for o in record.objects)
    gone, imported = helper(tmp_path, "stop", IFACE, "--netns", box)
    assert NETLINK not in imported                      # deletions go through ip -batch
    assert kernel_rules(box) == before
    assert not (tmp_path / "run" / "netns" / box / f"{IFACE}.json").exists()
    print(f"{ADDRESSES} addresses, {len(ours)} rules: post-start {took:.2f} s, stop {gone:.2f} s")
