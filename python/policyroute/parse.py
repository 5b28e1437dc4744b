"""Parse layer: netifrc variable values -> immutable objects, or ConfigError.

Nothing here looks at the kernel or the file system. ``parse_interface``
reads every variable of one interface and reports all problems at once.
"""

import ipaddress
import re
from collections import namedtuple

from . import bands
from .errors import ConfigError, ConfigErrors

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,14}$")
NUMBER_RE = re.compile(r"^(0x[0-9a-fA-F]+|[0-9]+)$")
YES = {"yes", "true", "on", "1"}
NO = {"no", "false", "off", "0"}

# ipproto names iproute2 resolves, as their protocol numbers.
IPPROTO = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "dccp": 33, "ipv6": 41,
           "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58,
           "sctp": 132, "udplite": 136}
ACTIONS = {"blackhole", "unreachable", "prohibit", "nop"}
SYNONYMS = {"pref": "priority", "preference": "priority", "order": "priority",
            "table": "lookup", "dsfield": "tos"}


class Origin(namedtuple("Origin", "variable line", defaults=(None,))):
    """Where a value came from: the variable and, for lists, the line."""
    __slots__ = ()

    def error(self, token, reason):
        return ConfigError(self.variable, self.line, token, reason)


class Table(namedtuple("Table", "name id origin")):
    """``table_<IFVAR>`` as written: a name or a number."""
    __slots__ = ()


class Rule(namedtuple("Rule", "family selector action modifiers priority origin")):
    """One ``rules_`` line. ``selector`` and ``modifiers`` are (keyword, value)
    pairs in iproute2's words; ``action`` is ("lookup", TABLE), ("goto", N),
    or a lone action keyword; None means "look up table_"."""
    __slots__ = ()


class InterfaceConfig(namedtuple("InterfaceConfig", "iface ifvar table rules guard arp netns",
                                 defaults=((), True, True, None))):
    """Everything one interface's variables say, validated."""
    __slots__ = ()


def shell_var(iface):
    """netifrc's IFVAR: every character that is not alphanumeric becomes _."""
    return re.sub(r"[^A-Za-z0-9]", "_", iface)


def parse_number(text, origin, lo, hi, what):
    if not NUMBER_RE.match(text):
        raise origin.error(text, f"is not a {what}")
    if len(text) > 1 and text[0] == "0" and text[1] != "x":
        raise origin.error(text, "has a leading zero (iproute2 would read it as octal)")
    value = int(text, 0) if text.startswith("0x") else int(text)
    if not lo <= value <= hi:
        raise origin.error(text, f"{what} must be {lo}-{hi}")
    return value


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
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise origin.error(text, "is not an address or prefix") from None
    if family and net.version != family:
        raise origin.error(text, f"is not an IPv{family} address")
    if net.prefixlen == 0:
        return "all", net.version     # the kernel keeps no selector for /0
    return str(net), net.version


def parse_range(text, origin, lo, hi, what, always_pair=False):
    start, sep, end = text.partition("-")
    if sep and not (start and end):
        raise origin.error(text, f"is not a {what} range (N-M)")
    a = parse_number(start, origin, lo, hi, what)
    b = parse_number(end, origin, lo, hi, what) if sep else a
    if b < a:
        raise origin.error(text, f"{what} range ends before it starts")
    return f"{a}-{b}" if b != a or always_pair else str(a)


def _fwmark(text, origin):
    mark, sep, mask = text.partition("/")
    m = parse_number(mark, origin, 0, 2**32 - 1, "fwmark")
    k = parse_number(mask, origin, 0, 2**32 - 1, "fwmark mask") if sep else 2**32 - 1
    if m & ~k:
        raise origin.error(text, "the mark has bits outside its mask")
    return f"{m:#x}/{k:#x}" if k else None     # mask 0 matches every packet


def _realms(text, origin):
    src, sep, dst = text.partition("/")
    a = parse_number(src, origin, 0, 65535, "realm")
    if not sep:
        return str(a)
    b = parse_number(dst, origin, 0, 65535, "realm")
    return f"{a}/{b}" if a else str(b)     # the kernel shows no source realm 0


def _tos(text, origin):
    """iproute2 reads tos/dsfield in hex, with or without 0x."""
    digits = text[2:] if text.lower().startswith("0x") else text
    if not re.fullmatch(r"[0-9a-fA-F]{1,2}", digits):
        raise origin.error(text, "is not a TOS value (hex, 0x00-0xff)")
    return f"{int(digits, 16):#04x}"


def _ifname(text, origin):
    if not IFNAME_RE.match(text):
        raise origin.error(text, "is not an interface name")
    return text


def _ipproto(text, origin):
    if text.lower() in IPPROTO:
        return str(IPPROTO[text.lower()])
    return str(parse_number(text, origin, 0, 255, "IP protocol"))


def _lookup(text, origin):
    if NUMBER_RE.match(text):
        return str(parse_number(text, origin, 1, bands.TABLE_MAX, "table number"))
    if not NAME_RE.match(text):
        raise origin.error(text, "is not a table name")
    return text


# keyword -> value parser; the selector keywords of ``ip rule``.
SELECTORS = {
    "tos": lambda t, o: _tos(t, o),
    "fwmark": _fwmark,
    "iif": _ifname,
    "oif": _ifname,
    "uidrange": lambda t, o: parse_range(t, o, 0, 2**32 - 1, "uid", always_pair=True),
    "ipproto": _ipproto,
    "sport": lambda t, o: parse_range(t, o, 0, 65535, "port"),
    "dport": lambda t, o: parse_range(t, o, 0, 65535, "port"),
}
MODIFIERS = {
    "suppress_prefixlength": lambda t, o: str(parse_number(t, o, 0, 128, "prefix length")),
    "suppress_ifgroup": lambda t, o: "0" if t == "default" else str(
        parse_number(t, o, 0, 2**31 - 1, "interface group")),
    "realms": _realms,
}


