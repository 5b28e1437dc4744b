"""Plan layer: configuration + observed kernel state -> ordered operations.

Pure functions only: no I/O. ``desired`` says what one interface should
have in the kernel; ``diff`` turns desired and observed into operations.
Objects are compared by a *key*: the same canonical (field, value) pairs,
sorted by field, are built from our own argument lists here and from
``ip -json`` in observe.py (see key_of_fields).
"""

import ipaddress
import socket
import zlib
from collections import namedtuple
from functools import lru_cache

from . import bands
from .errors import ConfigErrors
from .parse import AF, address_and_length


class Obj:
    """A rule or route as iproute2 arguments (after ``add``/``del``):
    kind "rule" or "route", family 4 or 6, args a tuple of words; equal
    when those are. Its key (key_of_args) is built once, when first asked
    for, and lives as long as the object: at 10,000 addresses each key is
    asked for several times, and a cache beside the objects would keep
    every object ever keyed."""
    __slots__ = ("kind", "family", "args", "_key")

    def __init__(self, kind, family, args):
        self.kind, self.family, self.args, self._key = kind, family, args, None

    def __eq__(self, other):
        if not isinstance(other, Obj):
            return NotImplemented
        return (self.kind, self.family, self.args) == (other.kind, other.family, other.args)

    def __hash__(self):
        return hash((self.kind, self.family, self.args))

    def __repr__(self):
        return f"Obj(kind={self.kind!r}, family={self.family!r}, args={self.args!r})"

    @property
    def key(self):
        if self._key is None:
            self._key = key_of_args(self.kind, self.family, self.args)
        return self._key

    def line(self, verb):
        return " ".join((self.kind, verb, *self.args))


class Op(namedtuple("Op", "verb obj")):
    """verb "add" or "del" applied to an Obj."""
    __slots__ = ()

    def inverse(self):
        return Op("del" if self.verb == "add" else "add", self.obj)

    def command(self):
        return f"-{self.obj.family} {self.obj.line(self.verb)}"


class Address(namedtuple("Address", "family local prefixlen secondary noprefixroute",
                         defaults=(False, False))):
    """A global address the kernel has on the interface."""
    __slots__ = ()

    @property
    def network(self):
        return ipaddress.ip_interface(f"{self.local}/{self.prefixlen}").network


Observed = namedtuple("Observed", "addresses rule_keys route_keys defaults",
                      defaults=((), (), (), ()))
Observed.__doc__ = """What the kernel has, as observe.py read it: the interface's
Addresses; (family, key) of every rule (whoever added it: a rules_ line
may carry its own protocol, so the record and the wanted objects, not the
protocol, say which are ours) and of every route of ours (proto 201);
(family, table, proto, dev, gateway) of every default route."""


# ---------------------------------------------------------------- priorities

def slot_of(cfg, table_id):
    """Table number decides the slot; without a table, the interface name."""
    if table_id is not None:
        return table_id
    return zlib.crc32(cfg.ifvar.encode())


def user_priorities(cfg, table_id):
    """Priority of every rules_ line, in the lines' order."""
    base = slot_of(cfg, table_id)
    out, n = [], 0
    for rule in cfg.rules:
        if rule.priority is not None:
            out.append(rule.priority)
        else:
            out.append(bands.user_priority(base, n))
            n += 1
    return out


# ---------------------------------------------------------------- rendering

HOST_LEN = {4: 32, 6: 128}


