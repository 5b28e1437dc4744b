"""down: by hand, what the netifrc module's stop does. Works from the record
alone: the configuration may have changed since the start. --force also
removes what the kernel shows of a start (protocol 201) that no record
lists; --all acts on every interface of the namespace."""

import os

from .. import engine
from ..confd import read_config
from ..errors import UsageError
from ..kernel import in_netns
from ..parse import Origin, parse_netns, shell_var
from . import stop
from .common import add_config_option


def add_arguments(p):
    p.add_argument("iface", metavar="IFACE", nargs="?",
                   help="the interface (not with --all)")
    add_config_option(p)
    p.add_argument("--netns", help="the namespace the interface was started in "
                   "(default: netns_<IFVAR> from the configuration; with --all, the host's)")
    p.add_argument("--all", action="store_true",
                   help="every interface with a record in the namespace")
    p.add_argument("--force", action="store_true",
                   help="also every rule and route policyroute's protocol (201) marks, "
                   "recorded or not: the interface's, or with --all the namespace's")


def run(args, ctx):
    if bool(args.iface) == bool(args.all):
        raise UsageError("down: give IFACE or --all")
    if args.all:
        return _all(args, ctx)
    stop.interface(args.iface)
    if not args.netns:
        variables = read_config(args.config) if os.path.exists(args.config) else {}
        args.netns = variables.get(f"netns_{shell_var(args.iface)}") or None
    netns = parse_netns(args.netns, Origin("--netns"))
    store = ctx.paths.store()
    if args.iface not in store.names(netns) and not args.force:
        for other in store.elsewhere(args.iface, netns):
            hint = f"--netns {other}" if other else "no netns_ for it"
            ctx.warn(f"{args.iface}: nothing recorded {_where(netns)}, "
                     f"but there is a record {_where(other)} ({hint})")
    with in_netns(netns):
        engine.stop(args.iface, netns, ctx.paths, ctx.runner, ctx.sysctl, force=args.force)
    return 0


def _all(args, ctx):
    netns = parse_netns(args.netns, Origin("--netns"))
    with in_netns(netns):
        if args.force:
            engine.stop_all(netns, ctx.paths, ctx.runner, ctx.sysctl)
        else:
            for name in ctx.paths.store().names(netns):
                engine.stop(name, netns, ctx.paths, ctx.runner, ctx.sysctl)
    return 0


def _where(netns):
    return f"in netns {netns}" if netns else "in the host namespace"
