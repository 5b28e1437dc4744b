"""Arguments shared by the subcommands that take one interface's values."""

import sys

from .. import parse
from ..errors import ConfigError, UsageError

DEFAULT_CONFIG = "/etc/conf.d/net"
# The values the module passes, and their conf.d/net names (NAME_<IFVAR>).
VARIABLES = {"table": "table", "rules": "rules", "rules6": "rules6",
             "guard": "policyroute_guard", "arp": "policyroute_arp", "failover": "failover",
             "configured": "config", "netns": "netns"}


def add_values(p):
    """The netifrc module passes each variable's value as one argument."""
    p.add_argument("iface", metavar="IFACE")
    p.add_argument("--ifvar", help="netifrc's IFVAR (default: derived from IFACE)")
    p.add_argument("--table", help="table_<IFVAR>")
    p.add_argument("--rules", help="rules_<IFVAR>, one rule per line")
    p.add_argument("--rules6", help="rules6_<IFVAR>, one rule per line")
    p.add_argument("--guard", help="policyroute_guard_<IFVAR> (yes/no)")
    p.add_argument("--arp", help="policyroute_arp_<IFVAR> (yes/no)")
    p.add_argument("--failover", help="failover_<IFVAR>: where aliases go on carrier loss")
    p.add_argument("--configured", help="config_<IFVAR>: its first address of each family "
                   "stays in place on failover")
    p.add_argument("--netns", help="netns_<IFVAR>: act inside this network namespace")
    p.add_argument("--config", help="conf.d/net to read other interfaces' table names from")
    add_values_option(p)


def add_values_option(p):
    p.add_argument("--values", metavar="FILE",
                   help="read the values as NAME=VALUE records, each ended by a NUL byte, "
                   "from FILE (- for stdin), NAME being an option's name: how the netifrc "
                   "module passes them, so none is read as an option or is too long for "
                   "a command line")


# conf.d/net variables pre-start may get beside the interface's own values
# (NAME_<IFVAR> of every interface, as netifrc's shell has them).
SIBLING_PREFIXES = tuple(f"{name}_" for name in VARIABLES.values())


def read_values(args, names, siblings=False):
    """Set args.NAME from --values records; names: the NAMEs allowed. With
    ``siblings``, records named like a conf.d/net variable (table_eth0_10)
    go to args.variables."""
    if not getattr(args, "values", None):
        return args
    try:
        if isinstance(args.values, bytes):         # read already (commands/hold.py)
            data = args.values
        elif args.values == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.values, "rb") as f:
                data = f.read()
    except OSError as e:
        raise UsageError(f"--values {args.values}: {e.strerror}") from None
    for record in data.split(b"\0")[:-1] if data.endswith(b"\0") else data.split(b"\0"):
        name, sep, value = record.decode("utf-8", "surrogateescape").partition("=")
        if sep and siblings and name.startswith(SIBLING_PREFIXES):
            args.variables = {**(args.variables or {}), name: value}
            continue
        if not sep or name not in names:
            raise UsageError(f"--values: '{parse.shown(name[:40])}' is not one of "
                             + ", ".join(sorted(names)))
        setattr(args, name, value)
    args.values = None          # read once
    return args


def unit_from_args(args):
    """The interface's values, parsed once per process (a held start asks
    three times)."""
    if getattr(args, "unit", None) is None:
        read_values(args, VARIABLES)
        inputs = {name: getattr(args, name) for name in parse.INPUTS}
        args.unit = parse.parse_unit(args.iface, inputs, args.netns or None)
    return args.unit


def add_config_option(p, text="netifrc configuration"):
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"{text} (default {DEFAULT_CONFIG})")


def add_config(p):
    p.add_argument("iface", metavar="IFACE")
    add_config_option(p)


def unit_from_file(path, iface, store=None):
    """One interface's values from conf.d/net; where the file sets none
    under the interface's own name (per-MAC or per-ESSID keys, which only
    netifrc can resolve), the values its start resolved, from its record."""
    from ..confd import read_config
    variables = read_config(path)
    netns = variables.get(f"netns_{parse.shell_var(iface)}") or None
    record = store.load(iface, netns) if store is not None else None
    return parse.parse_unit(iface, inputs_for(variables, iface, record), netns), variables


def inputs_for(variables, iface, record):
    """The interface's values in conf.d/net or, where the file sets none
    under its own name, the ones its start resolved (record.inputs)."""
    from ..confd import unit_values
    inputs = unit_values(variables, parse.shell_var(iface))
    if record is not None and record.inputs and not any(
            inputs.get(k) for k in ("table", "rules", "rules6")):
        return record.inputs
    return inputs


def sibling_tables(variables):
    """Valid table names of every interface, so names register in one go."""
    from ..confd import table_names
    names = []
    for name in table_names(variables):
        try:
            parse.parse_table(name, parse.Origin("table"))
            names.append(name)
        except ConfigError:
            continue
    return names


def sibling_tables_from(path):
    if not path:
        return []
    from ..confd import read_config
    try:
        return sibling_tables(read_config(path))
    except ConfigError:
        return []
