"""Assertion helpers shared by the namespace tier's test modules."""

import json
import os
import secrets
import subprocess
import time
from contextlib import contextmanager

BOX_VLAN10 = ("eth0.10", "eth1.10")


def sh(*argv, check=True):
    """Run a command (never through a shell); its words when it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv}: rc={proc.returncode} {proc.stderr}")
    return proc


@contextmanager
def veth_netns(prefix, links):
    """A namespace of its own (PREFIX-<random>) holding a veth pair, both
    ends up, for each (link, peer) of ``links``; its name. Deleted after,
    and checked gone."""
    ns = f"{prefix}-{secrets.token_hex(4)}"
    sh("ip", "netns", "add", ns)
    try:
        for link, peer in links:
            sh("ip", "-n", ns, "link", "add", link, "type", "veth", "peer", "name", peer)
            for end in (link, peer):
                sh("ip", "-n", ns, "link", "set", end, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        assert not os.path.exists(f"/run/netns/{ns}")


def records(pr):
    return sorted(p.name for p in pr.state_dir.rglob("*.json"))


def reset(lab, pr):
    """Stop every interface the helper has a record of; drop routes_."""
    problems = []
    folder = pr.state_dir / "netns" / lab.box.name
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        proc = lab.stop(pr, record.stem)
        if proc.returncode != 0:
            problems.append(f"stop {record.stem}: rc={proc.returncode} {proc.stderr.strip()}")
    for iface in list(lab.netifrc_routes):
        lab.drop_table_routes(iface)
    return problems



def started(proc):
    """Assert a helper run succeeded, showing its words if not."""
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc


def start_vlan10(lab, pr, **values):
    """Start eth0.10 (table e0v10) and eth1.10 (table e1v10), as netifrc would."""
    started(lab.start(pr, "eth0.10", "e0v10"))
    started(lab.start(pr, "eth1.10", "e1v10", **values))
    return pr.table_number("e0v10"), pr.table_number("e1v10")


def rules(lab, family=4):
    return lab.box.ip_json(f"-{family}", "rule", "show")


def our_rules(lab, family=4):
    return [r for r in rules(lab, family) if r.get("protocol") == "201"]


def sent(lab, src, dst, count=20):
    """Probe count times; (answering servers, per-link tx deltas on the box)."""
    answers = []
    delta = lab.tx_delta(lambda: answers.extend(lab.probe(src, dst, count)))
    return answers, delta


def assert_left_by(delta, link, count, others=BOX_VLAN10):
    """At least count packets left by link and (almost) none by the others;
    a few ARP/ND packets are background."""
    assert delta[link] >= count, delta
    for other in others:
        if other != link:
            assert delta[other] <= 3, delta


# ---------------------------------------------------------------- runtime

def wait_for(what, timeout=10.0, step=0.02):
    """Poll the kernel until what() is true; its last value."""
    end = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


def lookups(lab, address):
    """Tables our rules send traffic from address to (proto 201 only)."""
    family = "-6" if ":" in address else "-4"
    return sorted({r["table"] for r in lab.box.ip_json("-N", family, "rule", "show")
                   if r.get("src") == address and str(r.get("protocol")) == "201"
                   and r["table"] != "254"})


def recorded(pr, lab, iface, word):
    """Objects of iface's record with word among their arguments."""
    record = json.loads(pr.record_path(iface, lab.box.name).read_text())
    return [o for o in record["objects"] if word in o["args"]]


def holder(lab, address):
    """The box link that has address, or None."""
    for link in lab.box.ip_json("-N", "addr", "show"):
        if any(a.get("local") == address for a in link.get("addr_info", [])):
            return link["ifname"]
    return None


# Since pre-start refuses every rules_ line the kernel would (issue 10),
# no line is left that parse takes and the kernel refuses: an ip that
# answers a batch line carrying REFUSED as iproute2 does when the kernel
# refuses it stands in. The lines before it do run, for real.
REFUSED = "fwmark 0xbad"
REFUSING_IP = """#!{python}
import os, subprocess, sys
real, args = {real!r}, sys.argv[1:]
if "-batch" not in args or "-force" in args or "-json" in args:
    os.execv(real, [real] + args)
lines = sys.stdin.read().splitlines(True)
bad = [i for i, line in enumerate(lines) if {refused!r} in line and " add " in line]
if not bad:
    sys.exit(subprocess.run([real] + args, input="".join(lines), text=True).returncode)
i = bad[0]
if i and subprocess.run([real] + args, input="".join(lines[:i]), text=True).returncode:
    sys.exit(1)
sys.stderr.write("Error: Invalid fwmark.\\nCommand failed -:%d\\n" % (i + 1))
sys.exit(1)
"""


def refusing_ip(folder, real=None):
    """POLICYROUTE_IP (as an env mapping) for an ip that refuses REFUSED."""
    import shutil
    import sys
    real = real or shutil.which("ip")
    path = folder / "refusing-ip"
    path.write_text(REFUSING_IP.format(python=sys.executable, real=str(real), refused=REFUSED))
    path.chmod(0o755)
    return {"POLICYROUTE_IP": str(path)}
