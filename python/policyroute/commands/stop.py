"""stop: remove exactly what the record of the last start says was added."""

from .. import engine
from ..kernel import in_netns
from ..parse import Origin, parse_netns
from .common import add_values_option, read_values


def add_arguments(p):
    p.add_argument("iface", metavar="IFACE")
    p.add_argument("--netns", help="the network namespace the interface lives in")
    add_values_option(p)


def run(args, ctx):
    read_values(args, {"netns"})
    netns = parse_netns(args.netns, Origin("--netns"))
    if ctx.paths.store().load(args.iface, netns) is None:
        return 0            # never started by us: nothing to do
    with in_netns(netns):
        engine.stop(args.iface, netns, ctx.paths, ctx.runner, ctx.sysctl)
    return 0
