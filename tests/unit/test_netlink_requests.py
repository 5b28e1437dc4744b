"""netlink.py without a kernel: which rule lines it translates, the bytes
of a request (read back field by field against the uapi layout), and
the words of an ACK the kernel refused with."""

import socket
import struct

import pytest

from policyroute import netlink
from policyroute.kernel import _kernel_order, _runs, Runner

AUTO = "from 192.0.2.17/32 priority 20001 lookup 1025 suppress_prefixlength 0 protocol 201"


def attrs(body):
    """{type: payload} of the attributes after the 12-byte fib_rule_hdr."""
    out, at = {}, netlink.RULE.size
    while at < len(body):
        size, kind = struct.unpack_from("=HH", body, at)
        out[kind] = body[at + 4:at + size]
        at += (size + 3) & ~3
    assert at == len(body)
    return out


def test_an_automatic_rule_packs_as_iproute2_would_send_it():
    priority, body = netlink.rule_request(4, AUTO.split())
    assert priority == 20001
    family, dst_len, src_len, tos, table, _r1, _r2, action, flags = \
        netlink.RULE.unpack_from(body)
    assert (family, dst_len, src_len, tos, action, flags) == (socket.AF_INET, 0, 32, 0, 1, 0)
    assert table == 0                   # 1025 does not fit the header's byte: FRA_TABLE says it
    a = attrs(body)
    assert a == {netlink.FRA_PRIORITY: struct.pack("=I", 20001),
                 netlink.FRA_TABLE: struct.pack("=I", 1025),
                 netlink.FRA_SRC: socket.inet_pton(socket.AF_INET, "192.0.2.17"),
                 netlink.FRA_SUPPRESS_PREFIXLEN: struct.pack("=I", 0),
                 netlink.FRA_PROTOCOL: b"\xc9"}


def test_ipv6_prefix_and_main_table():
    _p, body = netlink.rule_request(6, "from 2001:db8:10::/64 to 2001:db8::1 priority 5 "
                                       "lookup main protocol 201".split())
    _f, dst_len, src_len, _t, table, *_rest = netlink.RULE.unpack_from(body)
    assert (dst_len, src_len, table) == (128, 64, 254)
    a = attrs(body)
    assert a[netlink.FRA_SRC] == socket.inet_pton(socket.AF_INET6, "2001:db8:10::")
    assert a[netlink.FRA_DST] == socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    assert netlink.FRA_SUPPRESS_PREFIXLEN not in a


def test_add_has_no_excl_and_del_no_create():
    _p, body = netlink.rule_request(4, AUTO.split())
    for verb, kind, flags in (("add", netlink.RTM_NEWRULE, 0x405),
                              ("del", netlink.RTM_DELRULE, 0x5)):
        size, got_kind, got_flags, seq, pid = netlink.HEADER.unpack_from(
            netlink.encode(verb, body, 7))
        assert (size, got_kind, got_flags, seq, pid) == (16 + len(body), kind, flags, 7, 0)


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
    lines = [f"rule add {AUTO}", "route add 192.0.2.0/24 dev eth0 table 1025",
             f"rule add {AUTO.replace('20001', '20002')}", f"rule del {AUTO}"]
    runs = _runs(4, lines)
    assert [(channel, [i for i, _r in run]) for channel, run in runs] == [
        (Runner._netlink, [0]), (Runner._ip_batch, [1]), (Runner._netlink, [2, 3])]
    # in one run: the plan's order of verbs stays (make before break);
    # within a stretch of one verb, adds highest priority first and
    # deletions lowest first
    requests = [("del", 21001, b""), ("del", 20001, b""), ("add", 20001, b""),
                ("add", 22001, b""), ("del", 22002, b""), ("del", 20002, b"")]
    assert _kernel_order(requests) == [1, 0, 3, 2, 5, 4]


def ack(seq, code, text=None):
    """An NLMSG_ERROR message as the kernel sends it with CAP_ACK/EXT_ACK."""
    flags = netlink.NLM_F_CAPPED
    tlv = b""
    if text is not None:
        flags |= netlink.NLM_F_ACK_TLVS
        payload = text.encode() + b"\0"
        tlv = struct.pack("=HH", 4 + len(payload), netlink.NLMSGERR_ATTR_MSG) + payload
        tlv += b"\0" * (-len(tlv) % 4)
    body = struct.pack("=i", -code) + netlink.HEADER.pack(16, 32, 0x405, seq, 0) + tlv
    return netlink.HEADER.pack(16 + len(body), netlink.NLMSG_ERROR, flags, seq, 1) + body


def test_ack_words_like_iproute2():
    data = ack(1, 0) + ack(2, 2) + ack(3, 22, "Invalid table")
    assert list(netlink._acks(data)) == [
        (1, 0, ""), (2, 2, "RTNETLINK answers: No such file or directory"),
        (3, 22, "Error: Invalid table.")]
