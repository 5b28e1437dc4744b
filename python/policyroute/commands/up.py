"""up: by hand, what pre-start and post-start do, with values read from
/etc/conf.d/net (or --config) as netifrc reads them."""

from .. import engine
from .common import add_config, config_from_file, enter, sibling_tables


def add_arguments(p):
    add_config(p)


def run(args, ctx):
    cfg, variables = config_from_file(args.config, args.iface)
    engine.pre_start(cfg, ctx.paths, sibling_tables(variables))
    enter(cfg.netns)
    engine.post_start(cfg, ctx.paths, ctx.runner, ctx.sysctl)
    return 0
