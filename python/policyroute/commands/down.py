"""down: by hand, what the netifrc module's stop does. Works from the record
alone: the configuration may have changed since the start."""

import os

from ..confd import read_config
from ..parse import shell_var
from . import stop
from .common import add_config


def add_arguments(p):
    add_config(p)
    p.add_argument("--netns", help="the namespace the interface was started in "
                   "(default: netns_<IFVAR> from the configuration)")


def run(args, ctx):
    if not args.netns:
        variables = read_config(args.config) if os.path.exists(args.config) else {}
        args.netns = variables.get(f"netns_{shell_var(args.iface)}") or None
    store = ctx.paths.store()
    if store.load(args.iface, args.netns) is None:
        for other in store.elsewhere(args.iface, args.netns):
            hint = f"--netns {other}" if other else "no netns_ for it"
            ctx.warn(f"{args.iface}: nothing recorded {_where(args.netns)}, "
                     f"but there is a record {_where(other)} ({hint})")
    return stop.run(args, ctx)


def _where(netns):
    return f"in netns {netns}" if netns else "in the host namespace"