@lru_cache(maxsize=1 << 16)     # each source is in two rules, keyed in each step
def prefix(text, family):
    """ADDR[/LEN], "all" or "default" of one family as ``ip`` prints a
    prefix: the address masked to LEN, in inet_ntop's words (iproute2's),
    then /LEN. Keys build theirs from our words and from ip's output with
    this, so both are the same text; ValueError for anything else
    (parse.address_and_length: a start at 1,000 addresses keys ~4,000)."""
    if text in ("all", "default"):
        return f"{'0.0.0.0' if family == 4 else '::'}/0"
    packed, n = address_and_length(text, family)
    bits = HOST_LEN[family]
    if n < bits:
        packed = (int.from_bytes(packed, "big") >> (bits - n) << (bits - n)).to_bytes(
            bits // 8, "big")
    return f"{socket.inet_ntop(AF[family], packed)}/{n}"


def rule_args(rule, priority):
    """A parsed Rule -> ``ip rule add`` arguments, tagged with our protocol
    unless the line gives its own."""
    args = []
    for keyword, value in rule.selector:
        args += [keyword] if value == "" else [keyword, value]
    args += ["priority", str(priority)]
    if rule.action[0] != "l3mdev":
        args += list(rule.action)
    for keyword, value in rule.modifiers:
        args += [keyword, value]
    protocol = str(bands.PROTO) if rule.protocol is None else rule.protocol
    return tuple(args + ["protocol", protocol])


def source_prefixes(addresses, family):
    """The fewest prefixes that cover exactly the addresses of one family,
    as text: a contiguous block of aliases becomes one rule, and no prefix
    reaches an address the interface does not have (another interface's,
    or nobody's). Each run of consecutive addresses is cut into the
    largest aligned blocks it holds, as ipaddress.collapse_addresses
    would, on the addresses as numbers: an ipaddress object for each of
    10,000 addresses cost ~9 MiB at once, and ~15 ms a start at 1,000."""
    bits, out = HOST_LEN[family], []
    for first, last in _runs(sorted({_number(family, a.local) for a in addresses
                                     if a.family == family})):
        while first <= last:
            size = (first & -first or 1 << bits).bit_length() - 1     # alignment
            size = min(size, (last - first + 1).bit_length() - 1)      # room left
            out.append(f"{socket.inet_ntop(AF[family], first.to_bytes(bits // 8, 'big'))}"
                       f"/{bits - size}")
            first += 1 << size
    return out


def _number(family, text):
    return int.from_bytes(socket.inet_pton(AF[family], text), "big")


def _runs(numbers):
    """(first, last) of each run of consecutive numbers (sorted, unique)."""
    out = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def auto_rules(sources, family, table_id, guard):
    """The rules that send traffic from ``sources`` (prefixes of one
    family) to the table: stage 1 for each, the shared guard, stage 3 for
    each, in that order so that a half-applied set never sends traffic to
    the table's default before main's specific routes are consulted."""
    return list(_auto_rules(tuple(str(p) for p in sources), family, table_id, guard))


@lru_cache(maxsize=2)       # a held start makes the same ones in each step, per family
def _auto_rules(sources, family, table_id, guard):
    first, second, third = map(str, bands.auto_priorities(table_id, guard))
    proto, table = ("protocol", str(bands.PROTO)), str(table_id)
    out = []
    if guard and sources:
        out += _stage(family, sources, ("priority", first, "lookup", table,
                                        "suppress_prefixlength", "0", *proto))
        out.append(Obj("rule", family, ("priority", second, "lookup", "main",
                                        "suppress_prefixlength", "0", *proto)))
    out += _stage(family, sources, ("priority", third, "lookup", table, *proto))
    return tuple(out)


def _stage(family, sources, words):
    """``from SOURCE`` and ``words``, a rule per source. Their keys differ
    in the source alone: the words' key is made once (key_of_args), and
    each rule's is it with the source's pair in its sorted place (2,001
    rules at 1,000 addresses, in each step of a start)."""
    rest = key_of_args("rule", family, words)
    at = sum(1 for field, _value in rest if field < "from")
    head, tail = rest[:at], rest[at:]
    out = []
    for p in sources:
        rule = Obj("rule", family, ("from", p, *words))
        rule._key = (*head, _shared(("from", prefix(p, family))), *tail)
        out.append(rule)
    return out


def prefix_routes(iface, addresses, table_id):
    """One connected route per prefix, src the first address in it."""
    seen, out = set(), []
    for a in addresses:
        if a.noprefixroute or a.prefixlen == HOST_LEN[a.family] or a.network in seen:
            continue
        seen.add(a.network)
        args = [str(a.network), "dev", iface]
        if a.family == 4:
            args += ["src", a.local, "scope", "link"]
        args += ["table", str(table_id), "proto", str(bands.PROTO)]
        out.append(Obj("route", a.family, tuple(args)))
    return out


def default_copies(iface, observed, table_id):
    """Main's default through this interface, copied where the table has none."""
    out = []
    for family in (4, 6):
        table_has = [d for d in observed.defaults
                     if d[0] == family and d[1] == table_id and d[2] != str(bands.PROTO)]
        if table_has:
            continue
        for fam, table, _proto, dev, gateway in observed.defaults:
            if fam == family and table == 254 and dev == iface:
                args = ["default"] + (["via", gateway] if gateway else [])
                args += ["dev", iface, "table", str(table_id), "proto", str(bands.PROTO)]
                out.append(Obj("route", family, tuple(args)))
                break
    return out


def global_addresses(observed):
    return sorted(observed.addresses,
                  key=lambda a: (a.family, a.secondary, _number(a.family, a.local)))


def unknown_tables(rules, registry, pending=()):
    """One error per rules_ line that looks up a table name iproute2 does
    not know (rt_tables, rt_tables.d) and no table_ will register
    (``pending``)."""
    return [rule.origin.error(rule.action[1], "is not a table iproute2 knows "
                              "(rt_tables, rt_tables.d) nor any table_")
            for rule in rules
            if rule.action and rule.action[0] == "lookup"
            and registry.lookup(rule.action[1]) is None and rule.action[1] not in pending]


def desired(cfg, table_id, registry, observed):
    """Everything this interface should have in the kernel, in apply order.

    Raises ConfigErrors when a rules_ line looks up a table name iproute2
    does not know.
    """
    errors = unknown_tables(cfg.rules, registry)
    if errors:
        raise ConfigErrors(errors)
    rules = []
    for rule, priority in zip(cfg.rules, user_priorities(cfg, table_id)):
        if rule.action[0] == "lookup":
            rule = _with_action(rule, ("lookup", str(registry.lookup(rule.action[1]))))
        rules.append(Obj("rule", rule.family, rule_args(rule, priority)))
    routes = []
    if table_id is not None:
        addresses = global_addresses(observed)
        routes = prefix_routes(cfg.iface, addresses, table_id)
        routes += default_copies(cfg.iface, observed, table_id)
        rules += source_rules(cfg, table_id, addresses)
    return routes + rules


def source_rules(cfg, table_id, addresses):
    """The automatic rules of ``addresses``, both families."""
    return [o for family in (4, 6)
            for o in auto_rules(source_prefixes(addresses, family), family, table_id, cfg.guard)]


def _with_action(rule, action):
    return rule._replace(action=action)


# ---------------------------------------------------------------- diffing

def diff(want, have_keys, mine, kept=()):
    """Operations turning what we have into what we want.

    ``have_keys``: (family, key) of our objects the kernel has now.
    ``mine``: objects known to be this interface's (record + desired), so
    objects of other interfaces at shared priorities are never touched.
    ``kept``: objects other interfaces' records still list (the shared
    guard): never deleted here, whoever added them.
    Deletions come first so a changed rule never collides with its old self.
    """
    want_keys = {(o.family, o.key) for o in want}
    spare = want_keys | {(o.family, o.key) for o in kept}
    have = set(have_keys)
    dels = [Op("del", o) for o in unique(mine)
            if (o.family, o.key) in have and (o.family, o.key) not in spare]
    adds = [Op("add", o) for o in unique(want) if (o.family, o.key) not in have]
    # Routes before rules on add (a rule must find its table filled);
    # rules before routes on delete.
    dels.sort(key=lambda op: op.obj.kind != "rule")
    late = _after_adds(dels, adds)
    return [op for op in dels if op not in late] + adds + [op for op in dels if op in late]


def highest_priority_first(adds):
    """Rule adds in the order the kernel inserts them fastest: it walks
    its list, sorted by priority, past every rule of a priority up to the
    new one's, so a rule added before those of lower numbers is placed
    near the head (stable within a priority; ip -batch, 2,001 IPv6 rules
    of a start at 1,000 addresses: ~90 ms against ~105). Only where the
    order decides nothing: rules to a table that has no route yet."""
    return sorted(adds, key=lambda op: -int(op.obj.args[op.obj.args.index("priority") + 1]))


def _after_adds(dels, adds):
    """Deletions that wait until the adds are in: make before break when
    an address joins or leaves a block and its prefixes change shape, so
    the other addresses of the block are never without rules. Those are
    automatic rules (no add can collide with them: the source differs)
    and routes no add replaces; a replaced route (same destination and
    table) must go first, or its add would find it there."""
    replaced = {_route_slot(op.obj) for op in adds if op.obj.kind == "route"}
    return {op for op in dels
            if (op.obj.kind == "rule" and bands.in_auto_band(int(dict(op.obj.key)["priority"])))
            or (op.obj.kind == "route" and _route_slot(op.obj) not in replaced)}


def _route_slot(route):
    fields = dict(route.key)
    return route.family, fields["dst"], fields["table"]


def unique(objs):
    """The first object of each (family, key), in order."""
    first = {}
    for o in objs:
        first.setdefault((o.family, o.key), o)
    return list(first.values())


def others_objects(records, iface):
    """Every object the other interfaces' records (one namespace's, by
    name) list: what a converge or stop of ``iface`` must leave alone."""
    return [o for name, r in records.items() if name != iface for o in r.objects]


def unshared(recorded, kept):
    """The recorded objects no other record lists: what a stop may delete.
    The last interface to want a shared rule takes it away."""
    keep = {(o.family, o.key) for o in kept}
    return [o for o in recorded if (o.family, o.key) not in keep]


def removal(recorded, have_keys):
    """Stop: delete what the record says we added and the kernel still has."""
    have = set(have_keys)
    ops = [Op("del", o) for o in unique(recorded) if (o.family, o.key) in have]
    ops.sort(key=lambda op: op.obj.kind != "rule")
    return ops


# ---------------------------------------------------------------- keys

# Every (field, value) pair of a key, one object each: the guard's
# priority, a table's lookup and the protocol are in thousands of keys,
# and an address is in a rule of stage 1 and one of stage 3.
_PAIRS = {}
PAIRS_MAX = 1 << 16    # ~10 MiB at most: a follower runs for months; forget, share anew


def key_of_fields(fields):
    """A key: the (field, value) pairs of ``fields`` sorted by field, a
    tuple (``pair in key`` and ``dict(key)`` work as on a set; a tuple of
    five costs 80 bytes where a frozenset costs 472)."""
    return tuple([_shared(p) for p in sorted(fields.items())])


def _shared(pair):
    """The one object of an equal (field, value) pair (_PAIRS)."""
    if len(_PAIRS) > PAIRS_MAX:
        _PAIRS.clear()
    return _PAIRS.setdefault(pair, pair)


def key_of_args(kind, family, args):
    """Canonical key (key_of_fields) of our own argument lists."""
    fields, i = {}, 0
    if kind == "route":
        fields["dst"] = prefix(args[0], family)
        i = 1
    while i < len(args):
        word = args[i]
        if word in ("nop", "blackhole", "unreachable", "prohibit"):
            fields["action"] = word
            i += 1
            continue
        if word in ("not", "l3mdev"):
            fields[word] = ""
            i += 1
            continue
        value = args[i + 1]
        i += 2
        if word in ("from", "to"):
            fields[word] = prefix(value, family)
        elif word == "lookup":
            fields["action"] = f"lookup {_table_number(value)}"
        elif word == "goto":
            fields["action"] = f"goto {value}"
        elif word == "tos":
            fields["tos"] = str(int(value, 16))
        elif word == "table":
            fields["table"] = str(_table_number(value))
        elif word in ("proto", "protocol"):
            if value not in HIDDEN_PROTOCOLS:
                fields["protocol"] = value
        elif word == "realms":
            fields["realms"] = _realms(value)
        elif word == "scope":
            continue
        else:
            fields[word] = value
    if kind == "route":
        fields.setdefault("table", "254")
    return key_of_fields(fields)


# ``ip rule show`` prints no protocol 0 (unspec) or 2 (kernel) without -d.
HIDDEN_PROTOCOLS = ("0", "2")


def _realms(text):
    """"FROM/TO" or one raw number (FROM << 16 | TO) -> the kernel's view."""
    if "/" in text:
        return text
    raw = int(text)
    return f"{raw >> 16}/{raw & 0xffff}" if raw >> 16 else str(raw & 0xffff)


def _table_number(text):
    return str(bands.RESERVED_TABLES.get(text, text))
