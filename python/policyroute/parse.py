"""Parse layer: netifrc variable values -> immutable objects, or ConfigError.

Nothing here looks at the kernel or the file system. ``parse_interface``
reads every variable of one interface and reports all problems at once.
"""

import ipaddress
import re
import socket
from collections import namedtuple

from . import bands
from .errors import ConfigError, ConfigErrors

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,14}\Z")
YES = {"yes", "true", "on", "1"}
NO = {"no", "false", "off", "0"}

# A number as iproute2 reads most of them (strtoul, base 0): 0x... is hex and
# a leading 0 makes it octal.
# Words that are numbers rather than names (then read by c_number).
NUMBER_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)\Z")
C_NUMBER_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")

# ipproto names (the usual /etc/protocols entries), as protocol numbers.
IPPROTO = {"icmp": 1, "igmp": 2, "ipencap": 4, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17,
           "dccp": 33, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47,
           "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59,
           "ipv6-opts": 60, "ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132,
           "udplite": 136, "mpls-in-ip": 137}

# Route protocol names iproute2 knows without reading rt_protos.d (its
# built-in table and the rt_protos file it ships), and our own.
RTPROT = {"unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8,
          "ra": 9, "mrt": 10, "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15,
          "dhcp": 16, "keepalived": 18, "babel": 42, "ovn": 84, "openr": 99, "bgp": 186,
          "isis": 187, "ospf": 188, "rip": 189, "eigrp": 192, bands.PROTO_NAME: bands.PROTO}

# The words of `ip rule add`, in the order iproute2's iprule_modify() tries
# them: (keyword, words written out, words any prefix of which will do).
# The first entry a word fits wins, as there: "pref" and "prio" are
# priority, "tab" is table, "d" is dsfield and "t" is tun_id.
KEYWORDS = (
    ("not", ("not",), ()),
    ("from", ("from",), ()),
    ("to", ("to",), ()),
    ("priority", (), ("preference", "order", "priority")),
    ("tos", ("tos",), ("dsfield",)),
    ("fwmark", ("fwmark",), ()),
    ("realms", (), ("realms",)),
    ("protocol", (), ("protocol",)),
    ("tun_id", (), ("tun_id",)),
    ("lookup", ("lookup",), ("table",)),
    ("suppress_prefixlength", ("sup_pl",), ("suppress_prefixlength",)),
    ("suppress_ifgroup", ("sup_group",), ("suppress_ifgroup",)),
    ("iif", ("dev", "iif"), ()),
    ("oif", ("oif",), ()),
    ("l3mdev", ("l3mdev",), ()),
    ("uidrange", ("uidrange",), ()),
    ("nat", ("nat",), ("map-to",)),
    ("ipproto", ("ipproto",), ()),
    ("sport", ("sport",), ()),
    ("dport", ("dport",), ()),
    ("dscp", ("dscp",), ()),
    ("flowlabel", ("flowlabel",), ()),
)
# Any other word is an action, after an optional "type": goto, nop, or a
# route type name (in iproute2's rtnl_rtntype_a2n order) or number, which
# iproute2 sends as the rule's action number. Only the ACTION_NUMBERS are
# rule actions the kernel has; the other route types are refused.
TYPES = (
    ("help", (), ("help",)),
    ("goto", (), ("goto",)),
    ("nop", (), ("nop",)),
    ("local", ("local",), ()),
    ("nat", ("nat",), ()),
    ("broadcast", ("brd",), ("broadcast",)),
    ("anycast", (), ("anycast",)),
    ("multicast", (), ("multicast",)),
    ("prohibit", (), ("prohibit",)),
    ("unreachable", (), ("unreachable",)),
    ("blackhole", (), ("blackhole",)),
    ("xresolve", (), ("xresolve",)),
    ("unicast", (), ("unicast",)),
    ("throw", ("throw",), ()),
)
ACTION_NUMBERS = {"3": "nop", "6": "blackhole", "7": "unreachable", "8": "prohibit"}
ACTIONS = {"blackhole", "unreachable", "prohibit", "nop"}


def word_of(token, table):
    """The keyword ``token`` stands for in ``table``, as iproute2 reads it."""
    for keyword, exact, prefixes in table:
        if token in exact or any(p.startswith(token) for p in prefixes):
            return keyword
    return None


