"""`make demo` itself: it must run green and show the routing change."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.root


def test_demo_runs_and_shows_the_switch():
    proc = subprocess.run([sys.executable, str(REPO / "tests/lab/demo.py")],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    before, _, after = out.partition("== Live packets with policyroute")
    assert "from 192.0.2.17       -> gwA" in before          # the bug, shown first
    assert "from 192.0.2.17       -> gwB" in after
    assert "from 192.0.2.16       -> gwA" in after
    assert "from 2001:db8:10::17  -> gwB" in after
    added, _, dark = after.partition("== Switch B's port for eth1.10 goes dark")
    dark, _, back = dark.partition("== The port comes back")
    assert "from 192.0.2.100      -> gwB" in added            # followed at once
    assert "192.0.2.100 on eth0.10 after" in dark and "NOT MOVED" not in dark
    assert "from 192.0.2.100      -> gwA" in dark and "lent       192.0.2.100/24 to eth0.10" in dark
    assert "192.0.2.100 on eth1.10" in back and "from 192.0.2.100      -> gwB" in back
    assert "back to the starting rule set: yes" in after
    assert "Traceback" not in out + proc.stderr
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "prdemo-" not in listed
