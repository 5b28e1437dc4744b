"""Failover planning: which addresses move between interfaces, decided from
carrier and addresses alone. Pure: no I/O (engine.py reads and applies).

An interface with ``failover_<IFVAR>="SIBLING"`` that loses carrier hands
its *movable* addresses to SIBLING while SIBLING has carrier; when its own
carrier returns they come back. Movable: global, permanent (a DHCP lease or
a SLAAC address has a lifetime and belongs to its link), not the first
address of its family in ``config_`` (the primary stays), and not borrowed
from another interface. The owner's record lists what it lent
(``moved``), so a restarted follower, a stop or a restart knows it.
"""

from collections import namedtuple

FOREVER = 4294967295        # valid_lft of a permanent address


class Addr(namedtuple("Addr", "family local prefixlen permanent")):
    __slots__ = ()

    @property
    def cidr(self):
        return f"{self.local}/{self.prefixlen}"


class Link(namedtuple("Link", "name carrier addresses")):
    """A link as ``ip -json addr show`` tells it: carrier, global addresses."""
    __slots__ = ()

    def has(self, cidr):
        return any(a.cidr == cidr for a in self.addresses)

    def find(self, cidr):
        return next((a for a in self.addresses if a.cidr == cidr), None)


class Move(namedtuple("Move", "addr src dst owner")):
    """Move ``addr`` (an Addr) from link src to link dst. ``owner``: the
    interface whose record lends it (None for a move by hand)."""
    __slots__ = ()

    @property
    def home(self):
        return self.dst == self.owner


def links_of(links, answers):
    """{name: Link} from ``ip -json link show`` and ``ip -json addr show``
    of each family ([(family, answer), ...])."""
    addrs = {}
    for family, answer in answers:
        for link in answer:
            for a in link.get("addr_info", []):
                if a.get("scope") not in ("global", 0, "0") or "local" not in a:
                    continue
                permanent = a.get("valid_life_time", FOREVER) == FOREVER \
                    and not a.get("dynamic")
                addrs.setdefault(link["ifname"], []).append(
                    Addr(family, a["local"], int(a["prefixlen"]), permanent))
    out = {}
    for link in links:
        flags, name = link.get("flags", []), link["ifname"]
        out[name] = Link(name, "UP" in flags and "LOWER_UP" in flags, tuple(addrs.get(name, ())))
    return out


def borrowed(records):
    """{cidr: owner} of every address some interface has lent."""
    return {cidr: owner for owner, r in records.items() for cidr, _to in r.moved}


def movable(unit, link, lent):
    return [a for a in link.addresses
            if a.permanent and unit.primaries.get(a.family) != a.local and a.cidr not in lent]


def plan(units, records, links):
    """(moves, records' moved lists after them) for one pass.

    ``units``: {name: parse.Unit}; ``records``: {name: state.Record};
    ``links``: {name: Link}. Entries whose address is gone are dropped.
    """
    lent = borrowed(records)
    moves, moved = [], {}
    for name, unit in sorted(units.items()):
        link = links.get(name)
        keep = []
        for cidr, to in records[name].moved:
            there = links.get(to)
            addr = there.find(cidr) if there else None
            if addr is None:
                continue                                # gone, or moved on by hand
            if link is not None and link.carrier:
                moves.append(Move(addr, to, name, name))
            else:
                keep.append([cidr, to])
        sibling = links.get(unit.failover) if unit.failover else None
        if link is not None and not link.carrier and sibling is not None \
                and sibling.carrier and unit.failover in units:
            for addr in movable(unit, link, lent):
                moves.append(Move(addr, name, unit.failover, name))
                keep.append([addr.cidr, unit.failover])
        moved[name] = keep
    return moves, moved


def hand_back(name, records):
    """Stop of ``name``: moves giving every address it borrowed back to its
    owner, as (cidr, owner)."""
    return [(cidr, owner) for owner, r in sorted(records.items()) if owner != name
            for cidr, to in r.moved if to == name]
