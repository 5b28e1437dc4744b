"""follower._terminate: SIGTERM, SIGKILL when ignored, back once ended;
through a pidfd, and polled where the kernel has none."""

import signal
import subprocess
import time

import pytest

from policyroute import follower


@pytest.fixture(params=["pidfd", "polled"])
def terminate(request):
    if request.param == "pidfd":
        return follower._terminate
    return follower._terminate_polled


def test_a_process_that_ends_on_sigterm(terminate):
    proc = subprocess.Popen(["sleep", "30"])
    time.sleep(0.05)
    began = time.monotonic()
    terminate(proc.pid, 3.0)
    assert time.monotonic() - began < 1.0
    assert proc.wait(timeout=1) == -signal.SIGTERM


def test_a_process_that_ignores_sigterm_is_killed(terminate):
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
    time.sleep(0.1)
    terminate(proc.pid, 0.3)
    assert proc.wait(timeout=2) == -signal.SIGKILL


def test_a_gone_process_is_no_error(terminate):
    proc = subprocess.Popen(["true"])
    proc.wait()
    terminate(proc.pid, 0.3)        # reaped: ProcessLookupError inside, nothing raised