class Origin(namedtuple("Origin", "variable line", defaults=(None,))):
    """Where a value came from: the variable and, for lists, the line."""
    __slots__ = ()

    def error(self, token, reason):
        return ConfigError(self.variable, self.line, token, reason)


class Table(namedtuple("Table", "name id origin")):
    """``table_<IFVAR>`` as written: a name or a number."""
    __slots__ = ()


class Rule(namedtuple("Rule", "family selector action modifiers priority origin protocol",
                      defaults=(None,))):
    """One ``rules_`` line, meaning what ``ip rule add LINE`` means.
    ``selector`` and ``modifiers`` are (keyword, value) pairs in iproute2's
    words; ``action`` is ("lookup", TABLE), ("goto", N), ("l3mdev",) or a
    lone action keyword, ("lookup", "main") when the line names none, as
    iproute2 fills in; ``protocol`` is the line's own, or None (ours)."""
    __slots__ = ()


class InterfaceConfig(namedtuple("InterfaceConfig", "iface ifvar table rules guard arp netns",
                                 defaults=((), True, True, None))):
    """Everything one interface's variables say, validated."""
    __slots__ = ()


# A value is read one way everywhere only when it holds nothing but
# printable ASCII words, blanks (space, tab) and newlines: CR, VT, FF,
# U+0085, U+2028 and friends split or cut a line in some readers and not in
# others, and a backslash is an escape to dash's echo (netifrc's
# _get_array), so a value with one means something else at start than here.
PLAIN_RE = re.compile(r"[ \t\n!-\[\]-~]*")
NETNS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}\Z")


def shown(text):
    """text with what is not printable ASCII written as an escape."""
    return "".join(c if " " <= c <= "~" and c != "\\" else c.encode("unicode_escape",
                   "backslashreplace").decode("ascii") for c in text)


def plain_error(value, variable):
    """ConfigError for the first character of value that is not plain
    text (PLAIN_RE), naming its line and word; None when all is plain."""
    if value is None or PLAIN_RE.fullmatch(value):
        return None
    n = 0
    for line in value.split("\n"):
        if line.strip(" \t"):
            n += 1
        if not PLAIN_RE.fullmatch(line):
            bad = next(c for c in line if not PLAIN_RE.fullmatch(c))
            word = next(w for w in re.split("[ \t]+", line) if bad in w)
            what = "a backslash (an escape to dash's echo)" if bad == "\\" else \
                f"U+{ord(bad):04X}" if ord(bad) < 0xd800 or ord(bad) > 0xdfff else "a byte that is not UTF-8"
            return ConfigError(variable, max(n, 1), shown(word),
                               f"holds {what}: only printable ASCII words, blanks and "
                               "newlines are read the same way everywhere")
    return None


def parse_netns(value, origin):
    """A network namespace name as `ip netns` keeps it (a file in /run/netns)."""
    text = (value or "").strip()
    if not text:
        return None
    if not NETNS_RE.match(text):
        raise origin.error(text, "is not a network namespace name (letters, digits, _ . -)")
    return text


def shell_var(iface):
    """netifrc's IFVAR: every character that is not alphanumeric becomes _."""
    return re.sub(r"[^A-Za-z0-9]", "_", iface)


def parse_number(text, origin, lo, hi, what):
    """A number in a policyroute variable: decimal or 0x hex. A leading 0
    is refused rather than read as octal, as iproute2 would."""
    if len(text) > 1 and text[0] == "0" and text[1] in "01234567":
        raise origin.error(text, "has a leading zero (iproute2 would read it as octal)")
    return c_number(text, origin, lo, hi, what)


def parse_table(value, origin):
    """A table name or number; the kernel's own tables are refused."""
    value = value.strip()
    if value.lower() in bands.RESERVED_TABLES:
        raise origin.error(value, "is a reserved table; give this interface a table of its own")
    if NUMBER_RE.match(value):
        number = parse_number(value, origin, 1, bands.TABLE_MAX, "table number")
        if number in bands.RESERVED_TABLES.values():
            raise origin.error(value, "is a reserved table number (253 default, 254 main, 255 local)")
        return Table(None, number, origin)
    if not NAME_RE.match(value):
        raise origin.error(value, "is not a table name (letters, digits, _ . -)")
    return Table(value, None, origin)


