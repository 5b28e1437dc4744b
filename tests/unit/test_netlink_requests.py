"""netlink.py without a kernel: which rule lines it translates, the bytes
pyroute2 makes of a request (read back field by field against the uapi
layout, independently of pyroute2), the words of an ACK the kernel
refused with, and when kernel.Runner uses netlink at all."""

import socket
import struct
import sys

import pytest

from policyroute import kernel, netlink
from policyroute.kernel import Runner, _kernel_order, _netlink_priorities, _rule_request, _runs

AUTO = "from 192.0.2.17/32 priority 20001 lookup 1025 suppress_prefixlength 0 protocol 201"
HEADER = struct.Struct("=IHHII")        # nlmsghdr: len type flags seq pid
RULE = struct.Struct("=BBBBBBBBI")      # fib_rule_hdr
FRA_DST, FRA_SRC, FRA_PRIORITY = 1, 2, 6
FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_PROTOCOL = 14, 15, 21
RTM_NEWRULE = 32

needs_pyroute2 = pytest.mark.skipif(netlink.library() is None, reason="no pyroute2")


def request(family, line, seq=7):
    """(nlmsghdr fields, fib_rule_hdr fields, {attr type: payload})."""
    _priority, fields = netlink.rule_request(family, line.split())
    data = netlink.encode(fields, seq)
    header = HEADER.unpack_from(data)
    assert header[0] == len(data)
    out, at = {}, HEADER.size + RULE.size
    while at < len(data):
        size, kind = struct.unpack_from("=HH", data, at)
        out[kind] = data[at + 4:at + size]
        at += (size + 3) & ~3
    assert at == len(data)
    return header, RULE.unpack_from(data, HEADER.size), out


@needs_pyroute2
def test_an_automatic_rule_is_sent_as_iproute2_would_send_it():
    _h, rule, attrs = request(4, AUTO)
    family, dst_len, src_len, tos, table, _r1, _r2, action, flags = rule
    assert (family, dst_len, src_len, tos, action, flags) == (socket.AF_INET, 0, 32, 0, 1, 0)
    assert table == 0                   # 1025 does not fit the header's byte: FRA_TABLE says it
    assert attrs == {FRA_PRIORITY: struct.pack("=I", 20001),
                     FRA_TABLE: struct.pack("=I", 1025),
                     FRA_SRC: socket.inet_pton(socket.AF_INET, "192.0.2.17"),
                     FRA_SUPPRESS_PREFIXLEN: struct.pack("=I", 0),
                     FRA_PROTOCOL: b"\xc9"}


@needs_pyroute2
def test_ipv6_prefix_and_main_table():
    _h, rule, attrs = request(6, "from 2001:db8:10::/64 to 2001:db8::1 priority 5 "
                                 "lookup main protocol 201")
    _f, dst_len, src_len, _t, table, *_rest = rule
    assert (dst_len, src_len, table) == (128, 64, 254)
    assert attrs[FRA_SRC] == socket.inet_pton(socket.AF_INET6, "2001:db8:10::")
    assert attrs[FRA_DST] == socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    assert FRA_SUPPRESS_PREFIXLEN not in attrs


@needs_pyroute2
def test_add_has_no_excl():
    (_size, got_kind, got_flags, seq, pid), _r, _a = request(4, AUTO, 7)
    assert (got_kind, got_flags, seq, pid) == (RTM_NEWRULE, 0x405, 7, 0)


@pytest.mark.parametrize("line", [
    "iif eth0 priority 5 lookup 100",                 # a word netlink.py does not know
    "not from 192.0.2.17 priority 5 lookup 100",
    "fwmark 0x10 priority 5 lookup 100",
    "from 192.0.2.17 priority 5 blackhole",
    "from 192.0.2.17 priority 5 goto 7",
    "from 192.0.2.17 lookup 100",                     # no priority
    "from 192.0.2.17 priority 5",                     # no action
    "from 192.0.2.17 priority 5 lookup unspec",
    "from 192.0.2.17 priority 5 lookup e1v10",        # a name: plan gives numbers
    "from 192.0.2.17 priority 5 lookup 100 protocol static",
    "from all priority 5 lookup 100",
    "from 2001:db8::1 priority 5 lookup 100",         # not IPv4
    "from 192.0.2.17 from 192.0.2.18 priority 5 lookup 100",
])
def test_lines_left_to_iproute2(line):
    assert netlink.rule_request(4, line.split()) is None


def test_runs_keep_the_order_and_split_by_channel():
    runs = _runs([20001, None, 20002, 22001])
    assert runs == [(Runner._netlink, 0, 1), (Runner._ip_batch, 1, 2), (Runner._netlink, 2, 4)]
    assert _runs([None, None]) == [(Runner._ip_batch, 0, 2)] and _runs([]) == []
    # in one run, adds go highest priority first; equal ones keep their order
    assert _kernel_order([21001, 20001, 22001, 22001]) == [2, 3, 0, 1]


