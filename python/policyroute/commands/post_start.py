"""post-start: apply tables and rules for one interface, then record them
and make sure the namespace's follower runs."""

from .. import engine
from ..kernel import in_netns
from .common import add_values, unit_from_args


def add_arguments(p):
    add_values(p)


def run(args, ctx):
    unit = unit_from_args(args)
    registry = ctx.paths.registry()
    for line in engine.slot_warnings(unit.cfg, ctx.paths, registry):
        ctx.warn(line)
    with in_netns(unit.cfg.netns):
        engine.post_start(unit, ctx.paths, ctx.runner, ctx.sysctl, registry)
    return 0
