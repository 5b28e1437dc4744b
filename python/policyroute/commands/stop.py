"""stop: remove exactly what the record of the last start says was added
(without a usable record: what the kernel shows of that start)."""

import os

from .. import engine
from ..kernel import NETNS_RUN_DIR, in_netns
from ..errors import ConfigError
from ..parse import IFNAME_RE, Origin, parse_netns
from .common import add_values_option, read_values


def add_arguments(p):
    p.add_argument("iface", metavar="IFACE")
    p.add_argument("--netns", help="the network namespace the interface lives in")
    add_values_option(p)


def run(args, ctx):
    read_values(args, {"netns"})
    interface(args.iface)
    netns = parse_netns(args.netns, Origin("--netns"))
    store = ctx.paths.store()
    if netns and not os.path.exists(os.path.join(NETNS_RUN_DIR, netns)):
        # The namespace is gone, and its rules, routes and sysctls with it.
        if args.iface in store.names(netns):
            ctx.warn(f"{args.iface}: netns {netns} is gone, and what its start added "
                     f"with it; removing {store.path(args.iface, netns)}")
            store.remove(args.iface, netns)
        return 0
    with in_netns(netns):
        engine.stop(args.iface, netns, ctx.paths, ctx.runner, ctx.sysctl)
    return 0


def interface(name):
    """IFACE as a file name of the record: an interface name or nothing."""
    if not IFNAME_RE.match(name):
        raise ConfigError("IFACE", None, name, "is not an interface name")
