"""How netlink.py loads pyroute2 and feeds it requests, without a kernel:
the netlink layer alone (not pyroute2/__init__.py, which imports all of
pyroute2), with sys.modules left so that a later ``import pyroute2`` is
the whole package; and requests made from their lines one chunk at a
time, with KernelError.done still the exact lines applied.

The imports run in a fresh interpreter each (a clean sys.modules): the
venv's python (pyroute2 0.9) and, when it has pyroute2, the system
python3 the installed helper runs on (Debian's 0.7)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policyroute import kernel, netlink
from policyroute.errors import KernelError
from policyroute.kernel import Runner

PYTHON_DIR = str(Path(__file__).resolve().parents[2] / "python")
AUTO = "rule add from 192.0.2.17/32 priority 20001 lookup 1025 protocol 201"
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


class FakeSocket:
    """netlink.Socket's send without a socket: records the requests made
    and refuses those whose priority is in ``refuse``."""

    refuse = ()
    sent = []

    def __init__(self):
        self.seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _chunk(self, requests, start):
        FakeSocket.sent.append([r["priority"] for r in requests])
        return [(start + i, "RTNETLINK answers: File exists")
                for i, r in enumerate(requests) if r["priority"] in self.refuse]

    send = netlink.Socket.send


@pytest.fixture
def fake_socket(monkeypatch):
    monkeypatch.setattr(netlink, "Socket", FakeSocket)
    monkeypatch.setattr(netlink, "CHUNK", 4)
    monkeypatch.setattr(netlink, "THRESHOLD", 3)
    monkeypatch.setattr(netlink, "_library", [{}])
    FakeSocket.sent, FakeSocket.refuse = [], ()
    return FakeSocket


def adds(priorities):
    return [AUTO.replace("20001", str(p)) for p in priorities]


def test_requests_are_made_a_chunk_at_a_time_highest_priority_first(fake_socket):
    Runner().batch(4, adds(range(20001, 20011)))
    assert fake_socket.sent == [[20010, 20009, 20008, 20007], [20006, 20005, 20004, 20003],
                                [20002, 20001]]


def test_after_a_refusal_no_later_chunk_is_made_and_done_is_exact(fake_socket, monkeypatch):
    ran = []
    monkeypatch.setattr(Runner, "_ip", lambda self, family, lines, force: ran.append(lines))
    fake_socket.refuse = {20008}
    lines = ["route add 192.0.2.0/24 dev lo table 1025"] + adds(range(20001, 20011))
    with pytest.raises(KernelError) as e:
        Runner().batch(4, lines)
    assert ran == [lines[:1]] and len(fake_socket.sent) == 1
    # line 0 by ip; of the first chunk (20010..20007: lines 10, 9, 8, 7), 20008 refused
    assert e.value.done == [0, 7, 9, 10] and e.value.applied == 11
    assert "priority 20008" in str(e.value) and "File exists" in str(e.value)


def test_force_sends_every_chunk(fake_socket):
    fake_socket.refuse = {20010}
    Runner().batch(4, adds(range(20001, 20011)), force=True)
    assert sum(len(c) for c in fake_socket.sent) == 10


def test_below_the_threshold_no_request_is_made(fake_socket, monkeypatch):
    monkeypatch.setattr(netlink, "THRESHOLD", 11)
    ran = []
    monkeypatch.setattr(Runner, "_ip", lambda self, family, lines, force: ran.append(lines))
    lines = adds(range(20001, 20011))
    Runner().batch(4, lines)
    assert fake_socket.sent == [] and ran == [lines]


def test_the_refused_run_after_others_counts_them_applied(fake_socket, monkeypatch):
    monkeypatch.setattr(Runner, "_ip", lambda self, family, lines, force: None)
    fake_socket.refuse = {20001}
    lines = adds([20003, 20002]) + ["route add 192.0.2.0/24 dev lo table 1025"] \
        + adds([20001, 20004])
    with pytest.raises(KernelError) as e:
        Runner().batch(4, lines)
    assert e.value.done == [0, 1, 2, 4]
    assert kernel._netlink_priorities(4, lines) == [20003, 20002, None, 20001, 20004]
