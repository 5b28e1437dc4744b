"""The kernel trial for rules_ words that depend on the iproute2 version
(trial.py), for real: pre-start and check refuse alike, before anything is
written, and the namespace they run in keeps its rules.

Every command runs inside a named network namespace made and removed
here; paths point into tmp_path. The answer expected for ``dscp`` and
``flowlabel`` is the one this machine's ``ip rule help`` gives."""

import os
import re
import subprocess
import sys
import time

import pytest

from policyroute import trial

NS = f"prt-trial-{os.getpid()}"
BAD = "from 192.0.2.17 lookup t9\ndscp 10 lookup t9\nfwmark 7\nflowlabel 5 lookup main"


ACCEPTED = ("fwmark", "0x3/0xffffffff", "priority", "123", "lookup", "main")


def ip_knows(word):
    proc = subprocess.run(["ip", "rule", "help"], capture_output=True, text=True)
    return word in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def netns():
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=True)
        assert NS not in os.listdir("/run/netns")


@pytest.fixture
def env(tmp_path):
    (tmp_path / "etc-iproute2").mkdir()
    return dict(os.environ, POLICYROUTE_STATE_DIR=str(tmp_path / "run"),
                POLICYROUTE_IPROUTE2_DIR=str(tmp_path / "etc-iproute2"),
                POLICYROUTE_IPROUTE2_DATA_DIRS="")


def helper(netns, env, *args):
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "policyroute",
                           *args], capture_output=True, text=True, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def rules_in(netns):
    return subprocess.run(["ip", "-n", netns, "-N", "-j", "rule", "show"], check=True,
                          capture_output=True, text=True).stdout


def expected_errors(variable):
    out = []
    for line, word in ((2, "dscp"), (4, "flowlabel")):
        if not ip_knows(word):
            out.append(f"policyroute: error: {variable} line {line}: '{word}' is refused by "
                       f"this system's ip rule: Error: argument \"{word}\" is wrong: "
                       "Failed to parse rule type")
    return out


def test_pre_start_refuses_what_this_ip_cannot_add(netns, env, tmp_path):
    before = rules_in(netns)
    code, out, err = helper(netns, env, "pre-start", "eth9", "--table", "t9", "--rules", BAD)
    want = expected_errors("rules_eth9")
    assert (code, out, err.splitlines()) == (1 if want else 0, "", want)
    assert rules_in(netns) == before                    # the trial ran elsewhere
    if want:                                            # refused before registering
        assert list((tmp_path / "etc-iproute2").iterdir()) == []


def test_check_gives_the_same_verdict(netns, env, tmp_path):
    conf = tmp_path / "net"
    conf.write_text(f'table_eth9="t9"\nrules_eth9="{BAD}"\n')
    code, out, err = helper(netns, env, "check", str(conf))
    want = expected_errors("rules_eth9")
    assert (code, err.splitlines()) == (1 if want else 0, want)
    assert list((tmp_path / "etc-iproute2").iterdir()) == []


def test_an_ipv6_line_is_tried_as_ipv6(netns, env):
    code, _out, err = helper(netns, env, "pre-start", "eth9", "--rules6",
                             "from 2001:db8::/64 flowlabel 0x5 lookup main")
    if ip_knows("flowlabel"):
        assert (code, err) == (0, "")
    else:
        assert code == 1 and err.startswith("policyroute: error: rules6_eth9 line 1: 'flowlabel'")


def test_a_line_the_kernel_takes_passes_the_trial():
    # the trial runs a refused and an accepted line alike: only the refused
    # one is reported (and a real ip said so, in a namespace of its own)
    from policyroute import parse
    cfg = parse.parse_interface("eth9", rules="dscp 1 lookup main", rules6="from 2001:db8::/64")
    refused = trial.refusals(list(cfg.rules))
    assert len(refused) == (0 if ip_knows("dscp") else 1)
    home = os.readlink("/proc/self/ns/net")
    assert trial._try(4, [ACCEPTED]) is None
    assert os.readlink("/proc/self/ns/net") == home


