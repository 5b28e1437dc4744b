"""rtnetlink requests for the rules policyroute adds and deletes most.

Why not ``ip -batch``: iproute2 sets NLM_F_EXCL on ``rule add``, and the
kernel then compares the new rule with every rule it has; at 30,000 rules
that is worse than quadratic (102 s). Without EXCL, and with the highest
priority added first, insertion stops early in the kernel's list. Whether
a rule exists already is the plan's business (it read the kernel first).

Why not pyroute2's message classes: its import costs ~140 ms and its
encoder ~45-80 us a message (2.5 s for 30,000); a rule request is a dozen
fixed fields, packed here with struct, the same under every Python and
every pyroute2 (or none).

Only the shapes ``rule_request`` knows are translated (the automatic
rules and plain ``rules_`` lines of the same words); everything else goes
through iproute2 as before (kernel.Runner decides). Field layouts are
from the kernel's uapi headers (linux/netlink.h, linux/fib_rules.h).
"""

import errno
import ipaddress
import os
import socket
import struct

from . import bands

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10        # ACKs without a copy of our request
NETLINK_EXT_ACK = 11        # the kernel's own words with an error
SO_RCVBUFFORCE = 33

NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200
NLMSG_ERROR = 2
NLMSGERR_ATTR_MSG = 1
RTM_NEWRULE, RTM_DELRULE = 32, 33

FRA_DST, FRA_SRC, FRA_PRIORITY = 1, 2, 6
FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_PROTOCOL = 14, 15, 21
FR_ACT_TO_TBL = 1
FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}

HEADER = struct.Struct("=IHHII")        # nlmsghdr: len type flags seq pid
RULE = struct.Struct("=BBBBBBBBI")      # fib_rule_hdr
ATTR = struct.Struct("=HH")             # nlattr: len type
U32 = struct.Struct("=HHI")             # nlattr with a u32
U8 = struct.Struct("=HHB3x")            # nlattr with a u8, padded
CHUNK = 256                 # requests per sendmsg: their ACKs fit the receive buffer
RCVBUF = 1 << 20
ALLOWED = frozenset(("from", "to", "priority", "lookup", "suppress_prefixlength", "protocol"))


def rule_request(family, args):
    """(priority, request body) of ``ip rule`` arguments this module
    translates, or None: then iproute2 runs the line. The body (header
    and attributes) is the same for add and del."""
    words = dict(zip(args[::2], args[1::2]))
    if len(args) % 2 or len(words) * 2 != len(args) or not words.keys() <= ALLOWED \
            or "priority" not in words or "lookup" not in words:
        return None
    try:
        return _body(family, words)
    except ValueError:
        return None


def _body(family, words):
    table = bands.RESERVED_TABLES.get(words["lookup"]) or int(words["lookup"])
    priority, protocol = int(words["priority"]), int(words.get("protocol", "0"))
    if not (1 <= table < 2**32 and 0 <= priority < 2**32 and 0 <= protocol < 256):
        raise ValueError(words)
    src = _prefix(family, words["from"]) if "from" in words else (b"", 0)
    dst = _prefix(family, words["to"]) if "to" in words else (b"", 0)
    parts = [RULE.pack(FAMILY[family], dst[1], src[1], 0, table if table < 256 else 0,
                       0, 0, FR_ACT_TO_TBL, 0),
             U32.pack(U32.size, FRA_PRIORITY, priority), U32.pack(U32.size, FRA_TABLE, table)]
    for kind, (addr, length) in ((FRA_SRC, src), (FRA_DST, dst)):
        if length:              # 4 or 16 bytes: no padding
            parts.append(ATTR.pack(ATTR.size + len(addr), kind) + addr)
    if "suppress_prefixlength" in words:
        parts.append(U32.pack(U32.size, FRA_SUPPRESS_PREFIXLEN,
                              int(words["suppress_prefixlength"])))
    if protocol:
        parts.append(U8.pack(ATTR.size + 1, FRA_PROTOCOL, protocol))
    return priority, b"".join(parts)