class _Line:
    """Mutable scratch state while one line is read; frozen into a Rule."""

    def __init__(self, origin, family):
        self.origin, self.family = origin, family
        self.selector, self.modifiers = [], []
        self.action = None
        self.priority = None
        self.seen = set()

    def once(self, keyword):
        if keyword in self.seen:
            raise self.origin.error(keyword, "is given twice")
        self.seen.add(keyword)

    def set_action(self, keyword, action):
        if self.action is not None:
            raise self.origin.error(keyword, "a rule has only one action")
        self.action = action


def _consume(line, keyword, value):
    """Apply one keyword (with its value, if it takes one) to the line."""
    o = line.origin
    if keyword in ("from", "to"):
        text, version = parse_prefix(value, o, line.family)
        line.family = line.family or (version if text != "all" else None)
        if text != "all":
            line.selector.append((keyword, text))
    elif keyword in SELECTORS:
        parsed = SELECTORS[keyword](value, o)
        if parsed is not None:
            line.selector.append((keyword, parsed))
    elif keyword in MODIFIERS:
        line.modifiers.append((keyword, MODIFIERS[keyword](value, o)))
    elif keyword == "priority":
        line.priority = parse_number(value, o, bands.PRIORITY_MIN, bands.PRIORITY_MAX, "priority")
        if bands.in_auto_band(line.priority):
            raise o.error(value, f"is in policyroute's automatic band "
                                 f"{bands.AUTO_FIRST}-{bands.AUTO_LAST}")
    elif keyword == "lookup":
        if value.lower() in ("local", "255", "0xff"):
            raise o.error(value, "the local table is looked up by rule 0 already")
        line.set_action(keyword, ("lookup", _lookup(value, o)))
    elif keyword == "goto":
        line.set_action(keyword, ("goto", str(parse_number(value, o, 1, bands.PRIORITY_MAX, "priority"))))
    elif keyword == "type":
        if value not in ACTIONS - {"nop"}:
            raise o.error(value, "is not a rule type (blackhole, unreachable, prohibit)")
        line.set_action(keyword, (value,))


VALUED = {"from", "to", "priority", "lookup", "goto", "type"} | set(SELECTORS) | set(MODIFIERS)


def parse_rule(text, origin, family=None):
    """One ``rules_``/``rules6_`` line in ``ip rule`` syntax."""
    line = _Line(origin, family)
    tokens = text.split()
    i = 0
    while i < len(tokens):
        keyword = SYNONYMS.get(tokens[i], tokens[i])
        if keyword == "protocol":
            raise origin.error(tokens[i], "is set by policyroute itself (proto policyroute)")
        if keyword in ("not", "l3mdev"):
            line.once(keyword)
            line.selector.append((keyword, ""))
            i += 1
            continue
        if keyword in ACTIONS:
            line.set_action(keyword, (keyword,))
            i += 1
            continue
        if keyword not in VALUED:
            raise origin.error(tokens[i], "is not an ip rule selector or action")
        if i + 1 >= len(tokens):
            raise origin.error(tokens[i], "needs a value")
        line.once(keyword)
        _consume(line, keyword, tokens[i + 1])
        i += 2
    if not tokens:
        raise origin.error(text, "is empty")
    if ("l3mdev", "") in line.selector:
        if line.action is not None:
            raise origin.error("l3mdev", "takes no lookup, goto or type: l3mdev picks the table")
        line.action = ("l3mdev",)
    return Rule(line.family or 4, tuple(line.selector), line.action,
                tuple(line.modifiers), line.priority, origin)


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
    """netifrc's _get_array: entries one per line, trimmed, blanks dropped."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


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
    table_given = table is not None and table.strip() != ""
    if table_given:
        attempt("table", lambda: parse_table(table, Origin(f"table_{ifvar}")))
    attempt("guard", lambda: parse_flag(guard, Origin(f"policyroute_guard_{ifvar}")))
    attempt("arp", lambda: parse_flag(arp, Origin(f"policyroute_arp_{ifvar}")))
    lines = []
    for variable, value, family in ((f"rules_{ifvar}", rules, None),
                                     (f"rules6_{ifvar}", rules6, 6)):
        for n, text in enumerate(split_lines(value), 1):
            try:
                lines.append((parse_rule(text, Origin(variable, n), family), text))
            except ConfigError as e:
                errors.append(e)
    errors += _check_rules(lines, ifvar, table_given)
    cfg = InterfaceConfig(iface, ifvar, parsed.get("table"), tuple(r for r, _ in lines),
                          parsed["guard"], parsed["arp"], netns or None)
    return cfg, errors


def _check_rules(lines, ifvar, table_given):
    """Problems that only show across lines of one interface."""
    errors, unnumbered = [], 0
    for rule, text in lines:
        if rule.action is None and not table_given:
            errors.append(rule.origin.error(
                text, f"has no action (lookup, goto, blackhole ...) and table_{ifvar} is not set"))
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
    text = (value or "").strip()
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


def primaries(configured):
    """The first address of each family in ``config_<IFVAR>``: the ones
    failover leaves in place. {family: address}."""
    out = {}
    for entry in config_entries(configured):
        try:
            ip = ipaddress.ip_interface(entry.split()[0]).ip
        except ValueError:
            continue            # dhcp, null, noop, ...
        out.setdefault(ip.version, str(ip))
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
    if errors:
        raise ConfigErrors(errors)
    return Unit(cfg, inputs, failover, primaries(inputs.get("configured")))
