"""A safe drop-in, under real OpenRC: settings keyed by MAC mean the same to
the by-hand commands as to the module; a failing helper is never silent
at boot; iproute2 recording rules_ lines the module owns is said aloud;
what a stop could not remove is removed by the next start and stop.
Runs once per /bin/sh."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .harness import World

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("host_guard")]

MAC_CONF = ('config_020000000110="192.0.2.17/24"\n'
            'table_020000000110="e1v10"\n'
            'rules_020000000110="from 192.0.2.17 to 198.51.100.0/24 lookup e1v10"\n')
CONF = 'config_eth1_10="192.0.2.17/24"\ntable_eth1_10="e1v10"\n'
# config_ of ~66 KiB, beyond hold.APART_VALUES (64 KiB): the held start's
# first step runs in a child process. 1,101 addresses: 2,203 rules, still
# through ip -batch (netlink.THRESHOLD is 3,072 rule adds).
LARGE_CONF = ('config_eth1_10="192.0.2.17/24\n' + "\n".join(
    f"2001:db8:10::{i:x}/128 preferred_lft forever valid_lft forever" for i in range(1, 1101))
    + '"\ntable_eth1_10="e1v10"\n')
assert len(LARGE_CONF) > 64 << 10


def helper_of(module_path: Path) -> str:
    """The helper path make install wrote into the module."""
    return re.search(r'^_policyroute_helper="(.*)"$', module_path.read_text(), re.M).group(1)


def with_helper(world: World, module_path: Path, helper: str) -> None:
    """The module, calling ``helper`` instead of the installed one."""
    text = module_path.read_text().replace(helper_of(module_path), helper)
    world.write_module("policyroute", text)


def ours(world: World) -> list:
    rules = [r for family in ("-4", "-6")
             for r in json.loads(world.ip("-N", "-j", family, "rule", "show").stdout or "[]")]
    return [r for r in rules if r.get("protocol") == "201"]


def output(proc) -> str:
    return proc.stdout + proc.stderr


def test_by_hand_commands_read_what_the_start_resolved_per_mac(world: World, module_path):
    world.install_module(module_path)
    world.veth("eth1.10", mac="02:00:00:00:01:10")
    world.write_conf(MAC_CONF)
    assert world.rc("net.eth1.10", "start").returncode == 0
    running = ours(world)
    assert len(running) == 4
    helper = helper_of(module_path)

    show = world.run([helper, "show", "--json"])
    assert show.returncode == 0, output(show)             # no drift
    [item] = json.loads(show.stdout)
    assert item["drift"] == {"missing": [], "extra": []}
    plan = world.run([helper, "plan", "eth1.10"])
    assert (plan.returncode, plan.stdout) == (0, "# eth1.10: nothing to do\n"), output(plan)
    sync = world.run([helper, "sync", "eth1.10"])
    assert (sync.returncode, sync.stdout) == (0, "eth1.10: in sync\n"), output(sync)
    assert ours(world) == running
    assert world.rc("net.eth1.10", "stop").returncode == 0
    assert ours(world) == []


@pytest.mark.parametrize("script, words", [
    ("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
     "echo 'ZeroDivisionError: division by zero' >&2\nexit 1\n",
     "ZeroDivisionError: division by zero"),
    (None, "fake-policyroute"),          # the shell says it is missing, in its words
])
def test_a_failing_helper_is_an_error_at_boot(world: World, module_path, script, words):
    fake = world.root / "fake-policyroute"
    if script is not None:
        fake.write_text(script)
        fake.chmod(0o755)
    with_helper(world, module_path, str(fake))
    world.veth("eth1.10")
    world.write_conf(CONF)
    proc = world.rc("net.eth1.10", "start")                # not verbose
    assert proc.returncode != 0
    shown = [line for line in output(proc).splitlines() if words in line]
    assert shown and all(line.lstrip().startswith("*") for line in shown), output(proc)
    left = world.run(["sh", "-c", "ls -d /run/policyroute-hold.* 2>/dev/null"])
    assert left.stdout == ""                    # the FIFOs of a helper that never ran go too


def test_iproute2_recording_owned_rules_is_a_warning(world: World, module_path):
    """A netifrc whose iproute2 module still records rules_ lines (it read
    them some other way) is named, instead of both modules acting."""
    world.install_module(module_path)
    world.write_module("leaky", "leaky_depend() { after policyroute; before interface; }\n"
                                "leaky_pre_start() { service_set_value ip_rule "
                                "'from 192.0.2.17 priority 99'; }\n")
    world.veth("eth1.10")
    world.write_conf(CONF)
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode == 0, output(proc)
    assert "recorded rules in ip_rule although policyroute owns rules_eth1_10" in output(proc)


def test_what_a_stop_could_not_remove_goes_at_the_next_start_and_stop(world: World,
                                                                      module_path):
    helper = helper_of(module_path)
    flag = world.root / "fail-stop-once"
    wrapper = world.root / "wrapped-policyroute"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'for a; do [ "$a" = stop ] && [ -e {flag} ] && rm {flag} && '
        "echo 'policyroute: error: could not remove: ip -4 rule del ...' >&2 && exit 4; done\n"
        # No follower: it would rightly remove the rules of the addresses
        # netifrc's stop flushed, racing the look below.
        f'POLICYROUTE_FOLLOW=no exec {helper} "$@"\n')
    wrapper.chmod(0o755)
    with_helper(world, module_path, str(wrapper))
    world.veth("eth1.10")
    world.write_conf(CONF)
    assert world.rc("net.eth1.10", "start").returncode == 0
    running = ours(world)
    flag.write_text("")
    proc = world.rc("net.eth1.10", "stop")
    assert proc.returncode == 0                           # a stop never fails because of us
    assert "could not remove" in output(proc)
    assert ours(world) == running                         # still recorded, still there
    assert world.run(["ls", "/run/policyroute/eth1.10.json"]).returncode == 0

    assert world.rc("net.eth1.10", "start").returncode == 0
    assert ours(world) == running                         # converged, no duplicates
    assert world.rc("net.eth1.10", "stop").returncode == 0
    assert ours(world) == []
    assert world.run(["ls", "/run/policyroute/eth1.10.json"]).returncode != 0


# One helper process serves a start's pre_start and post_start (pre-start
# --hold): what becomes of it when the start goes wrong between the two.

def _held(world: World, module_path: Path, after_ours: str, hook: str = "pre_start"):
    """The module with a helper that notes its pid, and a module running
    ``after_ours`` as its ``hook`` right after ours (before interface)."""
    pids = world.root / "helper-pids"
    wrapper = world.root / "noting-policyroute"
    wrapper.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec {helper_of(module_path)} \"$@\"\n")
    wrapper.chmod(0o755)
    with_helper(world, module_path, str(wrapper))
    world.write_module("next", "next_depend() { after policyroute; before interface; }\n"
                               f"next_{hook}() {{ {after_ours}; }}\n")
    world.veth("eth1.10")
    world.write_conf(CONF)
    return pids


def _gone(pid: int, within: float = 5.0) -> bool:
    import time
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_a_start_that_fails_after_pre_start_ends_the_held_helper(world: World, module_path):
    pids = _held(world, module_path, "return 1")
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode != 0, output(proc)
    [pid] = [int(p) for p in pids.read_text().split()]   # one process for the start
    assert _gone(pid), "the held helper outlived the failed start"
    assert ours(world) == []                               # post-start never ran
    left = world.run(["sh", "-c", "ls -d /run/policyroute-hold.* 2>/dev/null"])
    assert left.stdout == ""                               # its FIFOs went when opened


def test_a_held_helper_killed_before_post_start_is_an_error(world: World, module_path):
    """Killed, it cannot take back the rules it added at pre_start: a stop
    of its own does (a second helper process)."""
    pids = _held(world, module_path, 'kill -9 "${_policyroute_pid}"')
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode != 0, output(proc)
    assert "the policyroute helper was ended by signal 9" in output(proc)
    assert len(pids.read_text().split()) == 2
    assert ours(world) == []
    assert world.run(["ls", "/run/policyroute/eth1.10.json"]).returncode != 0


@pytest.mark.parametrize("conf", [CONF, LARGE_CONF], ids=["here", "in-a-child"])
def test_a_held_helper_killed_during_its_first_step_leaves_nothing(world: World, module_path,
                                                                   conf):
    """Killed while its first step adds rules, the helper cannot take
    them back: pre_start runs a stop of its own, and the start fails.
    Of a large start, the first step runs in a child process, which
    still ends its adds (its FIFO ends only with it) before that stop."""
    real = helper_of(module_path)
    ip = world.root / "killing-ip"
    ip.write_text(
        "#!/bin/sh\n"
        "batch=$(cat)\n"
        # the first step's rule adds: end the held helper the module started
        # (the farthest process up from here with --hold= in its words)
        'case "${batch}" in *"rule add"*)\n'
        "    p=$PPID held=\n"
        '    while [ "${p}" -gt 1 ]; do\n'
        '        tr "\\0" " " < /proc/${p}/cmdline | grep -q -e "--hold=" && held=${p}\n'
        '        p=$(sed "s/.*) //" /proc/${p}/stat | cut -d" " -f2)\n'
        "    done\n"
        '    kill -9 "${held}" ;;\n'
        "esac\n"
        'printf "%s\\n" "${batch}" | exec ip "$@"\n')
    ip.chmod(0o755)
    wrapper = world.root / "killed-policyroute"
    wrapper.write_text(f'#!/bin/sh\nPOLICYROUTE_IP={ip} exec {real} "$@"\n')
    wrapper.chmod(0o755)
    with_helper(world, module_path, str(wrapper))
    world.veth("eth1.10")
    world.write_conf(conf)
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode != 0, output(proc)
    assert "the policyroute helper was ended by signal 9" in output(proc)
    assert ours(world) == []
    assert world.run(["ls", "/run/policyroute/eth1.10.json"]).returncode != 0


def test_a_held_stop_helper_killed_before_post_stop_still_stops(world: World, module_path):
    """Killed while it waits for post-stop, the held helper removed
    nothing; OpenRC forgets the started mark with the service, so no later
    stop would: post_stop runs a one-shot stop itself."""
    pids = _held(world, module_path, 'kill -9 "${_policyroute_pid}"', hook="post_stop")
    assert world.rc("net.eth1.10", "start").returncode == 0
    assert len(ours(world)) == 3
    proc = world.rc("net.eth1.10", "stop")
    assert proc.returncode == 0, output(proc)                 # a stop never fails because of us
    assert "the policyroute helper was ended by signal 9" in output(proc)
    assert len(pids.read_text().split()) == 3                 # start, held stop, one-shot stop
    assert ours(world) == []
    assert world.run(["ls", "/run/policyroute/eth1.10.json"]).returncode != 0


def test_the_rules_are_in_before_netifrc_adds_the_addresses(world: World, module_path):
    """The next module's pre_start (after ours, before interface) sees our
    rules for config_'s address, and no address yet."""
    seen = world.root / "seen"
    _held(world, module_path, f"{{ ip -N -4 rule show; ip -N -4 address show dev eth1.10; }}"
                              f" > {seen}")
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode == 0, output(proc)
    text = seen.read_text()
    assert "from 192.0.2.17 lookup 1024 proto 201" in text, text
    assert "192.0.2.17/24" not in text, text
    assert world.rc("net.eth1.10", "stop").returncode == 0
    assert ours(world) == []


