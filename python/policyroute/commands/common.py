"""Arguments shared by the subcommands that take one interface's values."""

from .. import parse
from ..confd import interface_values, read_config, table_names
from ..errors import ConfigError
from ..kernel import enter_netns

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
    p.add_argument("--netns", help="netns_<IFVAR>: act inside this network namespace")
    p.add_argument("--config", help="conf.d/net to read other interfaces' table names from")


def config_from_args(args):
    return parse.parse_interface(args.iface, table=args.table, rules=args.rules,
                                 rules6=args.rules6, guard=args.guard, arp=args.arp,
                                 netns=args.netns, ifvar=args.ifvar)


def add_config(p):
    p.add_argument("iface", metavar="IFACE")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"netifrc configuration (default {DEFAULT_CONFIG})")


def config_from_file(path, iface):
    variables = read_config(path)
    values = interface_values(variables, parse.shell_var(iface))
    return parse.parse_interface(iface, **values), variables


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


def enter(cfg_netns):
    if cfg_netns:
        enter_netns(cfg_netns)