def parse_prefix(text, origin, family):
    if text in ("all", "any", "default"):
        return "all", family
    if "%" in text:
        raise origin.error(text, "has a scope id: iproute2 takes no %IFACE in a rule's prefix")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise origin.error(text, "is not an address or prefix") from None
    if family and net.version != family:
        raise origin.error(text, f"is not an IPv{family} address")
    if net.prefixlen == 0:
        return "all", net.version     # the kernel keeps no selector for /0
    return str(net), net.version


def c_value(text):
    """strtoul(text, NULL, 0) when all of text is that number, else None."""
    if not C_NUMBER_RE.match(text):
        return None
    if len(text) > 40:
        return 2**128       # far past every limit; int() would refuse 5,000 digits
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    return int(text, 8) if text.startswith("0") else int(text)


def c_number(text, origin, lo, hi, what):
    """A number read the way iproute2 reads most of them (strtoul, base 0)."""
    value = c_value(text)
    if value is None:
        if re.fullmatch(r"0[0-9]+", text):
            raise origin.error(text, f"is not {_a(what)}: a leading 0 makes it octal to iproute2")
        raise origin.error(text, f"is not {_a(what)}")
    if not lo <= value <= hi:
        raise origin.error(text, f"{what} must be {lo}-{hi}")
    return value


def _a(what):
    return f"{'an' if what[0] in 'aeiou' else 'a'} {what}"


def parse_range(text, origin, lo, hi, what, always_pair=False):
    start, sep, end = text.partition("-")
    if sep and not (start and end):
        raise origin.error(text, f"is not a {what} range (N-M)")
    a = c_number(start, origin, lo, hi, what)
    b = c_number(end, origin, lo, hi, what) if sep else a
    if b < a:
        raise origin.error(text, f"{what} range ends before it starts")
    return f"{a}-{b}" if b != a or always_pair else str(a)


def _masked(text, origin, bits, what):
    """VALUE[/MASK] -> (value, mask or None)."""
    value, sep, mask = text.partition("/")
    v = c_number(value, origin, 0, 2**bits - 1, what)
    m = c_number(mask, origin, 0, 2**bits - 1, f"{what} mask") if sep else None
    return v, m


def _fwmark(text, origin):
    """The kernel keeps no mark for 0/0 and masks a bare mark with 0xffffffff."""
    m, k = _masked(text, origin, 32, "fwmark")
    if k is None:
        k = 2**32 - 1 if m else 0
    return f"{m:#x}/{k:#x}" if m or k else None


def _port(text, origin):
    """A port, a range A-B, or (iproute2 6.15) PORT/MASK. Ports in decimal:
    iproute2 before 6.15 reads "%hu-%hu", later ones read 0x.. and 0.. as
    hex and octal, so only a plain decimal port means the same to both."""
    ports, sep, mask = text.partition("/")
    for part in ports.split("-", 1):
        if re.fullmatch(r"0[0-9xX][0-9a-fA-F]*", part):
            raise origin.error(part, "is not a decimal port (iproute2 versions read 0x.. "
                                     "and 0.. differently)")
    if "-" in ports:
        if sep:
            raise origin.error(text, "is not a port range (a mask goes with one port)")
        return parse_range(ports, origin, *PORTS, "port")
    port, mask = _masked(text, origin, 16, "port")
    if mask in (None, 0xffff) and not PORTS[0] <= port <= PORTS[1]:
        raise origin.error(ports, f"port must be {PORTS[0]}-{PORTS[1]} (the kernel refuses "
                                  "0 and 65535 in a rule)")
    return str(port) if mask in (None, 0xffff) else f"{port}/{mask:#x}"


PORTS = (1, 65534)      # fib_rule_port_range_valid(): start and end not 0, end below 0xffff


