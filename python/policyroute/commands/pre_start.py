"""pre-start: validate one interface's values and register its table name.
Called by the netifrc module before any address or route is added."""

from .. import engine
from ..checks import failover_target
from ..confd import read_config
from ..errors import ConfigError, ConfigErrors
from .common import add_values, sibling_tables, unit_from_args


def add_arguments(p):
    add_values(p)


def run(args, ctx):
    unit = unit_from_args(args)
    variables = _config(args.config)
    if variables is not None:
        problem = failover_target(unit, variables)
        if problem:
            raise ConfigErrors([problem])
    engine.pre_start(unit.cfg, ctx.paths, sibling_tables(variables or {}))
    return 0


def _config(path):
    if not path:
        return None
    try:
        return read_config(path)
    except ConfigError:
        return None
