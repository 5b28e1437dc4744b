"""plan: what a start of IFACE would do now, as iproute2 commands.
Reads the kernel, changes nothing."""

from .. import engine
from ..kernel import in_netns, where
from .common import add_config, sibling_tables, unit_from_file


def add_arguments(p):
    add_config(p)


def run(args, ctx):
    unit, variables = unit_from_file(args.config, args.iface, ctx.paths.store())
    cfg = unit.cfg
    names = sibling_tables(variables)
    with in_netns(cfg.netns):
        planned = engine.compute(cfg, ctx.paths, ctx.runner, pending=names)
        commands = [f"ip {where()}{op.command()}" for op in planned.ops]
    registry = ctx.paths.registry()
    preview = registry.previewed(names)
    for name in sorted(set(names)):
        if registry.lookup(name) is None:
            print(f"# would register table {name} as {preview.lookup(name)}")
    for line in commands:
        print(line)
    if not planned.ops:
        print(f"# {cfg.iface}: nothing to do")
    return 0
