"""Read the kernel's state into plan.Observed, and ``ip -json`` objects into
the same canonical keys plan.key_of_args builds from our arguments."""

from . import bands
from .kernel import netns_id
from .netlink import RuleEvents
from .parse import IPPROTO
from .plan import Address, Observed, key_of_fields, prefix

ACTION_TYPES = {"6": "blackhole", "7": "unreachable", "8": "prohibit"}


LINK_QUERIES = ["link show", "vrf show"]     # for vrf.refusal


def queries(iface):
    """One family's reads: the addresses of ``iface`` (of every link when
    None), every rule, the default routes, our routes."""
    return [f"addr show dev {iface}" if iface is not None else "addr show",
            "rule show",
            "route show table all exact default",
            f"route show table all proto {bands.PROTO}"]


def observe(runner, iface, link_exists=True, refuse=None, families=(4, 6), rules=True):
    """One interface's addresses, every rule, the default routes and our
    routes, of each family in ``families`` (both unless told). Without
    ``link_exists``, neither addresses nor default routes (a plan's
    alone: a stop, or a look after applying); without ``rules``, no rule
    (at 1,000 addresses 2,001 of them are most of the reading).

    Rules are not filtered by protocol: a rules_ line may give its own, so
    which rules are ours is for the record and the plan to say. ``refuse``
    (engine.refuse_vrf's check) gets every link and VRF, read in the same
    IPv4 batch, before anything else is made of the answers."""
    kept = _take_rules() if rules else None
    wanted = (link_exists, rules and kept is None, link_exists, True)
    seen = []
    for family in sorted(families):
        cmds = [c for c, want in zip(queries(iface), wanted) if want]
        extra = LINK_QUERIES if refuse and family == 4 else []
        got = iter(runner.query(family, cmds + extra, readers(family, cmds + extra)))
        answers = [next(got) if want else [] for want in wanted]
        if extra:
            refuse(*got)
        seen.append(observed_of(family, answers))
    seen = joined(seen)
    if kept is not None:
        seen = seen._replace(rule_keys=tuple(k for k in kept if k[0] in families))
    return seen


# A held process (commands/hold.py) keeps the rules its first step left
# for the next read of that namespace's rules (at 1,000 addresses, 2,001
# of them are most of post-start's reading): None, or, once keep_rules()
# is called, {kernel.netns_id(): (events, rule keys or None while not
# known)} (a namespace made again under the same name is another, whose
# events never came here).
_kept = None


def keep_rules():
    global _kept
    _kept = {}


def watch_rules():
    """Before a read of the rules that rules_now may keep: from now on,
    every rule change in the namespace we act in is counted
    (netlink.RuleEvents). Nothing when nothing is kept in this process."""
    if _kept is None:
        return
    here = netns_id()
    _drop(here)
    try:
        _kept[here] = (RuleEvents(), None)
    except OSError:
        pass                        # read again, then


def rules_now(rule_keys, added):
    """After watch_rules, a read of the rules (``rule_keys``) and
    ``added`` rule adds of ours, all under the namespace lock: those are
    the kernel's rules, unless another rule changed meanwhile (more events
    than our adds). Kept until the next read of the namespace's rules
    takes them (observe), if no rule changed in between."""
    here = netns_id()
    events, keys = (_kept or {}).get(here, (None, None))
    if events is None or keys is not None:
        return
    if events.count() == added:
        events.narrow()
        _kept[here] = (events, tuple(rule_keys))
    else:
        _drop(here)


def _take_rules():
    """The kept rule keys of the namespace we act in, if no rule changed
    since they were kept; else None (then they are read). Taken once."""
    if not _kept:
        return None
    here = netns_id()
    events, keys = _kept.get(here, (None, None))
    if keys is None:                # none, or a first step's, still counting
        return None
    quiet = events.count() == 0
    _drop(here)
    return keys if quiet else None


def _drop(here):
    events, _keys = _kept.pop(here, (None, None))
    if events is not None:
        events.close()


def observe_all(runner, refuse=None):
    """A whole namespace in one ip run per family, for a pass over several
    interfaces: (every link as ``ip link show`` gives it, {family: every
    link's addresses as ``ip addr show`` gives them}, an Observed of the
    rules and routes without addresses: ``of_link`` adds a link's).
    ``refuse``: as observe's, given the links and VRFs first."""
    links, addrs, seen = None, {}, []
    for family in (4, 6):
        cmds = ["link show"] * (family == 4) + queries(None) + LINK_QUERIES[1:] * bool(
            refuse and family == 4)
        got = runner.query(family, cmds, readers(family, cmds))
        if family == 4:
            links = got.pop(0)
            if refuse:
                refuse(links, got.pop())
        addrs[family] = got[0]
        seen.append(observed_of(family, [[], *got[1:]]))
    return links, addrs, joined(seen)


def of_link(seen, addrs, iface):
    """observe_all's Observed with the addresses of ``iface``: what
    observe(runner, iface) would have read at the same moment."""
    return seen._replace(addresses=tuple(
        a for family, links in sorted(addrs.items())
        for a in addresses_of([link for link in links if link.get("ifname") == iface], family)))


def readers(family, commands):
    """runner.query's ``each``: ``rule show``'s rules become their keys as
    they are read (at 20,001 rules, their dicts all at once were ~7 MiB)."""
    return [(lambda j: (family, rule_key(j, family))) if c == "rule show" else None
            for c in commands]