def _uidrange(text, origin):
    """START-END in decimal (sscanf "%u-%u"): iproute2 refuses a lone uid."""
    m = re.fullmatch(r"([0-9]+)-([0-9]+)", text)
    if not m:
        raise origin.error(text, "is not a uid range: iproute2 wants START-END, even for one uid")
    a, b = int(m.group(1)), int(m.group(2))
    for n, part in ((a, m.group(1)), (b, m.group(2))):
        if n > 2**32 - 2:           # (uid_t)-1 is the kernel's invalid uid
            raise origin.error(part, f"uid must be 0-{2**32 - 2}")
    if b < a:
        raise origin.error(text, "uid range ends before it starts")
    return f"{a}-{b}"


def _realms(text, origin):
    """FROM/TO, each 0-255 (rt_realms names are not read), or one raw
    number (FROM << 16 | TO), as iproute2 reads them."""
    src, sep, dst = text.partition("/")
    if not sep:
        return str(c_number(text, origin, 0, 2**32 - 1, "realm"))
    a = c_number(src, origin, 0, 255, "realm")
    b = c_number(dst, origin, 0, 255, "realm")
    return f"{a}/{b}" if a else str(b)     # the kernel shows no source realm 0


def _tos(text, origin):
    """iproute2 reads tos/dsfield in hex, with or without 0x."""
    digits = text[2:] if text.lower().startswith("0x") else text
    if not re.fullmatch(r"[0-9a-fA-F]{1,2}", digits):
        raise origin.error(text, "is not a TOS value (hex, 0x00-0xff; rt_dsfield names are "
                                 "not read)")
    return f"{int(digits, 16):#04x}"


def _dscp(text, origin):
    dscp, mask = _masked(text, origin, 6, "DSCP value")
    return str(dscp) if mask in (None, 0x3f) else f"{dscp}/{mask:#x}"


def _flowlabel(text, origin):
    label, mask = _masked(text, origin, 20, "flow label")
    return f"{label:#x}/{0xfffff if mask is None else mask:#x}"


def _ifname(text, origin):
    if not IFNAME_RE.match(text):
        raise origin.error(text, "is not an interface name")
    return text


def _ipproto(text, origin):
    """iproute2 reads a decimal number or an /etc/protocols name."""
    if text.lower() in IPPROTO:
        return str(IPPROTO[text.lower()])
    if not text.isdigit():
        raise origin.error(text, "is not an IP protocol (a number or a name such as tcp)")
    if int(text) > 255:
        raise origin.error(text, "IP protocol must be 0-255")
    return str(int(text))


def _protocol(text, origin):
    if text in RTPROT:
        return str(RTPROT[text])
    if not C_NUMBER_RE.match(text) and NAME_RE.match(text):
        raise origin.error(text, "is not a protocol name iproute2 knows by itself; "
                                 "give its number (rt_protos.d names are not read)")
    return str(c_number(text, origin, 0, 255, "protocol"))


def _lookup(text, origin):
    if text == "unspec":
        raise origin.error(text, "is table 0, which no rule can look up")
    if NUMBER_RE.match(text):
        return str(c_number(text, origin, 1, bands.TABLE_MAX, "table number"))
    if not NAME_RE.match(text):
        raise origin.error(text, "is not a table name")
    return text


def _ifgroup(text, origin):
    if text == "default":
        return "0"
    if not C_NUMBER_RE.match(text) and NAME_RE.match(text):
        raise origin.error(text, "is not an interface group number "
                                 "(names from /etc/iproute2/group are not read)")
    return str(c_number(text, origin, 0, 2**31 - 1, "interface group"))


# keyword -> value parser; the selector keywords of ``ip rule``.
SELECTORS = {
    "tos": _tos,
    "fwmark": _fwmark,
    "iif": _ifname,
    "oif": _ifname,
    "uidrange": _uidrange,
    "ipproto": _ipproto,
    "sport": _port,
    "dport": _port,
    "dscp": _dscp,
    "flowlabel": _flowlabel,
    "tun_id": lambda t, o: str(c_number(t, o, 0, 2**64 - 1, "tunnel id")),
}
MODIFIERS = {
    "suppress_prefixlength": lambda t, o: str(c_number(t, o, 0, 2**31 - 1, "prefix length")),
    "suppress_ifgroup": _ifgroup,
    "realms": _realms,
}


