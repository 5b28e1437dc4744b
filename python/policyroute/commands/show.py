"""show: per managed interface, its table, addresses, rules, routes, the
sysctls set, and drift. Human text by default; --json or --yaml for tools
(stdout then holds nothing else). Exit 5 when anything drifted."""

import json
import os
import sys
import textwrap

from ..confd import interface_values, read_config
from ..errors import EXIT_DRIFT, StateError, UsageError
from ..kernel import in_netns
from ..parse import parse_interface, parse_unit, shell_var
from .. import follower
from ..status import has_drift, status
from .common import add_config_option, inputs_for

WIDTH = 80


def add_arguments(p):
    p.add_argument("iface", nargs="?", metavar="IFACE")
    add_config_option(p, "compare with this configuration")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt.add_argument("--yaml", action="store_true", help="YAML on stdout")


def run(args, ctx):
    yaml = _yaml() if args.yaml else None
    variables = read_config(args.config) if os.path.exists(args.config) else None
    records = [r for _p, r in ctx.paths.store().all()
               if args.iface in (None, r.iface)]
    records.sort(key=lambda r: (bool(r.netns), r.netns or "", r.iface))
    if args.iface and not records:
        raise StateError(f"{args.iface}: not managed by policyroute (no record)")
    items = []
    for record in records:
        cfg = _config(variables, record)
        with in_netns(record.netns):
            item = status(record, cfg, ctx.paths, ctx.runner, ctx.runner.sysctl_read)
        item["moved"] = [{"address": a, "to": to} for a, to in record.moved]
        item["follower"] = follower.running(ctx.paths, record.netns)
        items.append(item)
    _print(items, args, yaml)
    return EXIT_DRIFT if any(has_drift(i) for i in items) else 0


def _config(variables, record):
    """What the interface should have: the file's values, or where it sets
    none under the interface's name (per-MAC, per-ESSID keys), the values
    its start resolved."""
    if variables is None:
        return None
    if inputs_for(variables, record.iface, record) is record.inputs:
        return parse_unit(record.iface, record.inputs, record.netns).cfg
    return parse_interface(record.iface, **interface_values(variables, shell_var(record.iface)))


def _yaml():
    """PyYAML is needed for --yaml only (README); said before any work."""
    try:
        import yaml
    except ImportError:
        raise UsageError("show: --yaml needs PyYAML (python3-yaml, dev-python/pyyaml); "
                         "--json needs nothing") from None
    return yaml


def _print(items, args, yaml=None):
    if args.json:
        json.dump(items, sys.stdout, indent=2)
        print()
    elif yaml:
        yaml.safe_dump(items, sys.stdout, sort_keys=False)
    else:
        for item in items:
            print(human(item))
        if not items:
            print("no interface is managed by policyroute")


def human(item):
    t = item["table"]
    table = f"{t['name']} ({t['id']})" if t["name"] else str(t["id"])
    where = f" in netns {item['netns']}" if item["netns"] else ""
    state = "DRIFT" if has_drift(item) else "in sync"
    out = [f"{item['iface']}{where}: table {table}, {state}"]
    out += _field("follower", [f"running (pid {item['follower']})" if item["follower"]
                               else "NOT RUNNING: addresses are not followed (follow.log)"])
    out += _field("addresses", [" ".join(item["addresses"]) or "none"])
    out += _field("lent", [f"{m['address']} to {m['to']} (failover)" for m in item["moved"]])
    out += _field("rules", item["rules"] or ["none"])
    out += _field("routes", item["routes"] or ["none"])
    out += _field("sysctls", [f"{s['key']}: {s['before']} -> {s['set']}"
                              + ("" if s["now"] == s["set"] else f" (now {s['now']})")
                              for s in item["sysctls"]] or ["none"])
    out += _field("missing", item["drift"]["missing"])
    out += _field("extra", item["drift"]["extra"])
    return "\n".join(out)


def _field(name, values):
    out = []
    for i, value in enumerate(values):
        head = f"  {name:<10} " if i == 0 else " " * 13
        out += textwrap.wrap(value, WIDTH, initial_indent=head, subsequent_indent=" " * 17,
                             break_on_hyphens=False) or [head]
    return out
