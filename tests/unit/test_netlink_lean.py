"""How netlink.py loads pyroute2, without a kernel: the netlink layer
alone (not pyroute2/__init__.py, which imports all of pyroute2), with
sys.modules left so that a later ``import pyroute2`` is the whole
package.

The imports run in a fresh interpreter each (a clean sys.modules): the
venv's python (pyroute2 0.9) and, when it has pyroute2, the system
python3 the installed helper runs on (Debian's 0.7)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policyroute import netlink

PYTHON_DIR = str(Path(__file__).resolve().parents[2] / "python")
needs_pyroute2 = pytest.mark.skipif(netlink.library() is None, reason="no pyroute2")


def interpreters():
    """(python, flags): the venv's as the tests run, and the system python3
    as the installed helper runs it (no site: library() adds it)."""
    out = [pytest.param([sys.executable], id="venv")]
    system = "/usr/bin/python3"
    if os.path.exists(system) and subprocess.run(
            [system, "-c", "import pyroute2"], capture_output=True).returncode == 0:
        out.append(pytest.param([system, "-I", "-S"], id="system"))
    return out


# What the child prints: whether the lean import left pyroute2 out of
# sys.modules, an ACK and a refusal as netlink.acks reads them from bytes
# made like the kernel's, and whether the whole package imports afterwards.
CHILD = r"""
import json, struct, sys
sys.path.insert(0, sys.argv[1])
PRELOAD
from policyroute import netlink
lib = netlink.library()
out = {"left": sorted(m for m in sys.modules if m.split(".")[0] == "pyroute2")}
_p, fields = netlink.rule_request(6, "from 2001:db8::1 priority 5 lookup 1025".split())
data = netlink.encode(fields, 7)
head = struct.Struct("=IHHII")
ack = head.pack(36, netlink.NLMSG_ERROR, 0x100, 7, 0) + struct.pack("=i", 0) + data[:16]
refused = head.pack(20 + len(data), netlink.NLMSG_ERROR, 0, 8, 0) + struct.pack("=i", -17) + data
out["acks"] = list(netlink.acks(lib["Marshal"](), ack + refused))
out["after_use"] = sorted(m for m in sys.modules if m.split(".")[0] == "pyroute2")
import pyroute2
out["whole"] = [pyroute2.IPRoute.__name__, pyroute2.netlink.rtnl.fibmsg.fibmsg.__name__,
                hasattr(pyroute2, "IPRSocket")]
out["same"] = pyroute2.netlink.rtnl.fibmsg.fibmsg is lib["fibmsg"]
print(json.dumps(out))
"""


def child(python, preload=""):
    proc = subprocess.run([*python, "-c", CHILD.replace("PRELOAD", preload), PYTHON_DIR],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_pyroute2
@pytest.mark.parametrize("python", interpreters())
def test_lean_import_encodes_and_reads_acks_then_leaves_pyroute2_whole(python):
    out = child(python)
    assert out["left"] == [] and out["after_use"] == []     # nothing imported later either
    assert out["acks"] == [[7, ""], [8, "RTNETLINK answers: File exists"]]
    assert out["whole"] == ["IPRoute", "fibmsg", True]
    assert out["same"] is False         # the whole package was loaded afresh


@needs_pyroute2
@pytest.mark.parametrize("python", interpreters())
def test_pyroute2_imported_already_is_used_as_it_is(python):
    out = child(python, "import site\nsite.main()\nimport pyroute2")     # -S: no site yet
    assert "pyroute2" in out["left"] and out["same"] is True
    assert out["acks"] == [[7, ""], [8, "RTNETLINK answers: File exists"]]


@needs_pyroute2
def test_a_failing_lean_import_falls_back_to_the_whole_package():
    # the bare package has no __file__: make its first import fail there
    preload = ("from policyroute import netlink\n"
               "real = netlink._import\n"
               "def failing():\n"
               "    bare = sys.modules.get('pyroute2')\n"
               "    if bare is not None and not hasattr(bare, '__file__'):\n"
               "        raise RuntimeError('lean')\n"
               "    return real()\n"
               "netlink._import = failing")
    out = child([sys.executable], preload)
    assert "pyroute2" in out["left"] and out["same"] is True
    assert out["acks"] == [[7, ""], [8, "RTNETLINK answers: File exists"]]


def test_without_pyroute2_library_is_none(tmp_path):
    # a pyroute2 that cannot be imported, first on the path
    (tmp_path / "pyroute2").mkdir()
    (tmp_path / "pyroute2" / "__init__.py").write_text("raise ImportError('broken')\n")
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
            "from policyroute import netlink\n"
            "print(netlink.library(), sorted(m for m in sys.modules if 'pyroute2' in m))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), PYTHON_DIR],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["None", "[]"]
