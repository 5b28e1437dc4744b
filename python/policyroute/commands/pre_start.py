"""pre-start: validate one interface's values and register its table name.
Called by the netifrc module before any address or route is added.

It refuses what ``policyroute check`` refuses about this interface (its
own values, and what it shares with the others: a table, a priority), so
a start and check never disagree. The others' values come with its own on
stdin, as netifrc's shell has them from conf.d/net (the module passes
them), or from --config."""

from .. import engine
from ..checks import check_all, errors_of, ifvar_of, mac_key
from ..errors import ConfigError, ConfigErrors
from .common import VARIABLES, add_values, read_values, sibling_tables, unit_from_args


def add_arguments(p):
    add_values(p)
    p.add_argument("--hold", metavar="DIR", help="the module's start in one process: "
                   "stdin and stdout are the FIFOs in DIR (removed here); the values end "
                   "with an empty record; after pre-start and the rules of the configured "
                   "addresses, a line 'pre-start: 0' and a wait for 'post-start' on stdin, "
                   "which then runs here (see commands/hold.py)")
    p.set_defaults(variables=None)


def run(args, ctx):
    if args.hold:
        from . import post_start, stop
        from .hold import Pair, hold
        return hold(args, ctx, Pair("pre-start: 0", b"post-start\n", _read, check_and_add_rules,
                                    post_start.run, stop.finish))
    return check(args, ctx)


def check_and_add_rules(args, ctx):
    """A held start's first step: check, then the rules of the configured
    addresses, before netifrc adds them (engine.add_source_rules)."""
    check(args, ctx)
    from ..kernel import in_netns
    unit = unit_from_args(args)
    with in_netns(unit.cfg.netns):
        engine.add_source_rules(unit, ctx.paths, ctx.runner)
    return 0


def _read(args):
    read_values(args, VARIABLES, siblings=True)


def check(args, ctx):
    """Validate and register; 0, or ConfigErrors."""
    _read(args)
    variables = args.variables if args.variables is not None else _config(args.config)
    if variables is not None:
        unit_vars = _as_variables(args)
        ifvar = unit_vars.pop("ifvar")
        # Settings keyed by a MAC are whichever interface has that MAC (this
        # one, mapped by macnet before this hook, or another): no sibling
        # to compare with.
        merged = {k: v for k, v in variables.items()
                  if ifvar_of(k) != ifvar and not mac_key(ifvar_of(k))}
        merged.update({f"{name}_{ifvar}": v for name, v in unit_vars.items() if v is not None})
        _configs, errors = check_all(merged, ctx.paths.registry())
        errors = errors_of(errors, ifvar)
        if errors:
            raise ConfigErrors(errors)
    unit = unit_from_args(args)
    engine.pre_start(unit.cfg, ctx.paths, sibling_tables(variables or {}))
    return 0


def _as_variables(args):
    """This interface's values under their conf.d/net names (without _IFVAR)."""
    from ..parse import shell_var
    out = {name: getattr(args, key) for key, name in VARIABLES.items()}
    out["ifvar"] = args.ifvar or shell_var(args.iface)
    return out


def _config(path):
    if not path:
        return None
    from ..confd import read_config
    try:
        return read_config(path)
    except ConfigError:
        return None
