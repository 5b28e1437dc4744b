"""pre-start: validate one interface's values and register its table name.
Called by the netifrc module before any address or route is added."""

from .. import engine
from .common import add_values, config_from_args, sibling_tables_from


def add_arguments(p):
    add_values(p)


def run(args, ctx):
    cfg = config_from_args(args)
    engine.pre_start(cfg, ctx.paths, sibling_tables_from(args.config))
    return 0
