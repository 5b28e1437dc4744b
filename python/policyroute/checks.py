"""Whole-file checks for ``policyroute check``: every interface's values,
and what only shows across interfaces. Pure: variables in, errors out."""

import ipaddress
import re

from . import bands
from .confd import interface_values
from .errors import ConfigError
from .parse import Origin, parse_failover, parse_interface_partly, shell_var, split_lines
from .plan import unknown_tables

# config_ words whose value is an address that is not the interface's own.
NOT_ADDRESSES = {"netmask", "brd", "broadcast", "peer", "pointopoint", "via", "gw"}
OUR_VARS = re.compile(r"^(table|rules|rules6|policyroute_guard|policyroute_arp|failover)_(\w+)$")
ANY_VAR = re.compile(r"^(table|rules|rules6|policyroute_guard|policyroute_arp|failover|netns|"
                     r"config)_(\w+)$")


def managed_ifvars(variables):
    """IFVARs with any policyroute variable set, in sorted order."""
    out = set()
    for name, value in variables.items():
        m = OUR_VARS.match(name)
        if m and value.strip():
            out.add(m.group(2))
    return sorted(out)


def check_all(variables, registry):
    """(configs by IFVAR, every problem found) for one conf.d/net."""
    configs, errors = {}, []
    for ifvar in managed_ifvars(variables):
        configs[ifvar], found = parse_interface_partly(ifvar, ifvar=ifvar,
                                                       **interface_values(variables, ifvar))
        errors += found
    names = {c.table.name for c in configs.values() if c.table and c.table.name}
    for cfg in configs.values():
        errors += unknown_tables(cfg.rules, registry, names)
    # Names not registered yet get the numbers a start would give them, so
    # "table_eth1=1024" is seen to be eth0's "e0" before either starts.
    registry = registry.previewed(names)
    errors += ambiguous_tables(configs, registry)
    errors += reserved_tables(configs, registry)
    errors += shared_tables(configs, registry)
    errors += failovers(variables)
    errors += duplicate_addresses(variables)
    errors += priority_collisions(configs)
    errors += slot_collisions(configs, registry)
    return configs, errors


def _table_id(cfg, registry):
    if cfg.table is None:
        return None
    return cfg.table.id if cfg.table.id is not None else registry.lookup(cfg.table.name)


def errors_of(errors, ifvar):
    """The problems a start of ifvar must refuse: its own variables', and
    those across interfaces that name it (``about``)."""
    return [e for e in errors if ifvar_of(e.variable) == ifvar
            or ifvar in getattr(e, "about", ())]


MAC_KEY = re.compile(r"^[0-9A-Fa-f]{12}$")


def mac_key(ifvar):
    """Is this the key netifrc's macnet gives a per-MAC setting (the MAC
    without colons), rather than an interface's IFVAR?"""
    return bool(ifvar and MAC_KEY.match(ifvar))


def ifvar_of(variable):
    m = ANY_VAR.match(variable)
    return m.group(2) if m else None


def _about(error, *ifvars):
    error.about = set(ifvars)
    return error


def shared_tables(configs, registry):
    out, owner = [], {}
    for ifvar, cfg in configs.items():
        if cfg.table is None:
            continue
        key = _table_id(cfg, registry) or cfg.table.name
        if key in owner:
            out.append(_about(cfg.table.origin.error(
                cfg.table.name or str(cfg.table.id), f"is also the table of {owner[key]}"),
                ifvar, owner[key]))
        else:
            owner[key] = ifvar
    return out


def reserved_tables(configs, registry):
    """A table_ name that rt_tables maps onto main, local, default or 0."""
    reserved = set(bands.RESERVED_TABLES.values())
    return [cfg.table.origin.error(cfg.table.name, f"is table {_table_id(cfg, registry)} "
                                   "(reserved) in rt_tables; give this interface a table "
                                   "of its own")
            for cfg in configs.values()
            if cfg.table and cfg.table.name and _table_id(cfg, registry) in reserved]


def ambiguous_tables(configs, registry):
    """A table name rt_tables files make unsafe (Registry.refusal): two
    numbers, where iproute2 and policyroute could each take another, or
    a number out of range."""
    out = []
    for cfg in configs.values():
        names = [(cfg.table.origin, cfg.table.name or str(cfg.table.id))] if cfg.table else []
        names += [(r.origin, r.action[1]) for r in cfg.rules if r.action[0] == "lookup"]
        for origin, name in names:
            why = registry.refusal(name)
            if why:
                out.append(origin.error(name, why))
    return out


