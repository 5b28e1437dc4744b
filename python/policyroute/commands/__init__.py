"""One module per subcommand, each with add_arguments(parser) and
run(args, ctx). Only the module of the command being run is imported, so
the hooks netifrc calls at boot start quickly."""

import importlib

from .common import VARIABLES

# name -> (module, one-line help)
COMMANDS = {
    "pre-start": ("pre_start", "validate an interface's values and register table names"),
    "post-start": ("post_start", "apply an interface's table and rules, and record them"),
    "stop": ("stop", "remove what the interface's last start added"),
    "up": ("up", "by hand: apply an interface's policy from conf.d/net"),
    "down": ("down", "by hand: remove what up (or the module) added"),
    "check": ("check", "validate conf.d/net without touching the kernel"),
    "plan": ("plan", "show what a start of IFACE would do, changing nothing"),
    "show": ("show", "tables, rules, routes and drift of managed interfaces"),
    "sync": ("sync", "reconcile now, as a start would"),
    "move": ("move", "move an address to another managed interface, rules and neighbours too"),
    "follow": ("follow", "follow addresses and carrier at runtime (started by post-start)"),
}

# The commands the netifrc module calls, and the options their parsers
# define beyond IFACE and --values (all None unless given): cli.hook_args
# reads the module's calls with these, without argparse. pre-start and
# post-start take one interface's values (common.add_values), stop only
# --netns (and --hold). PASSED: the options the module gives (as --NAME=VALUE).
_VALUES = ("ifvar", *VARIABLES, "config")
HOOKS = {"pre-start": _VALUES + ("hold", "variables"), "post-start": _VALUES,
         "stop": ("netns", "hold")}
PASSED = ("ifvar", "hold")


def load(name):
    return importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