def test_deletions_go_through_ip():
    assert _rule_request(4, "rule del from 192.0.2.17/32 priority 20001 lookup 1025 "
                            "protocol 201") is None
    assert _rule_request(4, "rule add from 192.0.2.17/32 priority 20001 lookup 1025 "
                            "protocol 201")[0] == 20001


def lines(count):
    return [f"rule add from 192.0.2.{i % 250 + 1}/32 priority {20001 + i} lookup 1025 "
            f"protocol 201" for i in range(count)]


def test_a_small_call_goes_through_ip_and_does_not_import_pyroute2(monkeypatch):
    monkeypatch.setattr(netlink, "_library", [])
    monkeypatch.delitem(sys.modules, "pyroute2", raising=False)
    small = lines(netlink.THRESHOLD - 1) + ["route add 192.0.2.0/24 dev eth0 table 1025"]
    assert _netlink_priorities(4, small) == [None] * len(small)
    assert netlink._library == [] and "pyroute2" not in sys.modules


@needs_pyroute2
def test_a_large_call_goes_by_netlink_but_not_its_other_lines():
    big = lines(netlink.THRESHOLD) + ["route add 192.0.2.0/24 dev eth0 table 1025"]
    priorities = _netlink_priorities(4, big)
    assert priorities[:2] == [20001, 20002]
    assert None not in priorities[:-1] and priorities[-1] is None


def test_without_pyroute2_a_large_call_goes_through_ip(monkeypatch):
    monkeypatch.setattr(netlink, "_library", [None])
    big = lines(netlink.THRESHOLD)
    assert _netlink_priorities(4, big) == [None] * len(big)
    assert _runs(_netlink_priorities(4, big)) == [(kernel.Runner._ip_batch, 0, len(big))]


def ack(seq, code, text=None):
    """An NLMSG_ERROR message as the kernel sends it with EXT_ACK: the
    error, the request (whole when refused) and maybe the kernel's words."""
    flags, tlv = 0, b""
    request = netlink.encode(netlink.rule_request(4, AUTO.split())[1], seq)
    if not code:
        request = request[:HEADER.size]
        flags |= 0x100                                  # NLM_F_CAPPED
    if text is not None:
        flags |= 0x200                                  # NLM_F_ACK_TLVS
        payload = text.encode() + b"\0"
        tlv = struct.pack("=HH", 4 + len(payload), 1) + payload   # NLMSGERR_ATTR_MSG
        tlv += b"\0" * (-len(tlv) % 4)
    body = struct.pack("=i", -code) + request + tlv
    return HEADER.pack(16 + len(body), netlink.NLMSG_ERROR, flags, seq, 1) + body


@needs_pyroute2
def test_ack_words_like_iproute2():
    marshal = netlink.library()["Marshal"]()
    data = ack(1, 0) + ack(2, 2) + ack(3, 22, "Invalid table") + ack(4, 0, "a warning")
    assert list(netlink.acks(marshal, data)) == [
        (1, ""), (2, "RTNETLINK answers: No such file or directory"),
        (3, "Error: Invalid table."), (4, "")]      # a warning with success is no refusal


def test_ip_batch_goes_in_pieces_and_a_refusal_counts_the_pieces_before(monkeypatch):
    """IP_BATCH_LINES lines per ip (an ip -batch grows ~4 KiB a line); a
    refusal in a later piece names its line, and every line before it
    counts as applied."""
    import subprocess
    from policyroute.errors import KernelError
    monkeypatch.setattr(kernel, "IP_BATCH_LINES", 3)
    runs = []

    def fake_ip(self, argv, stdin):
        batch = stdin.splitlines()
        runs.append(batch)
        bad = [i for i, line in enumerate(batch) if "BAD" in line]
        if bad:
            return subprocess.CompletedProcess(argv, 1, "", f"Error: nope.\n"
                                               f"Command failed -:{bad[0] + 1}\n")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(Runner, "_run", fake_ip)
    lines = [f"route add 192.0.2.{i}/32 dev lo table 1025" for i in range(8)]
    Runner().batch(4, lines)
    assert runs == [lines[0:3], lines[3:6], lines[6:8]]
    runs.clear()
    lines[4] = "route add BAD"
    with pytest.raises(KernelError) as e:
        Runner().batch(4, lines)
    assert len(runs) == 2
    assert e.value.done == [0, 1, 2, 3] and e.value.applied == 4
    assert "route add BAD" in str(e.value)