def observed_of(family, answers):
    """One family's Observed from its answers to queries(), read with
    readers(): [addresses, rule keys, defaults, routes]."""
    links, rule_keys, default_list, our_routes = answers
    return Observed(tuple(addresses_of(links, family)),
                    tuple(rule_keys),
                    tuple([(family, route_key(r, family)) for r in our_routes]),
                    tuple([default_of(r, family) for r in default_list]))


def joined(seen):
    """One Observed of several families' ones, in their order."""
    return Observed(*(tuple([x for part in field for x in part]) for field in zip(*seen)))


def addresses_of(links, family):
    out = []
    for link in links:
        for a in link.get("addr_info", []):
            if a.get("scope") not in ("global", "0", 0) or "local" not in a:
                continue
            out.append(Address(family, a["local"], int(a["prefixlen"]),
                               bool(a.get("secondary")), bool(a.get("noprefixroute"))))
    return out


def default_of(route, family):
    table = int(route.get("table", 254))
    proto = str(route.get("protocol", "boot"))
    return (family, table, proto, route.get("dev"), route.get("gateway"))


def _prefix(addr, length, family):
    if addr in (None, "all"):
        return None
    if addr == "default":
        return prefix("default", family)
    return prefix(addr if length is None else f"{addr}/{length}", family)


def _range(j, name):
    if name in j:
        return str(j[name])
    if f"{name}_start" in j:
        a, b = j[f"{name}_start"], j[f"{name}_end"]
        return str(a) if a == b else f"{a}-{b}"
    return None


def _ipproto(text):
    text = str(text)
    if text.startswith("ipproto-"):
        return text.split("-", 1)[1]
    return str(IPPROTO.get(text, text))


def rule_key(j, family):
    """``ip -N -json rule show`` object -> canonical key (see plan.key_of_args)."""
    f = {"priority": str(j.get("priority", 0))}
    if "not" in j:
        f["not"] = ""
    for src, dst in (("src", "from"), ("dst", "to")):
        p = _prefix(j.get(src), j.get(f"{src}len"), family)
        if p is not None:
            f[dst] = p
    if "tos" in j:
        f["tos"] = str(int(str(j["tos"]), 16) if str(j["tos"]).startswith("0x") else j["tos"])
    if "fwmark" in j or "fwmask" in j:
        mark = int(str(j.get("fwmark", "0")), 0)
        mask = int(str(j.get("fwmask", hex(2**32 - 1))), 0)
        f["fwmark"] = f"{mark:#x}/{mask:#x}"
    for name in ("iif", "oif"):
        if name in j:
            f[name] = j[name]
    if "l3mdev" in j:
        f["l3mdev"] = ""
    if "uid_start" in j:
        f["uidrange"] = f"{j['uid_start']}-{j['uid_end']}"
    if "ipproto" in j:
        f["ipproto"] = _ipproto(j["ipproto"])
    for name in ("sport", "dport"):
        value = _range(j, name)
        if value is not None:
            f[name] = _masked(value, j.get(f"{name}_mask"), 0xffff)
    if "tun_id" in j:
        f["tun_id"] = str(j["tun_id"])
    if "dscp" in j:
        f["dscp"] = _masked(str(j["dscp"]), j.get("dscp_mask"), 0x3f)
    if "flowlabel" in j:
        f["flowlabel"] = f"{int(str(j['flowlabel']), 16):#x}/" \
                         f"{int(str(j.get('flowlabel_mask', '0xfffff')), 16):#x}"
    _rule_action(j, f)
    if "suppress_prefixlen" in j:
        f["suppress_prefixlength"] = str(j["suppress_prefixlen"])
    if "suppress_ifgroup" in j:
        f["suppress_ifgroup"] = str(j["suppress_ifgroup"])
    if "flow_to" in j:
        f["realms"] = f"{j['flow_from']}/{j['flow_to']}" if "flow_from" in j else str(j["flow_to"])
    if "protocol" in j:
        f["protocol"] = str(j["protocol"])
    return key_of_fields(f)


def _masked(value, mask, full):
    """VALUE, or VALUE/0xMASK when a mask narrower than ``full`` is shown."""
    if mask is None or int(str(mask), 16) == full:
        return value
    return f"{value}/{int(str(mask), 16):#x}"


def _rule_action(j, f):
    if "table" in j and "l3mdev" not in j:
        f["action"] = f"lookup {j['table']}"
    elif "goto" in j:
        f["action"] = f"goto {j['goto']}"
    elif "nop" in j:
        f["action"] = "nop"
    elif str(j.get("action")) in ACTION_TYPES:
        f["action"] = ACTION_TYPES[str(j["action"])]


def route_key(j, family):
    """``ip -N -json route show table all proto 201`` object -> canonical key."""
    addr, _, length = j["dst"].partition("/")
    f = {"dst": _prefix(addr, length or None, family)}
    if "gateway" in j:
        f["via"] = j["gateway"]
    if "dev" in j:
        f["dev"] = j["dev"]
    if "prefsrc" in j:
        f["src"] = j["prefsrc"]
    f["table"] = str(j.get("table", 254))
    f["protocol"] = str(j.get("protocol", bands.PROTO))
    return key_of_fields(f)
