"""Apply layer: the only code that runs ``ip`` or writes to the kernel.

Reads use ``ip -N -json -batch -`` (one process per family for every
query). Writes are lines in iproute2's words: in a call with at least
netlink.THRESHOLD ``rule add`` lines netlink.py translates, those go as
rtnetlink requests (pyroute2) without NLM_F_EXCL; every other line, and
every line of a smaller call or when pyroute2 is missing, through one
``ip -batch -`` per run of them. Arguments go to iproute2 as
lines on stdin or argument lists, never through a shell.
"""

import itertools
import json
import os
import re
import subprocess
from contextlib import contextmanager

from . import netlink
from .errors import KernelError, StateError
from .files import HELD
from .parse import NETNS_RE, shown

IP = os.environ.get("POLICYROUTE_IP", "ip")
FAILED_RE = re.compile(r"Command failed -:(\d+)")
IP_BATCH_LINES = 2048
CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"        # where `ip netns add` pins named namespaces
SELF_NETNS = "/proc/self/ns/net"
_entered = None     # the named namespace this process acts in, if any


def where():
    """How iproute2 would name the namespace we act in: "-n NAME " or ""."""
    return f"-n {_entered} " if _entered else ""


def netns_id(path=SELF_NETNS):
    """(device, inode) of a network namespace (ours unless told): the
    kernel's identity of it, where a namespace made again under the same
    name is another; None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@contextmanager
def in_netns(name, rundir=NETNS_RUN_DIR):
    """Act inside a named network namespace for the block, then return.

    Every ``ip`` call and /proc/sys/net access in the block acts inside
    it; afterwards the process is back in the namespace it was in (even
    when the block raised), so a loop over records of several namespaces
    never acts in the previous one. ``name`` None or "": stay where we are.
    """
    global _entered
    if not name:
        yield
        return
    if not NETNS_RE.match(name):
        raise StateError(f"'{shown(name)}' is not a network namespace name")
    home = _open(SELF_NETNS, SELF_NETNS)
    previous = _entered
    try:
        _setns_path(os.path.join(rundir, name), f"netns {name}")
        _entered = name
        try:
            yield
        finally:
            _setns(home, "back to the calling namespace")
            _entered = previous
    finally:
        os.close(home)


def _open(path, what):
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as e:
        raise StateError(f"{what}: {e.strerror}") from None


def _setns_path(path, what):
    fd = _open(path, what)
    try:
        _setns(fd, what)
    finally:
        os.close(fd)


def _setns(fd, what):
    try:
        if hasattr(os, "setns"):
            os.setns(fd, CLONE_NEWNET)
            return
        import ctypes                   # Python < 3.12
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    except OSError as e:
        raise StateError(f"{what}: {e.strerror}") from None


class Runner:
    """Runs iproute2. ``trace`` (callable) sees every write as ``ip ...``."""

    def __init__(self, trace=None):
        self.trace = trace or (lambda line: None)

    def _run(self, argv, stdin):
        # The whole batch is in an unnamed file before ip starts: a pipe
        # cut by a SIGKILL mid-write would end at half a line, and ip
        # runs that half ("rule add from X" is "lookup main").
        # (memfd: a file in memory, without tempfile's imports at every start)
        batch = os.memfd_create("policyroute-batch", os.MFD_CLOEXEC)
        out = os.memfd_create("policyroute-out", os.MFD_CLOEXEC)
        try:
            # surrogateescape: names in bytes that are not UTF-8 go through unchanged
            data = stdin.encode("utf-8", "surrogateescape")
            view = memoryview(data)
            while view:
                view = view[os.write(batch, view):]
            os.lseek(batch, 0, os.SEEK_SET)
            try:
                # The namespace lock goes along (files.HELD): held until ip is done,
                # even when we are killed first.
                proc = subprocess.run([IP, *argv], stdin=batch, stdout=out,
                                      stderr=subprocess.PIPE, check=False, pass_fds=tuple(HELD))
            except FileNotFoundError:
                raise StateError(f"{IP}: not found (iproute2 is needed)") from None
            stdout = _text(out)
        finally:
            os.close(batch)
            os.close(out)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, stdout, proc.stderr.decode("utf-8", "surrogateescape"))

    def query(self, family, commands, each=None):
        """Run read commands in one batch; one parsed JSON list per command.
        ``each``: per command, None or a function the list holds the
        results of, made of every element as it is read (at 20,001 rules
        the elements' dicts are never all there at once)."""
        proc = self._run([f"-{family}", "-N", "-json", "-batch", "-"],
                         "".join(c + "\n" for c in commands))
        if proc.returncode != 0:
            raise KernelError(None, proc.stderr)
        return _split_json(proc.stdout, each or [None] * len(commands))

    def batch(self, family, lines, force=False):
        """Run write lines in order: rule lines netlink.py translates go as
        rtnetlink requests, the others through ``ip -batch``. On failure,
        KernelError with .done = the indices of the lines applied (any
        subset: see netlink.Socket.send) and .applied = one past the last
        line that may have run."""
        priorities = _netlink_priorities(family, lines)
        for channel, at, end in _runs(priorities):
            try:
                channel(self, family, lines[at:end], priorities[at:end], force)
            except KernelError as e:
                e.done = list(range(at)) + [at + i for i in e.done]
                e.applied = max(e.done, default=-1) + 1
                raise

    def _netlink(self, family, lines, priorities, force):
        """One run of rule adds, in the kernel's cheapest order (see
        _kernel_order); each request is made from its line as its chunk
        is sent, not all of them first (20,001 at 10,000 addresses)."""
        for line in lines:
            self.trace(f"ip {where()}-{family} {line}")
        order = _kernel_order(priorities)
        requests = (_rule_request(family, lines[i])[1] for i in order)
        try:
            with netlink.Socket() as sock:
                ok, refused = sock.send(requests, force)
        except OSError as e:
            err = KernelError(f"-{family} rule", f"netlink: {e.strerror or e}")
            err.done = list(range(len(lines)))      # unknown: undo tolerates missing ones
            raise err from None
        if refused and not force:
            index, words = refused[0]
            err = KernelError(f"-{family} {lines[order[index]]}", words)
            err.done = sorted(order[i] for i in ok)
            raise err

    def _ip_batch(self, family, lines, _priorities, force):
        """IP_BATCH_LINES lines per ip: an ip -batch keeps ~4 KiB a line
        it ran (83 MiB at 20,001 rule lines)."""
        for line in lines:
            self.trace(f"ip {where()}-{family} {line}")
        for at in range(0, len(lines), IP_BATCH_LINES):
            try:
                self._ip(family, lines[at:at + IP_BATCH_LINES], force)
            except KernelError as e:
                e.applied += at
                e.done = list(range(e.applied))
                raise

    def _ip(self, family, lines, force):
        """ip -batch; on failure, KernelError with .applied = lines done."""
        if not lines:
            return
        argv = [f"-{family}"] + (["-force"] if force else []) + ["-batch", "-"]
        proc = self._run(argv, "".join(line + "\n" for line in lines))
        if proc.returncode == 0:
            return
        if force:
            if proc.returncode != 1 and len(lines) > 1:
                # An argument error ends even a -force batch at once (exit
                # 255, where a batch that ran every line exits 1), maybe
                # after other lines failed: go line by line so every other
                # line still gets its chance.
                for line in lines:
                    self._run([f"-{family}", "-force", "-batch", "-"], line + "\n")
            return
        words = " ".join(FAILED_RE.sub("", proc.stderr).split()) or "failed"
        m = FAILED_RE.search(proc.stderr)
        if m:
            failed = int(m.group(1)) - 1
            err = KernelError(f"-{family} {lines[failed]}", words)
            err.applied = failed
        else:
            # An argument error ends ip with no line number: any line may
            # have run, so all count as applied (undoing is done with -force).
            err = KernelError(f"-{family} -batch", words)
            err.applied = len(lines)
        raise err

    def sysctl_read(self, key):
        with open(_sysctl_path(key)) as f:
            return f.read().strip()

    def sysctl_write(self, key, value):
        self.trace(f"sysctl -w {key}={value}")
        try:
            with open(_sysctl_path(key), "w") as f:
                f.write(value)
        except OSError as e:
            raise KernelError(f"sysctl {key}={value}", e.strerror) from None


ADD_RULE = "rule add "


def _rule_request(family, line):
    """(priority, fields) of a ``rule add`` line netlink.py translates,
    else None. Deletions go through ip -batch: iproute2 sets
    no NLM_F_EXCL on them, and it encodes a message faster than pyroute2
    (20,001 IPv4 deletions: 0.75 s against 2.3 s)."""
    if line.startswith(ADD_RULE):
        return netlink.rule_request(family, line.split()[2:])
    return None


def _netlink_priorities(family, lines):
    """The priority of each line netlink.py translates (None: ip runs
    it), or all None when too few to pay for pyroute2's import, or
    pyroute2 is missing. Only the priority is kept: the request is made
    again from the line when it is sent."""
    nothing = [None] * len(lines)
    # Lines are made into requests only when enough could be: 2,001 rule
    # adds below the threshold cost ~3 ms to translate for nothing.
    if sum(1 for line in lines if line.startswith(ADD_RULE)) < netlink.THRESHOLD:
        return nothing
    priorities = [None if r is None else r[0]
                  for r in (_rule_request(family, line) for line in lines)]
    if len(priorities) - priorities.count(None) < netlink.THRESHOLD \
            or netlink.library() is None:
        return nothing
    return priorities


def _runs(priorities):
    """Consecutive lines of one channel: [(channel, first, end)]. A
    priority (a number) means netlink, None ip."""
    out, at = [], 0
    for by_ip, run in itertools.groupby(priorities, key=lambda p: p is None):
        end = at + sum(1 for _p in run)
        out.append((Runner._ip_batch if by_ip else Runner._netlink, at, end))
        at = end
    return out


def _kernel_order(priorities):
    """Indices of rule adds (their priorities) in the order to send them:
    highest priority first, so each lands near the head of the kernel's
    list, where its walk for the place stops."""
    return sorted(range(len(priorities)), key=lambda i: -priorities[i])


PROC_SYS = os.environ.get("POLICYROUTE_PROC_SYS", "/proc/sys")


def _sysctl_path(key):
    # An interface name may hold a dot (eth1.10): keys here use / as separator.
    return os.path.join(PROC_SYS, key)


def _text(fd):
    """What ip wrote to the file ``fd``, as text. Read whole from a file,
    not from a pipe: one bytes of its size, where a pipe's pieces joined
    were twice it at once (an answer of 20,001 rules is ~2 MiB)."""
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(fd, "rb", closefd=False) as f:
        return f.read().decode("utf-8", "surrogateescape")


def _split_json(text, each):
    """``ip -json -batch`` prints one JSON list per command, back to back:
    a list per command, of its elements, or of ``each[i]`` of them."""
    decoder, values, i = json.JSONDecoder(), [], _space(text, 0)
    while len(values) < len(each) and i < len(text):
        items, i = _list(decoder, text, i, each[len(values)] or (lambda value: value))
        values.append(items)
        i = _space(text, i)
    if len(values) != len(each):
        raise StateError(f"ip -json gave {len(values)} answers to {len(each)} queries")
    return values


def _list(decoder, text, i, made):
    """The JSON list at ``text[i]``, an element at a time: ([made(element)], end)."""
    if text[i] != "[":
        value, _end = _value(decoder, text, i)
        raise StateError(f"ip -json: a {type(value).__name__} where a list belongs")
    items, i = [], _space(text, i + 1)
    if text.startswith("]", i):
        return items, i + 1
    while True:
        value, i = _value(decoder, text, i)
        items.append(made(value))
        i = _space(text, i)
        if text.startswith(",", i):
            i = _space(text, i + 1)
        elif text.startswith("]", i):
            return items, i + 1
        else:
            raise StateError(f"ip -json: not JSON (no ',' or ']' at char {i})")


def _value(decoder, text, i):
    try:
        return decoder.raw_decode(text, i)
    except json.JSONDecodeError as e:
        raise StateError(f"ip -json: not JSON ({e})") from None


def _space(text, i):
    while i < len(text) and text[i].isspace():
        i += 1
    return i
