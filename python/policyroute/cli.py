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

import os
import sys
from types import SimpleNamespace

from .commands import HOOKS, PASSED, load
from .errors import EXIT_STATE, EXIT_USAGE, PolicyRouteError


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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    return guarded(lambda: _run(argv))


def guarded(run):
    """run()'s exit code, its errors printed one line each (never a
    traceback): the whole command, or a step commands/hold.py runs in a
    child process."""
    try:
        try:
            code = run()
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


def run():
    """main(), then the exit without the interpreter's teardown: ~4 ms of
    every hook at boot, and of the follower's end, which the last stop
    waits for. What is still buffered goes out first."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass            # whoever read it went away
    os._exit(code or 0)


def hook_args(argv):
    """The netifrc module's own calls, read without argparse (whose
    import, gettext, locale and parser building are a quarter of a hook's
    time at boot); None for any other command line, which argparse reads:

        [--verbose] pre-start --hold=DIR --ifvar=IFVAR --values=- -- IFACE
        [--verbose] pre-start|post-start --ifvar=IFVAR --values=- -- IFACE
        [--verbose] stop [--hold=DIR] --values=- -- IFACE

    Every other option of the command is None (commands.HOOKS names
    them); test_cli compares this reading with argparse's."""
    verbose = argv[:1] == ["--verbose"]
    words = argv[1:] if verbose else list(argv)
    if len(words) < 4 or words[0] not in HOOKS or words[-3:-1] != ["--values=-", "--"]:
        return None
    command = words[0]
    args = SimpleNamespace(state_dir=None, iproute2_dir=None, verbose=verbose, command=command,
                           iface=words[-1], values="-", **dict.fromkeys(HOOKS[command]))
    for word in words[1:-3]:
        name, sep, value = word[2:].partition("=")
        if not (word.startswith("--") and sep and name in PASSED and name in HOOKS[command]):
            return None
        setattr(args, name, value)
    args.run = load(command).run
    return args


def _run(argv):
    args = hook_args(argv)
    if args is not None:
        return args.run(args, Context(args)) or 0
    from .options import build_parser
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