def _prefix(family, text):
    """(address bytes, prefix length) of ``ip rule``'s ADDR[/LEN]; a
    host-length prefix (every automatic rule's) without ipaddress's cost."""
    addr, _, length = text.partition("/")
    full = 32 if family == 4 else 128
    if not length or length == str(full):
        try:
            return socket.inet_pton(FAMILY[family], addr), full
        except OSError:
            raise ValueError(text) from None
    net = ipaddress.ip_network(text, strict=False)
    if net.version != family:
        raise ValueError(text)
    return net.network_address.packed, net.prefixlen


def encode(verb, body, seq):
    """One RTM_NEWRULE / RTM_DELRULE request. ``add`` without NLM_F_EXCL."""
    if verb == "add":
        kind, flags = RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
    else:
        kind, flags = RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK
    return HEADER.pack(HEADER.size + len(body), kind, flags, seq, 0) + body


class Socket:
    """A plain rtnetlink socket in the namespace the process is in."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            self.sock.bind((0, 0))
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
                self.sock.setsockopt(SOL_NETLINK, option, 1)
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        except OSError:
            self.sock.close()
            raise
        self.seq = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, requests, force=False):
        """Send requests [(verb, body)], CHUNK per sendmsg, and
        read one ACK each: (indices applied, [(index, iproute2's words)]
        refused). The kernel runs every request of a chunk whatever the
        others do, so after a refusal the chunk's other requests may be
        applied too; without force no later chunk is sent."""
        ok, refused = [], []
        for start in range(0, len(requests), CHUNK):
            chunk = requests[start:start + CHUNK]
            errors = self._chunk(chunk, start)
            ok += sorted(set(range(start, start + len(chunk))) - {i for i, _w in errors})
            refused += errors
            if refused and not force:
                break
        return ok, refused

    def _chunk(self, requests, start):
        base = self.seq
        self.seq += len(requests)
        self.sock.sendall(b"".join(encode(verb, body, base + i + 1)
                                   for i, (verb, body) in enumerate(requests)))
        pending, errors = set(range(base + 1, base + len(requests) + 1)), []
        while pending:
            for seq, code, words in _acks(self.sock.recv(1 << 16)):
                if seq in pending:
                    pending.discard(seq)
                    if code:
                        errors.append((start + seq - base - 1, words))
        return sorted(errors)


def _acks(data):
    """(seq, errno, words) of every NLMSG_ERROR message in ``data``."""
    offset = 0
    while offset + HEADER.size <= len(data):
        size, kind, flags, seq, _pid = HEADER.unpack_from(data, offset)
        if size < HEADER.size:
            break
        if kind == NLMSG_ERROR:
            code = -struct.unpack_from("=i", data, offset + HEADER.size)[0]
            yield seq, code, _words(data[offset:offset + size], flags, code) if code else ""
        offset += (size + 3) & ~3


def _words(msg, flags, code):
    """iproute2's words for a refusal: the kernel's extended message
    ("Error: ..."), else "RTNETLINK answers: <strerror>"."""
    if flags & NLM_F_ACK_TLVS:
        # error code, then the request's header (capped) or the whole request
        at = HEADER.size + 4 + (HEADER.size if flags & NLM_F_CAPPED
                                else struct.unpack_from("=I", msg, HEADER.size + 4)[0])
        while at + ATTR.size <= len(msg):
            size, kind = ATTR.unpack_from(msg, at)
            if size < ATTR.size:
                break
            if kind == NLMSGERR_ATTR_MSG:
                text = msg[at + ATTR.size:at + size].split(b"\0")[0].decode("utf-8", "replace")
                return f"Error: {text}."
            at += (size + 3) & ~3
    return f"RTNETLINK answers: {os.strerror(code) if code in errno.errorcode else code}"
