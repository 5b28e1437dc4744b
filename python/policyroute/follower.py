"""The follower: keeps every managed interface of one network namespace
right between start and stop.

One follower per namespace that has managed interfaces. post-start starts
it (``ensure``) and the stop of the last managed interface ends it
(``release``); nobody else has to. It is two processes:

* the supervisor (``policyroute follow [--netns NS]``), detached in its
  own session, its pid in ``follow.pid`` beside the records; it restarts
  the worker when it dies (a crash, ``kill -9``) and ends with it when the
  worker says nothing is managed any more;
* the worker (``follow --worker``), inside the namespace. It subscribes to
  the kernel's link, address and route events (pyroute2) *before* its
  first full pass, so nothing between post-start and the first event is
  lost, then waits for events, gathers a burst (``QUIET`` without a new
  one, at most ``BURST``) and runs one ``engine.settle`` pass for the
  interfaces it touched: failover moves, then the same converge a start
  runs. It dies with the supervisor (PR_SET_PDEATHSIG).

Both log to ``follow.log`` beside the records.
"""

import fcntl
import functools
import importlib
import os
import signal
import subprocess
import sys
import time

from . import site_packages
from .kernel import NETNS_RUN_DIR, netns_id

QUIET = 0.01            # a burst ends after this long without an event
BURST = 0.2             # ... or after this long in all
IDLE = 5.0              # look at the records now and then, events or not
RESPAWN_FIRST, RESPAWN_MAX = 0.1, 5.0
RESPAWN_QUICK, RESPAWN_LIMIT = 10.0, 10   # this many deaths, each this soon: give up
EX_UNAVAILABLE = 69     # no netlink library: restarting would not help
LOG_MAX = 1 << 20
PR_SET_PDEATHSIG = 1
PID_FILE, LOG_FILE, LOCK_FILE = "follow.pid", "follow.log", ".follow.lock"

# rtnetlink multicast groups (linux/rtnetlink.h RTMGRP_*)
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x10, 0x40
RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE = 0x100, 0x400
GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE \
    | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
MAIN_TABLE = 254


# ------------------------------------------------------------ start, stop

def _files(paths, netns):
    folder = paths.store().folder(netns)
    return (os.path.join(folder, PID_FILE), os.path.join(folder, LOG_FILE),
            os.path.join(folder, LOCK_FILE))


def running(paths, netns=None):
    """The supervisor's pid, or None."""
    pid_file = _files(paths, netns)[0]
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"follow" in argv and b"--worker" not in argv else None


def _locked(paths, netns):
    lock = _files(paths, netns)[2]
    os.makedirs(os.path.dirname(lock), mode=0o755, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def command(paths, netns=None, worker=False):
    """argv that runs this very helper's ``follow``: same interpreter, same
    package, same paths."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    boot = "import sys; sys.path.insert(0, sys.argv.pop(1)); " \
           "from policyroute.cli import run; run()"
    argv = [sys.executable, "-I", "-c", boot, package_parent,
            f"--state-dir={paths.state_dir}", f"--iproute2-dir={paths.iproute2_dir}", "follow"]
    if netns:
        argv.append(f"--netns={netns}")
    if worker:
        argv.append("--worker")
    return argv


def ensure(paths, netns=None):
    """Start the namespace's follower unless it runs."""
    if os.environ.get("POLICYROUTE_FOLLOW", "yes") == "no":
        return None
    fd = _locked(paths, netns)
    try:
        pid = running(paths, netns)
        if pid:
            return pid
        pid_file, log_file, _lock = _files(paths, netns)
        log = _open_log(log_file)
        try:
            proc = subprocess.Popen(command(paths, netns), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True, close_fds=True)
        finally:
            os.close(log)
        _write(pid_file, f"{proc.pid}\n")
        proc.returncode = 0     # detached on purpose: never waited for here
        return proc.pid
    finally:
        os.close(fd)


def release(paths, netns=None):
    """End the namespace's follower once no interface there has a table."""
    fd = _locked(paths, netns)
    try:
        if paths.store().followed(netns, []):
            return False
        pid = running(paths, netns)
        if pid:
            _terminate(pid)
        pid_file, log_file, _lock = _files(paths, netns)
        _unlink(pid_file)
        _unlink(log_file)           # the log lives as long as the follower
        return True
    finally:
        os.close(fd)


def _terminate(pid, wait=3.0):
    """SIGTERM, and SIGKILL after ``wait`` s; back as soon as it ended: a
    pidfd turns readable then (reaped or not), and never names another
    process that got the pid since. Kernels before 5.3 have none: polled."""
    import select
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:
        return _terminate_polled(pid, wait)
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        if not select.select([fd], [], [], wait)[0]:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


def _terminate_polled(pid, wait):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if not os.path.exists(f"/proc/{pid}") or _zombie(pid):
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _open_log(path):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        if os.path.getsize(path) > LOG_MAX:
            os.truncate(path, 0)
    except FileNotFoundError:
        pass
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)


