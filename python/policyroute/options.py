"""The command line as argparse reads it: every command but the netifrc
module's own calls (cli.hook_args)."""

import argparse

from . import __version__
from .commands import COMMANDS, load
from .errors import UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


def _global_options(p):
    p.add_argument("--version", action="version", version=f"policyroute {__version__}")
    p.add_argument("--state-dir", help="records of what was applied "
                   "(default $POLICYROUTE_STATE_DIR or /run/policyroute)")
    p.add_argument("--iproute2-dir", help="iproute2's configuration folder holding rt_tables "
                   "(default $POLICYROUTE_IPROUTE2_DIR or /etc/iproute2)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every ip command run")


def _chosen(argv):
    """The subcommand named in argv, read past the global options' values."""
    pre = Parser(prog="policyroute", add_help=False)
    _global_options(pre)
    pre.add_argument("command", nargs="?")
    try:
        known, _rest = pre.parse_known_args([a for a in argv if a not in ("-h", "--help",
                                                                          "--version")])
    except UsageError:
        return None
    return known.command if known.command in COMMANDS else None


def build_parser(argv=()):
    """Full arguments for the command in argv, and no other (a hook at
    boot builds one subparser, not eleven); without one, every command by
    name for --help."""
    p = Parser(prog="policyroute", description="Source-based policy routing for netifrc.")
    _global_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    chosen = _chosen(argv)
    for name, (_module, text) in COMMANDS.items():
        if chosen and name != chosen:
            continue
        sp = sub.add_parser(name, help=text, description=text)
        if name == chosen:
            module = load(name)
            module.add_arguments(sp)
            sp.set_defaults(run=module.run)
    return p
