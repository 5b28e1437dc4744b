"""Rollback (brief 6): when the kernel refuses a line mid-batch (an ip that
answers `fwmark 0xbad` as iproute2 does a kernel refusal: parse now
refuses, before any address, every line the kernel would), post-start
exits 3 with
iproute2's words, and the namespace's rules, routes and sysctls are exactly
as before the call; a failed restart keeps the previous start's state.
"""

import sys

import pytest

import topology
from netns_checks import REFUSED, refusing_ip, started

pytestmark = pytest.mark.usefixtures("clean")

BAD = f"{REFUSED} priority 900"
REFUSING = {}


@pytest.fixture(autouse=True, scope="module")
def refusing(tmp_path_factory):
    REFUSING.update(refusing_ip(tmp_path_factory.mktemp("ip"), topology.IP))
GOOD = "from 192.0.2.17 to 198.51.100.1 lookup e0v10 priority 900"


def prepare(lab, pr, iface="eth1.10", table="e1v10", **values):
    """What netifrc does before post-start: pre-start, then routes_."""
    started(pr.run("pre-start", iface, table=table, **values))
    lab.add_table_routes(iface, pr.table_number(table))


def post_start(lab, pr, iface="eth1.10", table="e1v10", extra_env=None, **values):
    return pr.run("post-start", iface, netns=lab.box.name, table=table, verbose=True,
                  extra_env={**REFUSING, **(extra_env or {})}, **values)


def assert_refused(proc):
    assert proc.returncode == 3, proc
    assert "Error: Invalid fwmark." in proc.stderr, proc.stderr
    assert proc.stderr.startswith("policyroute: error: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("values", [{"rules": BAD}, {"rules6": BAD},
                                    {"rules": GOOD, "rules6": BAD}],
                         ids=["ipv4", "ipv6-after-ipv4-applied", "good-then-bad"])
def test_refusal_on_first_start_leaves_everything_as_before(lab, pr, values):
    started(lab.start(pr, "eth0.10", "e0v10"))
    prepare(lab, pr, **values)
    before = lab.snapshot()
    proc = post_start(lab, pr, **values)
    assert_refused(proc)
    # Something was really applied (and then undone) before the refusal.
    assert f"ip -n {lab.box.name} -4 route add 192.0.2.0/24 dev eth1.10" in proc.stdout
    assert lab.snapshot() == before


# The intent record saved before apply() must go when apply() is refused:
# a refused first start leaves nothing for stop to find.
def test_refusal_on_first_start_leaves_no_record(lab, pr):
    prepare(lab, pr, rules=BAD)
    assert_refused(post_start(lab, pr, rules=BAD))
    assert not pr.record_path("eth1.10", lab.box.name).exists()


def test_refused_restart_keeps_the_previous_start(lab, pr):
    started(lab.start(pr, "eth0.10", "e0v10"))
    started(lab.start(pr, "eth1.10", "e1v10", rules=GOOD))
    running = lab.snapshot()
    assert_refused(post_start(lab, pr, rules=f"{GOOD}\n{BAD}"))
    assert lab.snapshot() == running
    assert lab.who_answers("192.0.2.17", "198.51.100.1", 3) == {"gwA"}   # GOOD still routes
    # A changed line that is refused: the old line comes back.
    assert_refused(post_start(lab, pr, rules=f"{GOOD.replace('900', '901')}\n{BAD}"))
    assert lab.snapshot() == running



# An `ip` that behaves like an older iproute2 which does not know one
# keyword: in -batch it runs the lines before it, then stops at once the way
# iproute2's invarg() does: 'Error: argument ... is wrong', exit 255, and no
# "Command failed -:N" line (checked against iproute2 6.1's own behaviour).
OLD_IP = """#!{python}
import subprocess, sys
args = sys.argv[1:]
if "-batch" not in args:
    sys.exit(subprocess.call(["{ip}", *args]))
opts = [a for a in args if a not in ("-batch", "-")]
force = "-force" in opts
for line in sys.stdin.read().splitlines():
    if " {keyword} " in f" {{line}} ":
        print('Error: argument "{keyword}" is wrong: unknown selector', file=sys.stderr)
        sys.exit(255)
    rc = subprocess.call(["{ip}", *[o for o in opts if o != "-force"], *line.split()])
    if rc and not force:
        sys.exit(rc)
"""


@pytest.fixture
def old_ip(tmp_path):
    """POLICYROUTE_IP for an iproute2 that rejects `dport` as an argument."""
    path = tmp_path / "ip"
    path.write_text(OLD_IP.format(python=sys.executable, ip=topology.IP, keyword="dport"))
    path.chmod(0o755)
    return {"POLICYROUTE_IP": str(path)}


# When iproute2 rejects an *argument* it exits at once without its "Command
# failed -:N" line, so which lines ran is unknown: Runner.batch counts every
# line as applied, and the -force undo batch falls back to one line at a
# time when an argument error cuts it short too.
def test_argument_error_mid_batch_is_rolled_back(lab, pr, old_ip):
    prepare(lab, pr)
    number = pr.table_number("e1v10")
    before = lab.snapshot()
    try:
        proc = pr.run("post-start", "eth1.10", netns=lab.box.name, table="e1v10", verbose=True,
                      rules="ipproto tcp dport 80 priority 122", extra_env=old_ip)
        assert proc.returncode == 3, proc
        assert 'argument "dport" is wrong' in proc.stderr
        assert f"ip -n {lab.box.name} -4 route add 192.0.2.0/24" in proc.stdout  # applied first
        assert lab.snapshot() == before
    finally:       # so the rest of the module starts clean whatever the helper did
        for fam in ("-4", "-6"):
            lab.box.ip(fam, "route", "flush", "table", str(number), "proto", "201", check=False)
