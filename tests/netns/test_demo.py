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
    assert "back to the starting rule set: yes" in after
    assert "Traceback" not in out + proc.stderr
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "prdemo-" not in listed
