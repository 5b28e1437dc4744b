"""plan: what a start of IFACE would do now, as iproute2 commands.
Reads the kernel, changes nothing."""

from .. import engine
from ..kernel import where
from .common import add_config, enter, sibling_tables, unit_from_file


def add_arguments(p):
    add_config(p)


def run(args, ctx):
    unit, variables = unit_from_file(args.config, args.iface, ctx.paths.store())
    cfg = unit.cfg
    enter(cfg.netns)
    names = sibling_tables(variables)
    planned = engine.compute(cfg, ctx.paths, ctx.runner, pending=names)
    registry = ctx.paths.registry()
    preview = registry.previewed(names)
    for name in sorted(set(names)):
        if registry.lookup(name) is None:
            print(f"# would register table {name} as {preview.lookup(name)}")
    for op in planned.ops:
        print(f"ip {where()}{op.command()}")
    if not planned.ops:
        print(f"# {cfg.iface}: nothing to do")
    return 0
