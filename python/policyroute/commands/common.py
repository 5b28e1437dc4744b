"""Arguments shared by the subcommands that take one interface's values."""

from .. import parse
from ..confd import read_config, table_names, unit_values
from ..errors import ConfigError

DEFAULT_CONFIG = "/etc/conf.d/net"


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


def unit_from_args(args):
    inputs = {name: getattr(args, name) for name in parse.INPUTS}
    return parse.parse_unit(args.iface, inputs, args.netns or None)


def add_config_option(p, text="netifrc configuration"):
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"{text} (default {DEFAULT_CONFIG})")


def add_config(p):
    p.add_argument("iface", metavar="IFACE")
    add_config_option(p)


def unit_from_file(path, iface, store=None):
    """One interface's values from conf.d/net; where the file sets none
    under the interface's own name (per-MAC or per-ESSID keys, which only
    netifrc can resolve), the values its start resolved, from its record."""
    variables = read_config(path)
    inputs = unit_values(variables, parse.shell_var(iface))
    netns = variables.get(f"netns_{parse.shell_var(iface)}") or None
    record = store.load(iface, netns) if store is not None else None
    if record is not None and record.inputs and not any(
            inputs.get(k) for k in ("table", "rules", "rules6")):
        inputs = record.inputs
    return parse.parse_unit(iface, inputs, netns), variables


def sibling_tables(variables):
    """Valid table names of every interface, so names register in one go."""
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
    try:
        return sibling_tables(read_config(path))
    except ConfigError:
        return []
