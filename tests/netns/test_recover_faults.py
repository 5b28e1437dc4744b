"""Fault tier, record and batch faults (issue 10): a record deleted (one
file, or the whole state folder), a record corrupted in many ways, and
`ip` refusing each line of a start's batch. Every case ends, after at
most one more start or stop, with the namespace's rules, routes and the
interfaces' sysctls exactly as before the first start, and no rule or
route without protocol 201 left behind. The tally is printed (pytest -s).

Run: .venv/bin/pytest -s tests/netns/test_recover_faults.py
"""

import json
import os
import shutil
import sys

import pytest

import topology
from netns_checks import records, started

pytestmark = pytest.mark.usefixtures("clean")

IFACE, TABLE = "eth1.10", "e1v10"
RULES = "fwmark 7 lookup e1v10\nfrom 192.0.2.17 to 198.51.100.0/24 lookup e1v10 priority 900"
TALLY = {"cases": 0, "clean": 0}


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print(f"\nfaults: {TALLY['cases']} cases, {TALLY['clean']} clean")


@pytest.fixture(scope="module", autouse=True)
def registered(pr):
    """pre-start, once: it only registers the table (post-start would too)."""
    started(pr.run("pre-start", IFACE, table=TABLE, rules=RULES))


def start(lab, pr, **env):
    """A netifrc start of eth1.10 (routes_, post-start; pre-start is above)."""
    lab.add_table_routes(IFACE, pr.table_number(TABLE))
    return pr.run("post-start", IFACE, netns=lab.box.name, table=TABLE, rules=RULES,
                  verbose=True, extra_env=env or None)


def stop(lab, pr):
    return lab.stop(pr, IFACE)


def record(lab, pr):
    return pr.record_path(IFACE, lab.box.name)


def back_to(lab, pr, before, what):
    """The case's verdict: the namespace exactly as before, nothing untagged."""
    TALLY["cases"] += 1
    now = lab.snapshot()
    for fam in ("4", "6"):
        new = set(now[f"rules{fam}"].splitlines()) - set(before[f"rules{fam}"].splitlines())
        new |= set(now[f"routes{fam}"].splitlines()) - set(before[f"routes{fam}"].splitlines())
        assert [line for line in new if "proto 201" not in line] == [], what
    assert now == before, what
    assert records(pr) == [], what
    TALLY["clean"] += 1
    for bad in pr.state_dir.rglob("*.bad"):       # set aside for a look by hand
        shutil.rmtree(bad) if bad.is_dir() and not bad.is_symlink() else bad.unlink()


def warned(proc, *words):
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("policyroute: warning: "), proc.stderr
    for w in words:
        assert w in lines[0], proc.stderr


# ---------------------------------------------------------------- record deleted

def lose_record(lab, pr):
    record(lab, pr).unlink()


def lose_state_dir(lab, pr):
    shutil.rmtree(pr.state_dir)


@pytest.mark.parametrize("lose", [lose_record, lose_state_dir], ids=["record", "state-dir"])
@pytest.mark.parametrize("then", ["stop", "start-stop"])
def test_record_deleted(lab, pr, lose, then):
    before = lab.snapshot()
    started(start(lab, pr))
    running = lab.snapshot()
    assert running[f"{IFACE}/arp_ignore"] == "1"
    lose(lab, pr)
    if then == "start-stop":
        # Today's flipped sysctls must not become "old": the next stop
        # still puts back what a new link gets.
        warned(started(start(lab, pr)), f"{IFACE}: no record", "found by protocol 201")
        assert lab.snapshot() == running            # kept what is wanted, no duplicate
        saved = json.loads(record(lab, pr).read_text())["sysctls"]
        assert sorted(saved) == [[f"net/ipv4/conf/{IFACE}/{name}", "0", want]
                                 for name, want in (("arp_announce", "2"), ("arp_ignore", "1"))]
        warned_stop = False
    else:
        warned_stop = True
    proc = started(stop(lab, pr))
    if warned_stop:
        warned(proc, f"{IFACE}: no record", "rules and routes of it found by protocol 201")
    back_to(lab, pr, before, f"{lose.__name__} then {then}")


def test_record_lost_and_a_line_dropped(lab, pr):
    """A start without a record deletes what it found and no longer wants."""
    before = lab.snapshot()
    started(start(lab, pr))
    lose_record(lab, pr)
    kept = RULES.splitlines()[1]
    lab.add_table_routes(IFACE, pr.table_number(TABLE))
    started(pr.run("post-start", IFACE, netns=lab.box.name, table=TABLE, rules=kept))
    rules = lab.box.ip("-N", "-4", "rule", "show").stdout
    assert "fwmark 0x7" not in rules and rules.count("proto 201") == 4, rules
    started(stop(lab, pr))
    back_to(lab, pr, before, "record lost, then a start without one rules_ line")