class _Line:
    """Mutable scratch state while one line is read; frozen into a Rule.
    A keyword given twice keeps its last value, as iproute2 does."""

    def __init__(self, origin, family):
        self.origin, self.family = origin, family
        self.selector, self.modifiers = {}, {}
        self.action = None
        self.priority = None
        self.protocol = None

    def set_action(self, token, action):
        if self.action is not None and self.action[0] != action[0]:
            raise self.origin.error(token, "a rule has only one action")
        self.action = action


def _consume(line, keyword, value):
    """Apply one keyword and its value to the line."""
    o = line.origin
    if keyword in ("from", "to"):
        text, version = parse_prefix(value, o, line.family)
        line.family = line.family or version       # ::/0 is IPv6, though it selects all
        line.selector.pop(keyword, None)
        if text != "all":
            line.selector[keyword] = text
    elif keyword in SELECTORS:
        parsed = SELECTORS[keyword](value, o)
        line.selector.pop(keyword, None)
        if parsed is not None:
            line.selector[keyword] = parsed
    elif keyword in MODIFIERS:
        line.modifiers[keyword] = MODIFIERS[keyword](value, o)
    elif keyword == "priority":
        line.priority = c_number(value, o, bands.PRIORITY_MIN, bands.PRIORITY_MAX, "priority")
        if bands.in_auto_band(line.priority):
            raise o.error(value, f"is in policyroute's automatic band "
                                 f"{bands.AUTO_FIRST}-{bands.AUTO_LAST}")
    elif keyword == "protocol":
        line.protocol = _protocol(value, o)
    elif keyword == "lookup":
        line.set_action(keyword, ("lookup", _lookup(value, o)))
    elif keyword == "goto":
        line.set_action(keyword, ("goto", str(c_number(value, o, 1, 2**32 - 1, "priority"))))


def _action(line, tokens, i):
    """Read the action at tokens[i] (after an optional "type"); returns the
    index of the next word. iproute2 tries every unknown word as a type."""
    o, token = line.origin, tokens[i]
    typed = token == "type"
    if typed:
        if i + 1 >= len(tokens):
            raise o.error(token, "needs a value")
        i, token = i + 1, tokens[i + 1]
    kind, number = word_of(token, TYPES), c_value(token)
    if kind is None and number is not None and number < 256:
        kind = ACTION_NUMBERS.get(str(number), "number")
    if kind == "goto":
        if i + 1 >= len(tokens):
            raise o.error(token, "needs a value")
        _consume(line, "goto", tokens[i + 1])
        return i + 2
    if kind in ACTIONS:
        line.set_action(token, (kind,))
        return i + 1
    if kind is None or kind == "help":
        raise o.error(token, "is not a rule type (blackhole, unreachable, prohibit, nop, goto)"
                      if typed else "is not an ip rule selector or action")
    raise o.error(token, "is a route type, not a rule action (lookup, goto, nop, blackhole, "
                         "unreachable, prohibit)")


# TOS bits an IPv4 rule may select (the kernel's IPTOS_TOS_MASK less the
# ECN bits); an IPv6 rule takes any DSCP, never the ECN bits.
TOS_BITS = {4: 0x1c, 6: 0xfc}


def _kernel_limits(line, action):
    """What the kernel refuses of a line iproute2 accepts, refused here
    first, before netifrc adds any address."""
    o, family = line.origin, line.family or 4
    tos = dict(line.selector).get("tos")
    if tos is not None and int(tos, 16) & ~TOS_BITS[family]:
        raise o.error(tos, f"has bits an IPv{family} rule cannot select "
                           f"(the kernel takes tos within {TOS_BITS[family]:#04x}: "
                           "no ECN bits" + (", no DSCP above 0x1c)" if family == 4 else ")"))
    if family == 6 and "realms" in dict(line.modifiers):
        raise o.error(dict(line.modifiers)["realms"], "is a realm: IPv6 rules have none")
    if action[0] == "goto":
        floor = line.priority if line.priority is not None else bands.USER_LAST
        if int(action[1]) <= floor:
            raise o.error(action[1], f"goto must jump forward, past priority {floor}"
                          + ("" if line.priority is not None else
                             " (the last a rules_ line without priority may get)"))


