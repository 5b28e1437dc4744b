"""rtnetlink requests, through pyroute2, for the rules policyroute adds
most. Deletions go through ``ip -batch``: iproute2 sets no NLM_F_EXCL on
them and encodes a message faster than pyroute2's ~70 us (20,001 IPv4
deletions: 0.75 s against 2.3 s).

Why not ``ip -batch``: iproute2 sets NLM_F_EXCL on ``rule add``, and the
kernel then compares the new rule with every rule it has; at 30,000 rules
that is worse than quadratic (102 s). Without EXCL, and with the highest
priority added first, insertion stops early in the kernel's list. Whether
a rule exists already is the plan's business (it read the kernel first).

pyroute2 builds each request (``fibmsg``) and parses each answer (its
``Marshal``, which gives a refusal as a NetlinkError in the header);
this module only batches them and counts the ACKs. Importing them costs
~35 ms and ~2.5 MiB (library: pyroute2's netlink layer alone; the whole
package was ~150 ms and ~23 MiB), so kernel.Runner uses it only for a
run of at least THRESHOLD requests, and falls back to ``ip -batch`` when
it is not installed.

Only the shapes ``rule_request`` knows are translated (the automatic
rules and plain ``rules_`` lines of the same words); everything else goes
through iproute2 as before (kernel.Runner decides).
"""

import itertools
import os
import socket
import sys
import types

from . import bands, site_packages
from .parse import AF
from .plan import prefix

SOL_NETLINK = 270
NETLINK_EXT_ACK = 11        # the kernel's own words with an error
SO_RCVBUFFORCE = 33
CHUNK = 256                 # requests per sendmsg: their ACKs fit the receive buffer
RCVBUF = 1 << 20
# Below this many rule requests in one call, ip -batch is cheaper: at
# 2,048 rule adds ip -batch takes 0.13 s, pyroute2 0.33 s (0.14 s of it
# the whole package's import, ~45-90 us a message to encode and parse);
# at 4,096 both ~0.45 s; at 16,384 ip 9.0 s (EXCL), netlink 2.0 s
# (docs/design.md). Measured before library() imported the netlink layer
# alone (~35 ms): the crossover may now be lower; not measured again.
THRESHOLD = 3072
ALLOWED = frozenset(("from", "to", "priority", "lookup", "suppress_prefixlength", "protocol"))
NLMSG_ERROR = 2             # linux/netlink.h: an ACK (error 0) or a refusal
_library = []               # [pyroute2 pieces or None], once looked for
NLMSG_HDRLEN = 16
# linux/rtnetlink.h: RTNLGRP_IPV4_RULE 8, RTNLGRP_IPV6_RULE 19, as bind's mask
RULE_GROUPS = 1 << (8 - 1) | 1 << (19 - 1)
# A rule's message takes 1-2 KiB of a receive buffer (2,001 overflow 2 MiB,
# not 4; the kernel doubles what is asked): room for the events of a first
# step of ~3,000 addresses (hold.APART_VALUES), counted at its end
EVENTS_RCVBUF = 8 << 20


def rule_request(family, args):
    """(priority, request fields) of ``ip rule`` arguments this module
    translates, or None: then iproute2 runs the line. The fields are
    made without pyroute2."""
    words = dict(zip(args[::2], args[1::2]))
    if len(args) % 2 or len(words) * 2 != len(args) or not words.keys() <= ALLOWED \
            or "priority" not in words or "lookup" not in words:
        return None
    try:
        return _fields(family, words)
    except ValueError:
        return None


def _fields(family, words):
    table = bands.RESERVED_TABLES.get(words["lookup"]) or int(words["lookup"])
    priority, protocol = int(words["priority"]), int(words.get("protocol", "0"))
    if not (1 <= table < 2**32 and 0 <= priority < 2**32 and 0 <= protocol < 256):
        raise ValueError(words)
    suppress = words.get("suppress_prefixlength")
    if suppress is not None and not 0 <= int(suppress) < 2**32:
        raise ValueError(suppress)
    return priority, {
        "family": AF[family], "priority": priority, "table": table, "protocol": protocol,
        "src": _prefix(family, words["from"]) if "from" in words else None,
        "dst": _prefix(family, words["to"]) if "to" in words else None,
        "suppress_prefixlength": None if suppress is None else int(suppress)}


def _prefix(family, text):
    """(address, prefix length) of ``ip rule``'s ADDR[/LEN] as plan.prefix
    reads it (masked, in inet_ntop's words); "all" and "default" are left
    to iproute2 (ValueError)."""
    if text in ("all", "default"):
        raise ValueError(text)
    address, _, length = prefix(text, family).partition("/")
    return address, int(length)


def library():
    """pyroute2's pieces this module uses, or None when it is not
    importable (then ip -batch runs every line)."""
    if not _library:
        site_packages()
        _library.append(_lean_import() or _import())
    return _library[0]


def _import():
    """The pieces, as pyroute2 imports them; None without pyroute2."""
    try:
        from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST
        from pyroute2.netlink.rtnl import RTM_NEWRULE
        from pyroute2.netlink.rtnl.fibmsg import FR_ACT_TO_TBL, fibmsg
        try:
            from pyroute2.netlink.marshal import Marshal        # 0.9
        except ImportError:
            from pyroute2.netlink.nlsocket import Marshal       # 0.7
    except ImportError:
        return None
    return {"fibmsg": fibmsg, "Marshal": Marshal, "FR_ACT_TO_TBL": FR_ACT_TO_TBL,
            "header": (RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE)}