# ---------------------------------------------------------------- record corrupted

def text_of(f):
    return lambda path, text: path.write_text(f(text))


def edit(change):
    """The record as JSON, changed by change(dict) (which returns nothing)."""
    def write(path, text):
        d = json.loads(text)
        change(d)
        path.write_text(json.dumps(d))
    return write


def raw(data):
    return lambda path, text: path.write_bytes(data)


def symlink(path, text):
    target = path.parent / "elsewhere.target"
    target.write_text(text)
    path.unlink()
    path.symlink_to(target)


def folder(path, text):
    path.unlink()
    path.mkdir()
    (path / "x").write_text(text)


def first(kind):
    return lambda d: next(o for o in d["objects"] if o["kind"] == kind)


def addresses_elsewhere(d):
    for o in d["objects"]:
        o["args"] = [a.replace("192.0.2.17", "192.0.2.99").replace("2001:db8:10::17",
                                                                   "2001:db8:10::99")
                     for a in o["args"]]


# name -> (how, is the record still valid: no warning expected)
CORRUPTIONS = {
    "truncated": (text_of(lambda t: t[:len(t) // 2]), False),
    "empty": (text_of(lambda t: ""), False),
    "not-json": (text_of(lambda t: "policyroute was here\n"), False),
    "json-array": (text_of(lambda t: "[" + t + "]"), False),
    "wrong-version": (edit(lambda d: d.update(version=2)), False),
    "no-version": (edit(lambda d: d.pop("version")), False),
    "objects-a-number": (edit(lambda d: d.update(objects=7)), False),
    "family-a-string": (edit(lambda d: first("rule")(d).update(family="4")), False),
    "table-a-string": (edit(lambda d: d.update(table=str(d["table"]))), False),
    "huge-number": (text_of(lambda t: t.replace('"table":', '"table":' + "9" * 5000 + ",\"x\":")),
                    False),
    "table-too-big": (edit(lambda d: d.update(table=2**40)), False),
    "dotdot-sysctl": (edit(lambda d: d["sysctls"][0].__setitem__(
        0, f"net/ipv4/conf/{IFACE}/../../../../../tmp/policyroute-pwned")), False),
    "other-iface-sysctl": (edit(lambda d: d["sysctls"][0].__setitem__(
        0, "net/ipv4/conf/eth0.10/arp_ignore")), False),
    "sysctl-not-a-number": (edit(lambda d: d["sysctls"][0].__setitem__(1, "zero")), False),
    "newline-in-argument": (edit(lambda d: first("rule")(d)["args"].append(
        "201\nrule add from all blackhole priority 1")), False),
    "hash-in-argument": (edit(lambda d: first("rule")(d)["args"].append("#")), False),
    "foreign-iface": (edit(lambda d: d.update(iface="eth0.10")), False),
    "another-interfaces-file": (text_of(lambda t: t.replace(IFACE, "eth0.10")), False),
    "wrong-netns": (edit(lambda d: d.update(netns="elsewhere")), False),
    "route-of-another-table": (edit(lambda d: first("route")(d)["args"].__setitem__(
        -3, "1279")), False),
    "odd-words": (edit(lambda d: first("rule")(d)["args"].append("tos")), False),
    "nul-bytes": (text_of(lambda t: t[:20] + "\0" * 8 + t[20:]), False),
    "invalid-utf8": (lambda path, text: path.write_bytes(b"\xff\xfe" + text.encode()), False),
    "binary": (raw(bytes(range(256)) * 8), False),
    "symlink": (symlink, False),
    "folder": (folder, False),
    # Valid records that no longer match the kernel: stop also sweeps the
    # interface's tagged objects.
    "objects-emptied": (edit(lambda d: d.update(objects=[])), True),
    "objects-of-other-addresses": (edit(addresses_elsewhere), True),
}


# The follower plays no part here (test_record_deleted keeps it): off, to
# keep the tier's wall time down.
QUIET = {"POLICYROUTE_FOLLOW": "no"}


@pytest.mark.parametrize("then", ["stop", "start-stop"])
def test_record_corrupted(lab, pr, then):
    before = lab.snapshot()
    for name, (how, valid) in CORRUPTIONS.items():
        started(start(lab, pr, **QUIET))
        path = record(lab, pr)
        how(path, path.read_text())
        if then == "start-stop":
            proc = started(start(lab, pr, **QUIET))
            if not valid:
                warned(proc, f"{path}: unreadable record", f"set aside as {path}.bad")
            assert os.path.isfile(path) and not os.path.islink(path), name
        proc = started(stop(lab, pr))
        if then == "stop" and not valid:
            warned(proc, f"{path}: unreadable record", f"set aside as {path}.bad")
            assert os.path.lexists(f"{path}.bad"), name
        if name == "symlink":
            assert (path.parent / "elsewhere.target").exists()
            (path.parent / "elsewhere.target").unlink()
        assert not os.path.exists("/tmp/policyroute-pwned")
        back_to(lab, pr, before, f"{name} then {then}")


# ---------------------------------------------------------------- ip fails at line K

# Runs the real ip, but in the K-th write line of the run (counted over
# every non-force batch, through FAULT_COUNTER) answers as iproute2 does
# when the kernel refuses that line: the lines before it applied.
FAILING_IP = """#!{python}
import os, subprocess, sys
real, args = {real!r}, sys.argv[1:]
if "-batch" not in args or "-force" in args or "-json" in args:
    os.execv(real, [real] + args)
lines = sys.stdin.read().splitlines(True)
counter = os.environ["FAULT_COUNTER"]
done = int(open(counter).read()) if os.path.exists(counter) else 0
with open(counter, "w") as f:
    f.write(str(done + len(lines)))
i = int(os.environ["FAULT_LINE"]) - done - 1
if not 0 <= i < len(lines):
    sys.exit(subprocess.run([real] + args, input="".join(lines), text=True).returncode)
if i and subprocess.run([real] + args, input="".join(lines[:i]), text=True).returncode:
    sys.exit(1)
sys.stderr.write("RTNETLINK answers: Operation not permitted\\nCommand failed -:%d\\n" % (i + 1))
sys.exit(1)
"""


def written(proc, box):
    """The write lines a verbose start traced, as the error names them."""
    prefix = f"ip -n {box} "
    return [line[len(prefix):] for line in proc.stdout.splitlines()
            if line.startswith(prefix) and " add " in line]


def test_ip_fails_at_each_line(lab, pr, tmp_path):
    ip = tmp_path / "failing-ip"
    ip.write_text(FAILING_IP.format(python=sys.executable, real=topology.IP))
    ip.chmod(0o755)
    before = lab.snapshot()
    lines = written(started(start(lab, pr, **QUIET)), lab.box.name)
    started(stop(lab, pr))
    back_to(lab, pr, before, "a clean start and stop")
    assert len(lines) >= 8, lines
    for k, line in enumerate(lines, 1):
        counter = tmp_path / f"count.{k}"
        proc = start(lab, pr, POLICYROUTE_IP=str(ip), FAULT_LINE=str(k),
                     FAULT_COUNTER=str(counter), **QUIET)
        assert proc.returncode == 3, (k, proc.stderr)
        assert proc.stderr == (f"policyroute: error: ip {line}: RTNETLINK answers: "
                               "Operation not permitted\n"), k
        lab.drop_table_routes(IFACE)        # netifrc's stop after a failed start
        back_to(lab, pr, before, f"ip fails at line {k}: {line}")


# ---------------------------------------------------------------- down --force

def down(lab, pr, *argv):
    return topology.run([*pr.command, "down", *argv, "--netns", lab.box.name,
                         "--config", str(pr.root / "absent")], check=False, env=pr.env())


def test_down_force_without_record(lab, pr):
    before = lab.snapshot()
    started(start(lab, pr))
    lose_state_dir(lab, pr)
    started(down(lab, pr, "--force", IFACE))
    lab.drop_table_routes(IFACE)
    back_to(lab, pr, before, "down --force IFACE without a record")


STRAYS = ["rule add fwmark 9 lookup 2000 priority 5000 protocol 201",
          "route add 203.0.113.0/24 dev eth0.11 table 2000 proto 201",
          "route add 198.51.100.77 via 192.0.2.2 dev eth0.10 proto 201"]


def test_down_force_all(lab, pr):
    before = lab.snapshot()
    started(lab.start(pr, "eth0.10", "e0v10"))
    started(start(lab, pr))
    lab.box.batch(STRAYS)
    record(lab, pr).write_text("{broken")
    (pr.state_dir / "netns" / lab.box.name / "eth0.10.json").unlink()
    proc = started(down(lab, pr, "--force", "--all"))
    # The follower may meet the broken record first (the strays are
    # events) and set it aside itself; else down does, and says so.
    aside = record(lab, pr).with_name(record(lab, pr).name + ".bad")
    assert aside.exists() or "unreadable record" in proc.stderr, proc.stderr
    for iface in ("eth0.10", IFACE):
        lab.drop_table_routes(iface)
    back_to(lab, pr, before, "down --force --all")


def test_down_all_from_records(lab, pr):
    before = lab.snapshot()
    started(lab.start(pr, "eth0.10", "e0v10"))
    started(start(lab, pr))
    proc = started(down(lab, pr, "--all"))
    assert proc.stderr == ""
    for iface in ("eth0.10", IFACE):
        lab.drop_table_routes(iface)
    back_to(lab, pr, before, "down --all")