def parse_rule(text, origin, family=None):
    """One ``rules_``/``rules6_`` line, read as ``ip rule add`` reads it."""
    line = _Line(origin, family)
    tokens = text.split()
    if not tokens:
        raise origin.error(text, "is empty")
    i = 0
    while i < len(tokens):
        keyword = word_of(tokens[i], KEYWORDS)
        if keyword in ("not", "l3mdev"):
            line.selector[keyword] = ""
            i += 1
        elif keyword is None:
            i = _action(line, tokens, i)
        elif keyword == "nat":
            raise origin.error(tokens[i], "is route NAT, which Linux dropped in 2.6.9")
        elif i + 1 >= len(tokens):
            raise origin.error(tokens[i], "needs a value")
        else:
            _consume(line, keyword, tokens[i + 1])
            i += 2
    if "l3mdev" in line.selector:
        if line.action is not None:
            raise origin.error("l3mdev", "takes no lookup, goto or type: l3mdev picks the table")
        line.action = ("l3mdev",)
    action = line.action or ("lookup", "main")     # iproute2: no action is table main
    _kernel_limits(line, action)
    return Rule(line.family or 4, tuple(line.selector.items()), action,
                tuple(line.modifiers.items()), line.priority, origin, line.protocol)


def parse_flag(value, origin, default=True):
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in YES:
        return True
    if v in NO:
        return False
    raise origin.error(value.strip(), "is not yes or no")


def split_lines(value):
    """netifrc's _get_array: entries one per line, trimmed, blanks dropped.
    Only a newline ends a line and only space and tab are blanks: any other
    separator is refused first (plain_error)."""
    lines = (line.strip(" \t") for line in (value or "").split("\n"))
    return [line for line in lines if line]


def parse_interface(iface, table=None, rules=None, rules6=None, guard=None,
                    arp=None, netns=None, ifvar=None):
    """All of one interface's variables; every problem is collected."""
    cfg, errors = parse_interface_partly(iface, table, rules, rules6, guard, arp, netns, ifvar)
    if errors:
        raise ConfigErrors(errors)
    return cfg


def parse_interface_partly(iface, table=None, rules=None, rules6=None, guard=None,
                           arp=None, netns=None, ifvar=None):
    """(config of what parsed, every problem): bad values are left out, so
    checks across interfaces can still look at the rest."""
    ifvar = ifvar or shell_var(iface)
    errors, parsed = [], {"guard": True, "arp": True}

    def attempt(key, fn):
        try:
            parsed[key] = fn()
        except ConfigError as e:
            errors.append(e)

    if not IFNAME_RE.match(iface):
        errors.append(ConfigError("IFACE", None, iface, "is not an interface name"))
    values = {"table": table, "rules": rules, "rules6": rules6, "policyroute_guard": guard,
              "policyroute_arp": arp, "netns": netns}
    for name, value in values.items():
        problem = plain_error(value, f"{name}_{ifvar}")
        if problem:
            errors.append(problem)
            values[name] = None         # read no further: one error per value
    table, rules, rules6 = values["table"], values["rules"], values["rules6"]
    if table is not None and table.strip() != "":
        attempt("table", lambda: parse_table(table, Origin(f"table_{ifvar}")))
    attempt("guard", lambda: parse_flag(values["policyroute_guard"],
                                        Origin(f"policyroute_guard_{ifvar}")))
    attempt("arp", lambda: parse_flag(values["policyroute_arp"],
                                      Origin(f"policyroute_arp_{ifvar}")))
    attempt("netns", lambda: parse_netns(values["netns"], Origin(f"netns_{ifvar}")))
    lines = []
    for variable, value, family in ((f"rules_{ifvar}", rules, None),
                                     (f"rules6_{ifvar}", rules6, 6)):
        for n, text in enumerate(split_lines(value), 1):
            try:
                lines.append((parse_rule(text, Origin(variable, n), family), text))
            except ConfigError as e:
                errors.append(e)
    errors += _check_rules(lines)
    cfg = InterfaceConfig(iface, ifvar, parsed.get("table"), tuple(r for r, _ in lines),
                          parsed["guard"], parsed["arp"], parsed.get("netns"))
    return cfg, errors


def _check_rules(lines):
    """Problems that only show across lines of one interface."""
    errors, unnumbered = [], 0
    for rule, text in lines:
        if rule.priority is None:
            unnumbered += 1
            if unnumbered > bands.USER_LINES:
                errors.append(rule.origin.error(
                    text, f"is one of more than {bands.USER_LINES} lines without priority; "
                          "give it a priority"))
    return errors


