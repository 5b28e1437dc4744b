"""up: by hand, what pre-start and post-start do, with values read from
/etc/conf.d/net (or --config) as netifrc reads them."""

from .. import engine
from ..kernel import in_netns
from .common import add_config, sibling_tables, unit_from_file


def add_arguments(p):
    add_config(p)


def run(args, ctx):
    unit, variables = unit_from_file(args.config, args.iface)
    engine.pre_start(unit.cfg, ctx.paths, sibling_tables(variables))
    with in_netns(unit.cfg.netns):
        engine.post_start(unit, ctx.paths, ctx.runner, ctx.sysctl)
    return 0
