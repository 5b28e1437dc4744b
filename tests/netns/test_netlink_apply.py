"""The netlink apply path (netlink.py through kernel.Runner.batch and
engine.apply) in a namespace of its own: a few hundred rules added and
deleted exactly, in both families, and a refusal in the middle of a
chunk rolled back with the refused rule named in iproute2's words.

Each case runs engine.apply in a child process under both interpreters
the helper meets: this venv's Python (pyroute2 0.9), and /usr/bin/python3
(the installed helper's, with Debian's pyroute2 0.7). The child lowers
netlink.THRESHOLD so a few hundred rules go by netlink; with the real
threshold a small call, and any call without pyroute2, goes through
ip -batch. The kernel is read with `ip -N -json` and compared by
observe.rule_key.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from policyroute import observe

REPO = Path(__file__).resolve().parents[2]
INTERPRETERS = [sys.executable] + (["/usr/bin/python3"] if os.path.exists("/usr/bin/python3")
                                   else [])

# Runs engine.apply on the ops in argv[2] inside namespace argv[1], with
# netlink.THRESHOLD argv[3] ("" keeps it); prints the error (or null) and
# whether pyroute2 was loaded (netlink.library: its netlink layer alone,
# which it takes out of sys.modules again).
DRIVER = """
import json, sys
from policyroute import engine, netlink, plan
from policyroute.errors import KernelError
from policyroute.kernel import Runner, in_netns
ns, spec = sys.argv[1], json.loads(sys.argv[2])
if sys.argv[3]:
    netlink.THRESHOLD = int(sys.argv[3])
ops = [plan.Op(verb, plan.Obj("rule", family, tuple(args.split())))
       for verb, family, args in spec]
with in_netns(ns):
    try:
        engine.apply(Runner(), ops)
        error = None
    except KernelError as e:
        error = str(e)
print(json.dumps({"error": error, "pyroute2": bool(netlink._library and netlink._library[0])}))
"""
NO_PYROUTE2 = "raise ImportError('hidden by the test')\n"

ABSENT = {4: "192.0.2.99", 6: "2001:db8:9::99"}      # in no rule


def address(family, i):
    """The i-th test address (i < 508 for IPv4)."""
    if family == 6:
        return f"2001:db8:7::{i + 1:x}"
    return f"198.51.100.{i + 1}" if i < 254 else f"203.0.113.{i - 253}"


def auto_rules(family, count, table=1025):
    """Rule lines shaped as plan.auto_rules makes them, for count addresses."""
    host = 32 if family == 4 else 128
    out = []
    for i in range(count):
        src = f"from {address(family, i)}/{host}"
        out += [f"{src} priority 20001 lookup {table} suppress_prefixlength 0 protocol 201",
                f"{src} priority 21001 lookup main suppress_prefixlength 0 protocol 201",
                f"{src} priority 22001 lookup {table} protocol 201"]
    return out


def key(family, args):
    from policyroute import plan
    return plan.key_of_args("rule", family, tuple(args.split()))


@pytest.fixture
def netns():
    name = f"prt-nl-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        assert not os.path.exists(f"/run/netns/{name}")


def rules(ns, family):
    """Every rule's key, as a sorted list (duplicates stay visible)."""
    out = subprocess.run(["ip", "-n", ns, f"-{family}", "-N", "-json", "rule", "show"],
                         check=True, capture_output=True, text=True).stdout
    return sorted((observe.rule_key(j, family) for j in json.loads(out)), key=sorted)


def state(ns):
    return {family: rules(ns, family) for family in (4, 6)}


