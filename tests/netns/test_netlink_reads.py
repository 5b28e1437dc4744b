"""post-start reads the kernel once per family before applying (the VRF
check rides on the IPv4 read) and applies rules by netlink.

`ip` is a wrapper (POLICYROUTE_IP) that logs its arguments, so the
test sees every iproute2 run the helper makes.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netns_checks import veth_netns

REPO = Path(__file__).resolve().parents[2]
IFACE = "eth1.10"
WRAPPER = """#!/bin/sh
echo "$*" >> {log}
exec ip "$@"
"""


def ip(ns, *args, check=True):
    return subprocess.run(["ip", "-n", ns, *args], check=check, capture_output=True, text=True)


@pytest.fixture
def box():
    with veth_netns("prt-nlr", [(IFACE, "sw1")]) as ns:
        for a in ("192.0.2.17/24", "192.0.2.18/24", "192.0.2.19/24", "192.0.2.20/24"):
            ip(ns, "address", "add", a, "dev", IFACE)
        ip(ns, "route", "add", "default", "via", "192.0.2.1")
        yield ns


@pytest.fixture
def helper(tmp_path):
    log = tmp_path / "ip.log"
    wrapper = tmp_path / "ip"
    wrapper.write_text(WRAPPER.format(log=log))
    wrapper.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), POLICYROUTE_IP=str(wrapper),
               POLICYROUTE_STATE_DIR=str(tmp_path / "run"),
               POLICYROUTE_IPROUTE2_DIR=str(tmp_path / "etc"),
               POLICYROUTE_IPROUTE2_DATA_DIRS="")

    def run(*args):
        log.write_text("")
        proc = subprocess.run([sys.executable, "-m", "policyroute", *args], env=env,
                              capture_output=True, text=True, timeout=60)
        return proc, log.read_text().splitlines()
    run.state_dir = tmp_path / "run"
    return run


def rules(ns):
    return [json.loads(ip(ns, f"-{f}", "-json", "rule", "show").stdout) for f in (4, 6)]


def test_one_read_per_family_before_applying(box, helper):
    values = [IFACE, "--netns", box, "--table", "e1v10"]
    assert helper("pre-start", *values)[0].returncode == 0
    before = rules(box)
    proc, runs = helper("post-start", *values)
    assert proc.returncode == 0, proc.stderr
    first_write = next(i for i, argv in enumerate(runs) if "-json" not in argv.split())
    reads = runs[:first_write]
    assert [r.split()[0] for r in reads] == ["-4", "-6"], runs
    # the rules went by netlink: the writes are routes only
    assert not any(argv for argv in runs if "rule add" in argv)
    after = rules(box)
    record = json.loads(next((helper.state_dir / "netns" / box).glob("*.json")).read_text())
    added = [o for o in record["objects"] if o["kind"] == "rule" and o["family"] == 4]
    assert added and len(after[0]) == len(before[0]) + len(added)    # the layout is plan.py's
    proc, _runs = helper("stop", IFACE, "--netns", box)
    assert proc.returncode == 0, proc.stderr
    assert rules(box) == before


# table_ on a VRF slave, refused before any change from that same read, is
# proven in the kernel tier (tests/kernel/test_bond_vrf.py): this kernel
# has no VRF.