def test_a_start_runs_one_helper_and_a_stop_one_more(world: World, module_path):
    pids = _held(world, module_path, ":")
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode == 0, output(proc)
    assert len(pids.read_text().split()) == 1
    assert len(ours(world)) == 3
    assert world.rc("net.eth1.10", "stop").returncode == 0
    assert len(pids.read_text().split()) == 2
    assert ours(world) == []


def test_without_fifos_the_two_hooks_run_the_helper_once_each(world: World, module_path):
    """Where /run takes no FIFO folder, pre_start and post_start each run
    the helper, as before the held start."""
    pids = world.root / "helper-pids"
    wrapper = world.root / "noting-policyroute"
    wrapper.write_text(f"#!/bin/sh\necho \"$1\" >> {pids}\nexec {helper_of(module_path)} \"$@\"\n")
    wrapper.chmod(0o755)
    text = module_path.read_text().replace(helper_of(module_path), str(wrapper))
    assert "mktemp -d /run/policyroute-hold." in text
    world.write_module("policyroute", text.replace("mktemp -d /run/", "mktemp -d /nonexistent/"))
    world.veth("eth1.10")
    world.write_conf(CONF)
    proc = world.rc("net.eth1.10", "start")
    assert proc.returncode == 0, output(proc)
    assert pids.read_text().split() == ["pre-start", "post-start"]
    assert len(ours(world)) == 3
    assert world.rc("net.eth1.10", "stop").returncode == 0
    assert ours(world) == []