def run(interpreter, ns, spec, threshold="1", path=()):
    """The driver's answer; threshold 1: every translatable line by netlink."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, path), str(REPO / "python")]))
    # -S: no site, as the installed helper runs (netlink.library() adds it)
    proc = subprocess.run([interpreter, "-S", "-c", DRIVER, ns, json.dumps(spec), threshold],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def apply(interpreter, ns, spec):
    """The error or None; adds went by netlink (pyroute2), deletions only
    ever through ip -batch."""
    answer = run(interpreter, ns, spec)
    assert answer["pyroute2"] == any(verb == "add" for verb, _family, _line in spec)
    return answer["error"]


def ip_batch(ns, family, lines):
    subprocess.run(["ip", "-n", ns, f"-{family}", "-batch", "-"], check=True, text=True,
                   input="".join(f"rule {line}\n" for line in lines), capture_output=True)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("family", [4, 6])
def test_adds_and_deletes_exactly(netns, interpreter, family):
    before = state(netns)
    lines = auto_rules(family, 150)                 # 450 rules: two chunks and a bit
    assert apply(interpreter, netns, [("add", family, line) for line in lines]) is None
    after = state(netns)
    assert after[family] == sorted(before[family] + [key(family, a) for a in lines], key=sorted)
    assert after[10 - family] == before[10 - family]
    assert apply(interpreter, netns, [("del", family, line) for line in lines]) is None
    assert state(netns) == before


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("family", [4, 6])
def test_refusal_in_a_later_chunk_is_rolled_back(netns, interpreter, family):
    """400 deletions (ip -batch), then one of a rule that is not there
    (the kernel's ENOENT, in iproute2's words), then 300 adds never sent:
    the deletions are undone by netlink adds."""
    present = [line.replace("20001", "100") for line in auto_rules(family, 400)[::3]]
    ip_batch(netns, family, [f"add {line}" for line in present])
    before = state(netns)
    absent = f"from {ABSENT[family]} priority 200 lookup 1025 protocol 201"
    spec = [("del", family, line) for line in present] + [("del", family, absent)]
    spec += [("add", family, line) for line in auto_rules(family, 100)]
    error = apply(interpreter, netns, spec)
    assert error is not None
    assert error.startswith(f"ip -{family} rule del {absent}: ")
    assert "No such file or directory" in error or "Error:" in error
    assert state(netns) == before


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_ipv6_refused_after_ipv4_applied_undoes_both(netns, interpreter):
    before = state(netns)
    absent = f"from {ABSENT[6]} priority 200 lookup 1025 protocol 201"
    spec = [("add", 4, line) for line in auto_rules(4, 100)]
    spec += [("add", 6, line) for line in auto_rules(6, 10)] + [("del", 6, absent)]
    error = apply(interpreter, netns, spec)
    assert error is not None and error.startswith(f"ip -6 rule del {absent}: ")
    assert state(netns) == before


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_lines_netlink_does_not_translate_go_through_ip(netns, interpreter):
    """A line with words netlink.py does not know (iif, fwmark) goes to
    iproute2 in its place in the order; the kernel ends with all of them."""
    before = state(netns)
    lines = auto_rules(4, 2)
    mixed = lines[:3] + ["iif lo fwmark 0x10/0xff priority 300 lookup 1025 protocol 201"] \
        + lines[3:]
    assert apply(interpreter, netns, [("add", 4, line) for line in mixed]) is None
    assert state(netns)[4] == sorted(before[4] + [key(4, a) for a in mixed], key=sorted)
    assert apply(interpreter, netns, [("del", 4, line) for line in mixed]) is None
    assert state(netns) == before


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_a_small_start_goes_through_ip_without_pyroute2(netns, interpreter):
    """Four addresses' rules with the real threshold: exact, and pyroute2
    never imported (its import would cost the start ~140 ms)."""
    before = state(netns)
    lines = auto_rules(4, 4)
    answer = run(interpreter, netns, [("add", 4, line) for line in lines], threshold="")
    assert answer == {"error": None, "pyroute2": False}
    assert state(netns)[4] == sorted(before[4] + [key(4, a) for a in lines], key=sorted)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_without_pyroute2_every_line_goes_through_ip(netns, interpreter, tmp_path):
    """pyroute2 not importable: the same rules through ip -batch, exactly,
    and a refusal still named in iproute2's words and rolled back."""
    (tmp_path / "pyroute2").mkdir()
    (tmp_path / "pyroute2" / "__init__.py").write_text(NO_PYROUTE2)
    before = state(netns)
    lines = auto_rules(4, 150)
    answer = run(interpreter, netns, [("add", 4, line) for line in lines], path=[tmp_path])
    assert answer == {"error": None, "pyroute2": False}
    assert state(netns)[4] == sorted(before[4] + [key(4, a) for a in lines], key=sorted)
    absent = f"from {ABSENT[4]} priority 200 lookup 1025 protocol 201"
    spec = [("del", 4, line) for line in lines] + [("del", 4, absent)]
    error = run(interpreter, netns, spec, path=[tmp_path])["error"]
    assert error.startswith(f"ip -4 rule del {absent}: ") and "No such file" in error
    assert state(netns)[4] == sorted(before[4] + [key(4, a) for a in lines], key=sorted)
