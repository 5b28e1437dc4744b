"""The module's start in one process: ``pre-start --hold=DIR``.

netifrc calls a module's pre_start and post_start from one shell, seconds
apart, and Python's start and imports are most of each hook's time. So
the module makes two FIFOs in DIR (``in``, ``out``), starts this in the
background with stdin and stdout on them, keeps the other ends, and one
interpreter serves both hooks:

1. the values come as NUL-ended records, then an empty record (a lone NUL);
2. pre-start runs. On success, READY goes out and the process waits; on
   failure, its errors go out and it ends (exit 1);
3. a GO line runs post-start here with the same values; its output
   follows, and the process's exit code is post-start's;
4. the end of stdin without GO (netifrc's start failed after pre_start),
   or the shell that started us gone: nothing more is done, exit 0.

The FIFOs are removed once open. Nothing is held (no lock, no file)
while waiting.
"""

import os
import select
import stat

from ..errors import UsageError

READY = "pre-start: 0"
GO = b"post-start\n"
FIFOS = ("in", "out")
WATCH = 1.0         # how often a wait looks whether the shell is still there


def hold(args, ctx, pre_start):
    shell = os.getppid()
    _remove(args.hold)
    args.values = _values()
    pre_start(args, ctx)
    print(READY, flush=True)
    from .post_start import run     # imported while netifrc adds the addresses
    if not _go(shell):
        return 0
    return run(args, ctx)


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
    the shell keeps it open for GO)."""
    data = b""
    while not (data == b"\0" or data.endswith(b"\0\0")):
        chunk = os.read(0, 65536)
        if not chunk:
            raise UsageError("--hold: the values ended without an empty record")
        data += chunk
    return data[:-1]


def _go(shell):
    """True once GO came; False at the end of stdin or when the shell
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
        if data == GO:
            return True
        if not GO.startswith(data):
            raise UsageError(f"--hold: '{data.decode(errors='replace').strip()[:40]}' "
                             "where 'post-start' belongs")
