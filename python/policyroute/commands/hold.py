"""A hook pair of the module in one process: ``pre-start --hold=DIR``
(pre_start, then post_start) and ``stop --hold=DIR`` (stop, then
post_stop).

netifrc calls a module's hooks from one shell, and between the two of a
pair it adds (or flushes) the interface's addresses. Python's start and
imports are most of a hook's time, and an IPv6 rule change costs the
kernel a walk over every IPv6 route, so one process serves both hooks and
the rules go in before the addresses and out after them. The module makes
two FIFOs in DIR (``in``, ``out``), starts this in the background with
stdin and stdout on them and keeps the other ends:

1. the values come as NUL-ended records, then an empty record (a lone NUL);
2. the first step runs (for values of APART_VALUES and more, in a child
   process: _apart): pre-start and the rules of the configured addresses
   (engine.add_source_rules); or the start of a stop (engine.stop_begin).
   On success its ready line goes out and the process waits; on failure,
   its errors go out and it ends with the step's exit code;
3. the go line (``post-start`` / ``post-stop``) runs the second step here
   with the same values; its output follows, and the process's exit code
   is that step's;
4. the end of stdin without it, or the shell that started us gone:
   netifrc's start failed after pre_start, so what the first step added
   goes (a stop); a stop is carried out all the same.

A start whose post-start fails leaves nothing of this module behind
either: netifrc counts the interface as stopped. The FIFOs are removed
once open. No lock and no file is held while waiting; a netlink socket
counts the kernel's rule changes, so that the second step reads the rules
again only when some changed (observe.keep_rules).
"""

import os
import select
import stat
import sys
from collections import namedtuple

from ..errors import PolicyRouteError, StateError, UsageError

FIFOS = ("in", "out")
WATCH = 1.0         # how often a wait looks whether the shell is still there
# Values this long (config_ of ~3,000 addresses) and the first step runs in
# a child process (_apart). A fork costs a small start ~12 ms (every page
# Python writes after it is copied or faulted); at 10,000 addresses it
# keeps the helper's peak at ~44 MiB instead of ~48 (make bench: RSS).
APART_VALUES = 64 << 10


class Pair(namedtuple("Pair", "ready go read first then otherwise")):
    """ready: the line after the first step; go: the line that runs
    ``then``; ``otherwise`` runs without it, and after ``then`` failed.
    ``read`` sets the values on args (common.read_values), once, before
    the first step (so a child running it has them too). Each step is a
    function (args, ctx)."""
    __slots__ = ()


def hold(args, ctx, pair):
    from .. import observe, state
    shell = os.getppid()
    state.keep_records()        # the second step reads what the first wrote
    observe.keep_rules()        # and the rules it left, if none changed since
    _remove(args.hold)
    args.values = _values()
    apart = len(args.values) >= APART_VALUES
    pair.read(args)
    if apart:
        code = _apart(pair, args, ctx)
        if code:
            return code
    else:
        pair.first(args, ctx)
    print(pair.ready, flush=True)
    if not _go(shell, pair.go):
        _quiet()
        return pair.otherwise(args, ctx)
    try:
        return pair.then(args, ctx)
    except PolicyRouteError:
        if pair.otherwise is not pair.then:
            pair.otherwise(args, ctx)
        raise


def _apart(pair, args, ctx):
    """The first step of a large start, in a child process: what it
    allocates (at 10,000 addresses, 20,000 rules' objects, and the arenas
    Python keeps once they are freed) ends with it, so the process that
    waits for the go word, maybe for minutes while netifrc adds the
    addresses, holds little more than its imports, and the second step's
    peak is its own.

    Its exit code; it printed its own errors. Killed, it may have added
    part of its rules: ``otherwise`` takes them back (the record lists
    them before they go in)."""
    from ..cli import guarded
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = guarded(lambda: pair.first(args, ctx))
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code or 0)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code >= 0:
        return code
    pair.otherwise(args, ctx)
    raise StateError(f"the first step was ended by signal {-code}; what it added is removed")


def _quiet():
    """Nobody reads our output any more: send it nowhere, so that a word
    written to the FIFO cannot end the process (EPIPE)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _remove(folder):
    """The FIFOs (both ends are open by now) and their folder; what is
    not a FIFO of that name is left alone."""
    for name in FIFOS:
        path = os.path.join(folder, name)
        try:
            if stat.S_ISFIFO(os.lstat(path).st_mode):
                os.unlink(path)
        except OSError:
            pass
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _values():
    """stdin up to the empty record that ends the values (not to its end:
    the shell keeps it open for the go line)."""
    data = b""
    while not (data == b"\0" or data.endswith(b"\0\0")):
        chunk = os.read(0, 65536)
        if not chunk:
            raise UsageError("--hold: the values ended without an empty record")
        data += chunk
    return data[:-1]


def _go(shell, go):
    """True once ``go`` came; False at the end of stdin or when the shell
    that started us is gone."""
    data = b""
    while True:
        if not select.select([0], [], [], WATCH)[0]:
            if os.getppid() != shell:
                return False
            continue
        chunk = os.read(0, 64)
        if not chunk:
            return False
        data += chunk
        if data == go:
            return True
        if not go.startswith(data):
            raise UsageError(f"--hold: '{data.decode(errors='replace').strip()[:40]}' "
                             f"where '{go.decode().strip()}' belongs")