# ---------------------------------------------------------------- failover

def parse_failover(value, iface, ifvar):
    """``failover_<IFVAR>``: the interface this one's aliases move to when
    it loses carrier, or None."""
    origin = Origin(f"failover_{ifvar}")
    problem = plain_error(value, origin.variable)
    if problem:
        raise problem
    text = (value or "").strip(" \t\n")
    if not text:
        return None
    if not IFNAME_RE.match(text):
        raise origin.error(text, "is not an interface name")
    if text == iface:
        raise origin.error(text, "is this interface itself; name the one on the other switch")
    return text


def config_entries(configured):
    """``config_<IFVAR>`` as netifrc reads it: one entry per line, except
    that a single line whose second word looks like an address (holds a
    . or :) is a space-separated list of addresses."""
    lines = split_lines(configured)
    if len(lines) == 1:
        words = lines[0].split()
        if len(words) > 1 and ("." in words[1] or ":" in words[1]):
            return words
    return lines


def static_addresses(configured):
    """(family, address, prefix length) of each address ``config_<IFVAR>``
    gives, in its order, the address in inet_ntop's words, as ip shows
    it (dhcp, null, noop and the like are none). Through socket, as
    plan.prefix: ipaddress took ~15 ms for 1,000 aliases."""
    for entry in config_entries(configured):
        word = entry.split()[0]
        family = 6 if ":" in word else 4
        try:
            packed, length = address_and_length(word, family)
        except ValueError:
            continue
        yield family, socket.inet_ntop(AF[family], packed), length


AF = {4: socket.AF_INET, 6: socket.AF_INET6}


def address_and_length(text, family):
    """(packed address, prefix length) of ADDR[/LEN] of one family, LEN a
    number or an IPv4 netmask (as iproute2 reads one): through socket,
    ~1 us where ipaddress takes ~15, ipaddress only for a netmask.
    ValueError for anything else."""
    addr, slash, length = text.partition("/")
    bits = 128 if family == 6 else 32
    try:
        packed = socket.inet_pton(AF[family], addr)
    except (OSError, ValueError):
        raise ValueError(f"'{text}' is not an IPv{family} prefix") from None
    if not slash:
        return packed, bits
    if length.isascii() and length.isdigit() and int(length) <= bits:
        return packed, int(length)
    return packed, ipaddress.ip_network(text, strict=False).prefixlen


def primaries(configured):
    """The first address of each family in ``config_<IFVAR>``: the ones
    failover leaves in place. {family: address}."""
    out = {}
    for entry in config_entries(configured):
        word = entry.split()[0]
        family = 6 if ":" in word else 4 if "." in word else None
        if family is None or family in out:
            continue                # dhcp, null, noop...; or a family found (10,000 aliases)
        try:
            out[family] = str(ipaddress.ip_interface(word).ip)
        except ValueError:
            continue
    return out


class Unit(namedtuple("Unit", "cfg inputs failover primaries")):
    """One interface as netifrc started it: the parsed values, the raw
    ones (``inputs``, kept in the record), its failover sibling and the
    addresses failover keeps."""
    __slots__ = ()


INPUTS = ("ifvar", "table", "rules", "rules6", "guard", "arp", "failover", "configured")


def parse_unit(iface, inputs, netns=None):
    """Every value of one interface, as the module passes them; all
    problems at once."""
    inputs = {k: v for k, v in inputs.items() if k in INPUTS and v is not None}
    ifvar = inputs.get("ifvar") or shell_var(iface)
    cfg, errors = parse_interface_partly(
        iface, inputs.get("table"), inputs.get("rules"), inputs.get("rules6"),
        inputs.get("guard"), inputs.get("arp"), netns, ifvar)
    failover = None
    try:
        failover = parse_failover(inputs.get("failover"), iface, ifvar)
    except ConfigError as e:
        errors.append(e)
    problem = plain_error(inputs.get("configured"), f"config_{ifvar}")
    if problem:
        errors.append(problem)
    if errors:
        raise ConfigErrors(errors)
    return Unit(cfg, inputs, failover, primaries(inputs.get("configured")))
