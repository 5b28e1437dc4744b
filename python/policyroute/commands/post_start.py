"""post-start: apply tables and rules for one interface, then record them."""

from .. import engine
from .common import add_values, config_from_args, enter


def add_arguments(p):
    add_values(p)


def run(args, ctx):
    cfg = config_from_args(args)
    enter(cfg.netns)
    registry = ctx.paths.registry()
    for line in engine.slot_warnings(cfg, engine.table_id_of(cfg, registry), ctx.paths.store()):
        ctx.warn(line)
    engine.post_start(cfg, ctx.paths, ctx.runner, ctx.sysctl, registry)
    return 0