def _lean_import():
    """The pieces without pyroute2/__init__.py, which imports all of
    pyroute2 (IPRoute, NDB, asyncio, multiprocessing...): ~23 MiB and
    ~150 ms, against ~2.5 MiB and ~35 ms for the netlink layer alone. Its
    modules load under a bare package of the same path, and every
    ``pyroute2`` module is taken out of sys.modules again afterwards, so
    a later ``import pyroute2`` (the follower, tests) runs the real one
    from the start. None when pyroute2 is imported already (then the
    plain import costs nothing) or this way fails (then it is tried)."""
    if "pyroute2" in sys.modules:
        return None
    import importlib.util
    try:
        spec = importlib.util.find_spec("pyroute2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    bare = types.ModuleType("pyroute2")
    bare.__path__ = list(spec.submodule_search_locations)
    sys.modules["pyroute2"] = bare
    try:
        return _import()
    except Exception:           # any failure: the plain import instead
        return None
    finally:
        for name in [m for m in sys.modules if m == "pyroute2" or m.startswith("pyroute2.")]:
            del sys.modules[name]


def encode(fields, seq):
    """One RTM_NEWRULE request, as bytes, without NLM_F_EXCL. Deletions go
    through ip -batch (kernel._rule_request)."""
    lib = library()
    msg = lib["fibmsg"]()
    msg["family"] = fields["family"]
    msg["action"] = lib["FR_ACT_TO_TBL"]
    # the header's table is one byte; FRA_TABLE carries any table
    msg["table"] = fields["table"] if fields["table"] < 256 else 0
    attrs = [("FRA_PRIORITY", fields["priority"]), ("FRA_TABLE", fields["table"])]
    for name, side in (("FRA_SRC", "src"), ("FRA_DST", "dst")):
        if fields[side]:
            address, length = fields[side]
            msg[f"{side}_len"] = length
            attrs.append((name, address))
    if fields["suppress_prefixlength"] is not None:
        attrs.append(("FRA_SUPPRESS_PREFIXLEN", fields["suppress_prefixlength"]))
    if fields["protocol"]:
        attrs.append(("FRA_PROTOCOL", fields["protocol"]))
    msg["attrs"] = attrs
    msg["header"]["type"], msg["header"]["flags"] = lib["header"]
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return msg.data


class Socket:
    """A plain rtnetlink socket in the namespace the process is in; the
    messages on it are pyroute2's."""

    def __init__(self):
        self.marshal = library()["Marshal"]()
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self.sock.bind((0, 0))
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
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
        """Send rule adds (an iterable of fields, taken CHUNK at a time),
        CHUNK per sendmsg, and read one ACK each: (indices applied,
        [(index, iproute2's words)] refused). The kernel runs every
        request of a chunk whatever the others do, so after a refusal the
        chunk's other requests may be applied too; without force no later
        chunk is sent (nor made)."""
        ok, refused, start, requests = [], [], 0, iter(requests)
        while chunk := list(itertools.islice(requests, CHUNK)):
            errors = self._chunk(chunk, start)
            ok += sorted(set(range(start, start + len(chunk))) - {i for i, _w in errors})
            refused += errors
            start += len(chunk)
            if refused and not force:
                break
        return ok, refused

    def _chunk(self, requests, start):
        base = self.seq
        self.seq += len(requests)
        self.sock.sendall(b"".join(encode(fields, base + i + 1)
                                   for i, fields in enumerate(requests)))
        pending, errors = set(range(base + 1, base + len(requests) + 1)), []
        while pending:
            for seq, words in acks(self.marshal, self.sock.recv(1 << 16)):
                if seq in pending:
                    pending.discard(seq)
                    if words:
                        errors.append((start + seq - base - 1, words))
        return sorted(errors)


class RuleEvents:
    """A socket that hears of every rule the kernel adds or deletes, of
    both families, in the namespace it is made in (rtnetlink's rule
    groups). Its messages are counted, never read: ``count`` says how
    many came since the last count, or None when some were lost (the
    kernel could not queue one: ENOBUFS) or it failed. Without pyroute2:
    a count needs each message's length alone."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                                  socket.NETLINK_ROUTE)
        try:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, EVENTS_RCVBUF)
            except OSError:
                pass                # the default: an overflow is a lost count, no error
            self.sock.bind((0, RULE_GROUPS))
        except OSError:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def narrow(self):
        """From now on only whether any event comes matters: the smallest
        receive buffer, so a wait beside many other starts' rules holds
        no more than a message or two in the kernel."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)     # lowering: no privilege

    def count(self):
        n, data = 0, bytearray(1 << 16)
        while True:
            try:
                size = self.sock.recv_into(data)
            except BlockingIOError:
                return n
            except OSError:
                return None
            at = 0
            while at + NLMSG_HDRLEN <= size:
                length = int.from_bytes(data[at:at + 4], sys.byteorder)
                if length < NLMSG_HDRLEN:
                    return None
                n += 1
                at += (length + 3) & ~3


def acks(marshal, data):
    """(seq, iproute2's words of a refusal, or "") of every ACK in
    ``data``, as pyroute2's marshal parses them."""
    for msg in marshal.parse(data):
        if msg["header"]["type"] == NLMSG_ERROR:
            yield msg["header"]["sequence_number"], _refusal(msg)


def _refusal(msg):
    """iproute2's words for a refused request: the kernel's extended
    message ("Error: ..."), else "RTNETLINK answers: <strerror>"; "" for
    an ACK (error 0, even with a message: pyroute2 0.7 makes that a
    NetlinkError(0))."""
    error = msg["header"]["error"]
    code = getattr(error, "code", getattr(error, "errno", None))
    if error is None or code == 0:
        return ""
    text = msg.get_attr("NLMSGERR_ATTR_MSG")
    if text:
        return f"Error: {text}."
    return f"RTNETLINK answers: {os.strerror(code)}" if code else f"netlink: {error}"