def _write(path, text):
    from .files import atomic_write
    atomic_write(path, text)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def log(message):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} policyroute follow[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------ supervisor

def supervise(paths, netns=None):
    """Run the worker; run it again when it dies, until it ends cleanly
    (nothing managed) or we are told to stop."""
    stopping = []
    child = [None]

    def stop(signum, _frame):
        stopping.append(signum)
        if child[0] and child[0].poll() is None:
            child[0].terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    import ctypes           # here, not at every post-start (follower.ensure): ~2-5 ms
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    delay, quick = RESPAWN_FIRST, 0
    try:
        while not stopping:
            began = time.monotonic()
            child[0] = subprocess.Popen(command(paths, netns, worker=True),
                                        preexec_fn=functools.partial(_die_with_parent,
                                                                     prctl, os.getpid()))
            rc = child[0].wait()
            if stopping or rc in (0, EX_UNAVAILABLE):
                break
            if time.monotonic() - began > RESPAWN_QUICK:
                delay, quick = RESPAWN_FIRST, 0
            else:
                delay, quick = min(delay * 2, RESPAWN_MAX), quick + 1
            if quick >= RESPAWN_LIMIT:
                log(f"worker ended with {_status(rc)} {quick} times in a row; giving up "
                    "until the next start")
                break
            log(f"worker ended with {_status(rc)}; starting it again in {delay:.1f} s")
            time.sleep(delay)
    finally:
        pid_file = _files(paths, netns)[0]
        try:
            with open(pid_file) as f:
                if f.read().strip() == str(os.getpid()):
                    _unlink(pid_file)
        except OSError:
            pass
    return 0


def _status(rc):
    return f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"


def _die_with_parent(prctl, parent):
    """In the worker, before exec: die with the supervisor. A supervisor
    that died before the prctl took effect leaves no signal to come, so
    the worker checks it still has that parent."""
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


# ------------------------------------------------------------ worker

def work(paths, runner, sysctl, netns=None):
    """Subscribe, settle everything, then settle what each burst touched."""
    from . import engine, state
    importlib.import_module(f"{__package__}.announce")    # now, not at the first move
    state.keep_records()            # pass after pass: parse only the records that changed
    site_packages()
    try:
        from pyroute2 import IPRSocket
    except ImportError:
        log("pyroute2 is not installed: addresses are not followed at runtime")
        return EX_UNAVAILABLE
    # Ended only between passes (a pass holds the namespace lock, and the
    # last stop ends the follower after its own work): nothing to tidy.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    store, home = paths.store(), netns_id()
    with IPRSocket() as ipr:      # select-compatible: no reader of its own
        ipr.bind(groups=GROUPS)
        names = None                            # the first pass: everything
        while store.followed(netns, []):
            if netns and netns_id(os.path.join(NETNS_RUN_DIR, netns)) != home:
                log(f"netns {netns} was deleted")
                return 0
            if names is None or names:
                for problem in engine.settle(paths, runner, sysctl, netns, names):
                    log(problem)
            names = wait(ipr)
    log("no interface is managed here any more")
    return 0


def wait(ipr):
    """Block for events; the names of the links a burst touched, or an
    empty set after IDLE without any."""
    import select           # the worker's alone: post-start only calls ensure
    ready, _w, _x = select.select([ipr.fileno()], [], [], IDLE)
    if not ready:
        return set()
    names, end = set(), time.monotonic() + BURST
    while True:
        for msg in ipr.get():
            names |= affected(msg)
        left = end - time.monotonic()
        if left <= 0 or not select.select([ipr.fileno()], [], [], min(QUIET, left))[0]:
            return names


def affected(msg):
    """Which links an event concerns, as a set of names (failover looks at
    every link on every pass: only where addresses move is converged)."""
    event = msg.get("event")
    if event in ("RTM_NEWLINK", "RTM_DELLINK"):
        return {msg.get_attr("IFLA_IFNAME")} - {None}
    if event in ("RTM_NEWADDR", "RTM_DELADDR"):
        if msg.get("scope") != 0:               # link-local, host: not ours
            return set()
        return _name(msg.get("index"))
    if event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
        table = msg.get_attr("RTA_TABLE") or msg.get("table")
        if msg.get("dst_len") != 0 or table != MAIN_TABLE:
            return set()                        # only main's default matters
        return _name(msg.get_attr("RTA_OIF"))
    return set()


def _name(index):
    import socket
    try:
        return {socket.if_indextoname(index)} if index else set()
    except OSError:
        return set()