def test_cost_of_the_trial():
    """Not a limit: the figures for the report (median of 21 runs of what
    pre-start adds: trial.refusals over the interface's lines)."""
    from policyroute import parse

    def median(text):
        lines = list(parse.parse_interface("eth9", rules=text).rules)
        times = []
        for _ in range(21):
            t0 = time.perf_counter()
            trial.refusals(lines)
            times.append(time.perf_counter() - t0)
        return sorted(times)[10] * 1000
    plain = median("fwmark 7 lookup main\nfrom 192.0.2.0/24 lookup main")
    tried = median("fwmark 7 lookup main\nfrom 192.0.2.0/24 dscp 10 lookup main")
    t0 = time.perf_counter()
    assert trial._try(4, [ACCEPTED]) is None
    accepted = (time.perf_counter() - t0) * 1000
    print(f"\ntrial: {plain:.3f} ms without a dscp line, {tried:.1f} ms with one "
          f"({'accepted' if ip_knows('dscp') else 'refused'}); one accepted trial "
          f"{accepted:.1f} ms")
    assert plain < tried


def test_the_trial_works_for_a_user_that_is_not_root(tmp_path_factory):
    """check run by a user: the trial's namespace is made inside a user
    namespace where the user is root, so ip can add the accepted line."""
    import shutil
    import tempfile
    from pathlib import Path
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        pytest.skip("no python that nobody may run")
    folder = Path(tempfile.mkdtemp(prefix="prt-trial-"))      # readable by nobody
    try:
        os.chmod(folder, 0o755)
        shutil.copytree(Path(trial.__file__).parent, folder / "policyroute")
        script = ("from policyroute import parse, trial\n"
                  "cfg = parse.parse_interface('eth9', rules='fwmark 3\\ndscp 1 lookup main')\n"
                  "print([e.message() for e in trial.refusals(list(cfg.rules))])\n"
                  f"print(trial._try(4, [{ACCEPTED!r}]))\n")
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               python, "-c", script], capture_output=True, text=True,
                              env={"PYTHONPATH": str(folder), "PATH": os.environ["PATH"]},
                              cwd="/")
    finally:
        shutil.rmtree(folder)
    if "Operation not permitted" in proc.stdout + proc.stderr and "unshare" in proc.stderr:
        pytest.skip("user namespaces are off here")
    refused = [] if ip_knows("dscp") else [
        "rules_eth9 line 2: 'dscp' is refused by this system's ip rule: Error: argument "
        "\"dscp\" is wrong: Failed to parse rule type"]
    assert (proc.returncode, proc.stdout.splitlines(), proc.stderr) == \
        (0, [repr(refused), "None"], "")


def ip_version():
    out = subprocess.run(["ip", "-V"], capture_output=True, text=True).stdout
    m = re.search(r"iproute2-(?:ss)?v?(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def test_a_port_mask_this_ip_drops_is_refused_by_pre_start_and_check(netns, env, tmp_path):
    """iproute2 before 6.15 reads sport 22/0xff00 as sport 22 and says
    nothing: the trial reads the rule back and refuses the line."""
    line = "ipproto tcp sport 22/0xff00 lookup main"
    code, _out, err = helper(netns, env, "pre-start", "eth9", "--rules", f"fwmark 3\n{line}")
    conf = tmp_path / "net"
    conf.write_text(f'rules_eth9="fwmark 3\n{line}"\n')
    check = helper(netns, env, "check", str(conf))
    if ip_version() >= (6, 15):
        assert (code, err, check[0]) == (0, "", 0)
        return
    want = ("policyroute: error: rules_eth9 line 2: 'sport 22/0xff00' is not kept as written "
            "by this system's ip rule (iproute2 before 6.15 drops a port mask): the rule would "
            "select other traffic")
    assert (code, err.splitlines()) == (1, [want])
    assert (check[0], check[2].splitlines()) == (1, [want])
