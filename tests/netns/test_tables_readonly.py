"""A read-only /etc/iproute2 (issue 10): a start whose table name is
registered works; one that must register a name fails with one error
naming table_ and the path, and changes nothing.

The iproute2 folder is a folder under tmp_path, bind-mounted read-only in
a private mount namespace (unshare -m) that only the helper's commands
live in; the interface is a veth in a network namespace made and removed
here. The host's /etc, /run and namespace are neither read nor written."""

import json
import os
import subprocess
import sys

import pytest

NS = f"prt-ro-{os.getpid()}"
TALLY = []


@pytest.fixture(scope="module")
def netns():
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        for cmd in (["link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"],
                    # no link-local addresses: their routes come late, while
                    # a test compares the kernel before and after
                    ["link", "set", "eth9", "addrgenmode", "none"],
                    ["link", "set", "eth9p", "addrgenmode", "none"],
                    ["link", "set", "eth9p", "up"],
                    ["addr", "add", "192.0.2.9/24", "dev", "eth9"],
                    ["addr", "add", "2001:db8:9::9/64", "dev", "eth9", "nodad"],
                    ["link", "set", "eth9", "up"]):
            subprocess.run(["ip", "-n", NS, *cmd], check=True)
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=True)
        print(f"\nread-only /etc/iproute2 faults: {len(TALLY)} cases, "
              f"{sum(ok for _n, ok in TALLY)} as expected: "
              + ", ".join(f"{n} {'ok' if ok else 'FAILED'}" for n, ok in TALLY))


@pytest.fixture
def etc(tmp_path):
    d = tmp_path / "etc-iproute2"
    (d / "rt_tables.d").mkdir(parents=True)
    (d / "rt_tables").write_text("255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n")
    return d


def snapshot(folder):
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def kernel(netns):
    """The namespace's rules and routes, both families, as numbers."""
    out = []
    for family in ("-4", "-6"):
        for what in (["rule", "show"], ["route", "show", "table", "all"]):
            proc = subprocess.run(["ip", "-n", netns, "-N", "-j", family, *what],
                                  check=True, capture_output=True, text=True)
            out.append(json.loads(proc.stdout or "[]"))
    return out


def read_only(etc, netns, tmp_path, *commands):
    """Run helper commands (lists of arguments) in one private mount
    namespace where etc is read-only, each inside netns; their results."""
    script = ['set -e', 'mount --bind "$1" "$1"', 'mount -o remount,bind,ro "$1"',
              'touch "$1/probe" 2>/dev/null && exit 99', 'shift', 'set +e']
    args = [str(etc)]
    for n, command in enumerate(commands):
        out = tmp_path / f"out{n}"
        script.append(f'ip netns exec {netns} "{sys.executable}" -m policyroute '
                      + " ".join(f'"${{{len(args) + i}}}"' for i in range(len(command)))
                      + f' >{out}.stdout 2>{out}.stderr; echo $? >{out}.rc')
        args += command
    env = dict(os.environ, POLICYROUTE_IPROUTE2_DIR=str(etc),
               POLICYROUTE_STATE_DIR=str(tmp_path / "run"), POLICYROUTE_IPROUTE2_DATA_DIRS="")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           "\n".join(script), "sh", *args], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)   # 99: not read-only
    assert not os.path.exists(etc / "probe")
    return [(int((tmp_path / f"out{n}.rc").read_text()), (tmp_path / f"out{n}.stdout").read_text(),
             (tmp_path / f"out{n}.stderr").read_text()) for n in range(len(commands))]


START = ["--table", "e9", "--rules", "fwmark 9 lookup e9"]


def test_registered_name_starts_and_stops(etc, netns, tmp_path):
    (etc / "rt_tables.d" / "policyroute.conf").write_text("1024\te9\n")
    files, before = snapshot(etc), kernel(netns)
    (pre, post) = read_only(etc, netns, tmp_path, ["pre-start", "eth9", *START],
                            ["post-start", "eth9", *START])
    tables = {r.get("table") for r in kernel(netns)[0]}
    (stop,) = read_only(etc, netns, tmp_path, ["stop", "eth9"])
    started = pre[0] == 0 and post[0] == 0 and (pre[2], post[2]) == ("", "") and "1024" in tables
    TALLY.append(("registered", started and stop[0] == 0 and kernel(netns) == before))
    assert (pre, post[0], post[2]) == ((0, "", ""), 0, "")
    assert "1024" in tables                             # e9's rules were in the kernel
    assert stop[0] == 0 and kernel(netns) == before
    assert snapshot(etc) == files
    assert (tmp_path / "run" / ".tables.lock").exists() is False   # nothing needed registering


def test_unregistered_name_is_one_error_and_nothing_changes(etc, netns, tmp_path):
    files, before = snapshot(etc), kernel(netns)
    (pre,) = read_only(etc, netns, tmp_path, ["pre-start", "eth9", *START])
    want = (1, "", f"policyroute: error: table_eth9: 'e9' is not in rt_tables and cannot be "
                   f"registered: {etc}/rt_tables.d/policyroute.conf: Read-only file system\n")
    TALLY.append(("unregistered", pre == want and kernel(netns) == before))
    assert pre == want
    assert snapshot(etc) == files and kernel(netns) == before
    assert not list((tmp_path / "run").glob("*.json"))


def test_a_sibling_s_unregistered_name_does_not_stop_this_start(etc, netns, tmp_path):
    (etc / "rt_tables.d" / "policyroute.conf").write_text("1024\te9\n")
    conf = tmp_path / "net"
    conf.write_text('table_eth9="e9"\ntable_eth8="e8"\n')
    files = snapshot(etc)
    (pre,) = read_only(etc, netns, tmp_path,
                       ["pre-start", "eth9", "--table", "e9", "--config", str(conf)])
    TALLY.append(("sibling unregistered", pre == (0, "", "")))
    assert pre == (0, "", "")
    assert snapshot(etc) == files


def test_a_table_by_number_needs_no_registration(etc, netns, tmp_path):
    files, before = snapshot(etc), kernel(netns)
    (pre, post, stop) = read_only(
        etc, netns, tmp_path, ["pre-start", "eth9", "--table", "1030"],
        ["post-start", "eth9", "--table", "1030"], ["stop", "eth9"])
    TALLY.append(("table by number", (pre[0], post[0], stop[0]) == (0, 0, 0)
                  and kernel(netns) == before))
    assert (pre, post[0], stop[0]) == ((0, "", ""), 0, 0)
    assert snapshot(etc) == files and kernel(netns) == before


@pytest.mark.parametrize("missing", [False, True])
def test_check_reads_a_read_only_folder(etc, netns, tmp_path, missing):
    if not missing:
        (etc / "rt_tables.d" / "policyroute.conf").write_text("1024\te9\n")
    conf = tmp_path / "net"
    conf.write_text('table_eth9="e9"\n')
    files = snapshot(etc)
    (check,) = read_only(etc, netns, tmp_path, ["check", str(conf)])
    TALLY.append((f"check ({'unregistered' if missing else 'registered'})", check[0] == 0))
    assert check == (0, f"{conf}: 1 interfaces, no problems\n", "")
    assert snapshot(etc) == files