def _no_table(origin, target, variables):
    if variables.get(f"table_{shell_var(target)}", "").strip():
        return None
    return origin.error(target, f"has no table_{shell_var(target)}: failover moves addresses "
                                "only to an interface policyroute manages")


def failovers(variables):
    """check: every failover_ value names a sibling with a table_, from an
    interface with a table_."""
    out = []
    for name in sorted(v for v in variables if v.startswith("failover_")):
        ifvar, origin = name[len("failover_"):], Origin(name)
        try:
            target = parse_failover(variables[name], ifvar, ifvar)
        except ConfigError as e:
            out.append(e)
            continue
        if target is None:
            continue
        problem = _no_table(origin, target, variables)
        if problem is None and not variables.get(f"table_{ifvar}", "").strip():
            problem = origin.error(target, f"needs table_{ifvar} too")
        if problem is None and shell_var(target) == ifvar:
            problem = origin.error(target, "is this interface itself; name the one on the "
                                           "other switch")
        if problem:
            out.append(problem)
    return out


def duplicate_addresses(variables):
    """An address in two interfaces' config_: its rules would fight."""
    out, seen = [], {}
    for name in sorted(v for v in variables if v.startswith("config_")):
        for n, line in enumerate(split_lines(variables[name]), 1):
            words = line.split()
            for before, token in zip([None] + words, words):
                if before in NOT_ADDRESSES:
                    continue
                try:
                    ip = ipaddress.ip_interface(token).ip
                except ValueError:
                    continue
                if ip in seen and seen[ip][0] != name:
                    out.append(ConfigError(name, n, token,
                                           f"is also configured in {seen[ip][0]} line {seen[ip][1]}"))
                seen.setdefault(ip, (name, n))
    return out


def priority_collisions(configs):
    """An explicit priority given on two interfaces."""
    out, explicit = [], {}
    for ifvar, cfg in configs.items():
        for rule in cfg.rules:
            if rule.priority is not None:
                key = (rule.family, rule.priority)
                if key in explicit and explicit[key][0] != ifvar:
                    other = explicit[key][1]
                    out.append(_about(rule.origin.error(
                        f"priority {rule.priority}",
                        f"is also used by {other.variable} line {other.line}"),
                        ifvar, explicit[key][0]))
                explicit.setdefault(key, (ifvar, rule.origin))
    return out


def slot_collisions(configs, registry):
    """Two tables in one priority slot (bands.py) where both have rules_
    lines without priority: those lines would share priorities, and their
    order would depend on which interface started first. ``check`` reports
    it; post-start warns."""
    out, slots = [], {}
    for ifvar, cfg in configs.items():
        table_id = _table_id(cfg, registry)
        if table_id is None or not any(r.priority is None for r in cfg.rules):
            continue
        s = bands.slot(table_id)
        if s in slots and slots[s][1] != table_id:      # one table twice: shared_tables
            out.append(Origin(f"table_{ifvar}").error(
                cfg.table.name or str(table_id),
                f"shares priority slot {s} with table_{slots[s][0]}; "
                "give the rules_ lines explicit priorities"))
        slots.setdefault(s, (ifvar, table_id))
    return out


def after_the_guard(configs):
    """Warnings, not errors: a rules_ line with an explicit priority after
    the shared guard (bands.STAGE_MAIN_SPECIFIC) in a namespace where an
    interface has the guard on. The guard is one rule for every source,
    so traffic no interface's rules took (unbound, other sources) and for
    which main has a route more specific than its default takes that
    route at the guard and never reaches the line; with one guard rule
    per address it did. Below 20000 the line is evaluated first, as
    before."""
    guarded = {cfg.netns for cfg in configs.values() if cfg.table is not None and cfg.guard}
    out = []
    for cfg in configs.values():
        if cfg.netns not in guarded:
            continue
        for rule in cfg.rules:
            if rule.priority is not None and rule.priority > bands.STAGE_MAIN_SPECIFIC:
                out.append(rule.origin.error(
                    f"priority {rule.priority}",
                    f"comes after the shared guard ({bands.STAGE_MAIN_SPECIFIC}): traffic "
                    "that no table's rules took and that main routes more specifically "
                    "than its default takes main's route before this line; give a "
                    "priority below 20000 to see it"))
    return out
