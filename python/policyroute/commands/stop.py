"""stop: remove exactly what the record of the last start says was added
(without a usable record: what the kernel shows of that start)."""

import os

from .. import engine
from ..kernel import NETNS_RUN_DIR, in_netns
from ..errors import ConfigError, PolicyRouteError
from ..parse import IFNAME_RE, Origin, parse_netns
from .common import add_values_option, read_values


def add_arguments(p):
    p.add_argument("iface", metavar="IFACE")
    p.add_argument("--netns", help="the network namespace the interface lives in")
    p.add_argument("--hold", metavar="DIR", help="the module's stop in one process: "
                   "stdin and stdout are the FIFOs in DIR (removed here); the values end "
                   "with an empty record; loans are settled, then a line 'stop: 0' and a "
                   "wait for 'post-stop' on stdin (or its end), after which the rest of the "
                   "stop runs here (see commands/hold.py)")
    add_values_option(p)


def run(args, ctx):
    if getattr(args, "hold", None):
        from .hold import Pair, hold
        return hold(args, ctx, Pair("stop: 0", b"post-stop\n", _read, begin, finish, finish))
    return finish(args, ctx)


def begin(args, ctx):
    """A held stop's first step, before netifrc flushes the addresses. A
    problem here is a warning: the rest of the stop tries again."""
    netns = _netns(args, ctx)
    if netns is not False:
        try:
            with in_netns(netns):
                engine.stop_begin(args.iface, netns, ctx.paths, ctx.runner, ctx.sysctl)
        except PolicyRouteError as e:
            ctx.warn(str(e))
    return 0


def finish(args, ctx):
    netns = _netns(args, ctx)
    if netns is not False:
        with in_netns(netns):
            engine.stop(args.iface, netns, ctx.paths, ctx.runner, ctx.sysctl)
    return 0


def _netns(args, ctx):
    """The namespace the interface lives in (None: this one), or False
    when it is gone: its rules, routes and sysctls went with it, and its
    record goes here."""
    _read(args)
    interface(args.iface)
    netns = parse_netns(args.netns, Origin("--netns"))
    if netns and not os.path.exists(os.path.join(NETNS_RUN_DIR, netns)):
        store = ctx.paths.store()
        if args.iface in store.names(netns):
            ctx.warn(f"{args.iface}: netns {netns} is gone, and what its start added "
                     f"with it; removing {store.path(args.iface, netns)}")
            store.remove(args.iface, netns)
        return False
    return netns


def _read(args):
    read_values(args, {"netns"})


def interface(name):
    """IFACE as a file name of the record: an interface name or nothing."""
    if not IFNAME_RE.match(name):
        raise ConfigError("IFACE", None, name, "is not an interface name")
