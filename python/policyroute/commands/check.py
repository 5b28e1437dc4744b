"""check: validate every policyroute variable in conf.d/net without
touching the host's kernel state (rules_ lines with words that depend on
the iproute2 version are tried in a throwaway namespace, trial.py). All
problems at once; exit 0 only when clean."""

from .. import trial
from ..checks import after_the_guard, check_all
from ..confd import read_config
from ..errors import ConfigErrors
from .common import DEFAULT_CONFIG


def add_arguments(p):
    p.add_argument("file", nargs="?", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"configuration to check (default {DEFAULT_CONFIG})")


def run(args, ctx):
    variables = read_config(args.file)
    configs, errors = check_all(variables, ctx.paths.registry())
    for warning in after_the_guard(configs):
        ctx.warn(warning.message())
    errors += trial.refusals([r for cfg in configs.values() for r in cfg.rules])
    if errors:
        raise ConfigErrors(errors)
    print(f"{args.file}: {len(configs)} interfaces, no problems")
    return 0
