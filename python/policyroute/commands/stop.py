"""stop: remove exactly what the record of the last start says was added."""

from .. import engine
from ..kernel import in_netns


def add_arguments(p):
    p.add_argument("iface", metavar="IFACE")
    p.add_argument("--netns", help="the network namespace the interface lives in")


def run(args, ctx):
    netns = args.netns or None
    if ctx.paths.store().load(args.iface, netns) is None:
        return 0            # never started by us: nothing to do
    with in_netns(netns):
        engine.stop(args.iface, netns, ctx.paths, ctx.runner, ctx.sysctl)
    return 0
