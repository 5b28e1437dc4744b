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


def shared_tables(configs, registry):
    out, owner = [], {}
    for ifvar, cfg in configs.items():
        if cfg.table is None:
            continue
        key = _table_id(cfg, registry) or cfg.table.name
        if key in owner:
            out.append(cfg.table.origin.error(
                cfg.table.name or str(cfg.table.id), f"is also the table of {owner[key]}"))
        else:
            owner[key] = ifvar
    return out


def failover_target(unit, variables):
    """pre-start: the failover_ sibling must be an interface with a table_
    of its own (its addresses need a table to route by). None when it is."""
    if unit.failover is None:
        return None
    return _no_table(Origin(f"failover_{unit.cfg.ifvar}"), unit.failover, variables)


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
                    out.append(rule.origin.error(
                        f"priority {rule.priority}",
                        f"is also used by {other.variable} line {other.line}"))
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
        if s in slots:
            out.append(Origin(f"table_{ifvar}").error(
                cfg.table.name or str(table_id),
                f"shares priority slot {s} with table_{slots[s]}; "
                "give the rules_ lines explicit priorities"))
        slots.setdefault(s, ifvar)
    return out
