"""sync: reconcile now, as a start would (for an alias moved by hand or by
keepalived). Idempotent; removes nothing policyroute did not add."""

from .. import engine
from ..errors import UsageError
from ..kernel import in_netns
from .common import add_config_option, sibling_tables, unit_from_file


def add_arguments(p):
    p.add_argument("iface", nargs="?", metavar="IFACE")
    p.add_argument("--all", action="store_true", help="every interface with a record")
    add_config_option(p)


def run(args, ctx):
    if bool(args.iface) == bool(args.all):
        raise UsageError("sync: give one IFACE or --all")
    names = [args.iface] if args.iface else \
        list(dict.fromkeys(r.iface for _p, r in ctx.paths.store().all()))
    for iface in names:
        unit, variables = unit_from_file(args.config, iface, ctx.paths.store())
        engine.pre_start(unit.cfg, ctx.paths, sibling_tables(variables))
        with in_netns(unit.cfg.netns):
            ops = engine.post_start(unit, ctx.paths, ctx.runner, ctx.sysctl)
        print(f"{iface}: {len(ops)} changes" if ops else f"{iface}: in sync")
    return 0
