"""Command line: parse arguments, run one subcommand, and turn every error
into one line per problem and a documented exit code. No traceback ever
reaches the user.

Exit codes: 0 done; 1 bad configuration (nothing changed); 2 bad command
line; 3 the kernel refused a change (this run's changes were undone);
4 state error (record unreadable, kernel read-back mismatch); 5 drift found
by show. An error no layer expected (a bug) is exit 4 too, with one line
naming the exception's type and text; 130 after Ctrl-C; 0 when whoever
read stdout went away (`policyroute show | head -1`).
"""

import argparse
import os
import sys

from . import __version__
from .commands import COMMANDS, load
from .errors import EXIT_STATE, EXIT_USAGE, PolicyRouteError, UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


class Context:
    """What every subcommand gets: paths, the ip runner and the output."""

    def __init__(self, args):
        from .paths import Paths
        self.args = args
        self.paths = Paths.from_env(state_dir=args.state_dir, iproute2_dir=args.iproute2_dir)
        self._runner = self._sysctl = None

    @property
    def runner(self):
        """Made when first used: pre-start and check run no ip."""
        if self._runner is None:
            from .kernel import Runner
            self._runner = Runner(trace=self.trace if self.args.verbose else None)
        return self._runner

    @property
    def sysctl(self):
        if self._sysctl is None:
            from .sysctl import Sysctl
            self._sysctl = Sysctl(self.runner)
        return self._sysctl

    def trace(self, line):
        try:
            print(line, flush=True)
        except BrokenPipeError:
            # Whoever read the trace went away: keep working, stop tracing.
            _drop_stdout()

    def warn(self, message):
        print(f"policyroute: warning: {message}", file=sys.stderr, flush=True)


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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            code = _run(argv)
        except SystemExit as e:     # --help and --version print, then exit 0
            code = e.code
        sys.stdout.flush()          # a closed pipe shows here, not at exit
        return code
    except PolicyRouteError as e:
        return _error(e.lines(), e.exit_code)
    except BrokenPipeError:         # an OSError: it must come first
        _drop_stdout()
        return 0
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _error([f"{where}{e.strerror or e}"], EXIT_STATE)
    except KeyboardInterrupt:
        return 130
    except Exception as e:          # a bug: still one line, never a traceback
        return _error([f"internal error: {type(e).__name__}: {e}"], EXIT_STATE)


def _run(argv):
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.run(args, Context(args)) or 0


def _error(lines, code):
    for line in lines:
        text = " ".join(part.strip() for part in str(line).splitlines() if part.strip())
        print(f"policyroute: error: {text}", file=sys.stderr)
    return code


def _drop_stdout():
    """Point stdout at /dev/null so the exit's flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass                # not a real file (a test's capture): nothing to flush
