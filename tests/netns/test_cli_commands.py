"""The by-hand subcommands (plan, up, show, sync, down) and every exit code,
driven as a user would: `policyroute ... --config F` against a real kernel,
inside a network namespace made (and always deleted) by each test.

The box namespace holds veth eth1.10 (peer in a second namespace, both up)
with 192.0.2.17/24 and 2001:db8:10::17/64 (nodad) and a default route via
192.0.2.1. The config sets netns_eth1_10, so the helper enters the box
itself; its state and rt_tables.d live in tmp_path.
"""

import itertools
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from netns_checks import REFUSED, refusing_ip, sh
from policyroute import __version__
from policyroute.commands import COMMANDS

IFACE = "eth1.10"
_seq = itertools.count()

OURS_17 = [
    "-4 from 192.0.2.17/32 priority 20000 lookup 1024 suppress_prefixlength 0 protocol 201",
    "-4 priority 21000 lookup main suppress_prefixlength 0 protocol 201",
    "-4 from 192.0.2.17/32 priority 22000 lookup 1024 protocol 201",
    "-6 from 2001:db8:10::17/128 priority 20000 lookup 1024 suppress_prefixlength 0 protocol 201",
    "-6 priority 21000 lookup main suppress_prefixlength 0 protocol 201",
    "-6 from 2001:db8:10::17/128 priority 22000 lookup 1024 protocol 201",
]
ROUTES = [
    "-4 192.0.2.0/24 dev eth1.10 src 192.0.2.17 scope link table 1024 proto 201",
    "-6 2001:db8:10::/64 dev eth1.10 table 1024 proto 201",
    "-4 default via 192.0.2.1 dev eth1.10 table 1024 proto 201",
]
ALIAS_18 = [
    "-4 from 192.0.2.18/32 priority 20000 lookup 1024 suppress_prefixlength 0 protocol 201",
    "-4 from 192.0.2.18/32 priority 22000 lookup 1024 protocol 201",
]
PLAN = """\
# would register table e1v10 as 1024
ip -4 route add 192.0.2.0/24 dev eth1.10 src 192.0.2.17 scope link table 1024 proto 201
ip -6 route add 2001:db8:10::/64 dev eth1.10 table 1024 proto 201
ip -4 route add default via 192.0.2.1 dev eth1.10 table 1024 proto 201
ip -4 rule add from 192.0.2.17/32 priority 20000 lookup 1024 suppress_prefixlength 0 protocol 201
ip -4 rule add priority 21000 lookup main suppress_prefixlength 0 protocol 201
ip -4 rule add from 192.0.2.17/32 priority 22000 lookup 1024 protocol 201
ip -6 rule add from 2001:db8:10::17/128 priority 20000 lookup 1024 suppress_prefixlength 0 protocol 201
ip -6 rule add priority 21000 lookup main suppress_prefixlength 0 protocol 201
ip -6 rule add from 2001:db8:10::17/128 priority 22000 lookup 1024 protocol 201
"""
ANSI = re.compile(r"\x1b\[")


class Box:
    def __init__(self, tmp_path):
        n = next(_seq)
        self.ns, self.peer = f"prcc{os.getpid()}n{n}b", f"prcc{os.getpid()}n{n}p"
        self.state, self.ip2 = tmp_path / "state", tmp_path / "iproute2"
        self.conf = tmp_path / "net"
        self.follow = "yes"       # the follower, unless a test wants drift to stay
        self.write_conf()

    def write_conf(self, **extra):
        text = (f'config_eth1_10="192.0.2.17/24 2001:db8:10::17/64"\n'
                f'table_eth1_10="{extra.pop("table", "e1v10")}"\n'
                f'netns_eth1_10="{self.ns}"\n')
        for name, value in extra.items():
            text += f"{name}_eth1_10='{value}'\n"      # single quotes: never run
        self.conf.write_text(text)

    def build(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "add", self.peer)
        sh("ip", "link", "add", IFACE, "netns", self.ns, "type", "veth",
           "peer", "name", "p10", "netns", self.peer)
        for ns, link in ((self.ns, IFACE), (self.peer, "p10")):
            sh("ip", "-n", ns, "link", "set", link, "addrgenmode", "none")   # no fe80 churn
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", link, "up")
        self.ip("addr", "add", "192.0.2.17/24", "dev", IFACE)
        self.ip("addr", "add", "2001:db8:10::17/64", "dev", IFACE, "nodad")
        self.ip("route", "add", "default", "via", "192.0.2.1")

    def destroy(self):
        for ns in (self.ns, self.peer):
            sh("ip", "netns", "del", ns, check=False)

    def ip(self, *args, check=True):
        return sh("ip", "-n", self.ns, *args, check=check)

    def ip_json(self, *args):
        return json.loads(self.ip("-N", "-json", *args).stdout or "[]")

    def our_rules(self, family):
        return [r for r in self.ip_json(f"-{family}", "rule", "show")
                if str(r.get("protocol")) == "201"]

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("POLICYROUTE_", "NO_COLOR", "FORCE_COLOR"))}
        env.update(POLICYROUTE_STATE_DIR=str(self.state), POLICYROUTE_IPROUTE2_DIR=str(self.ip2),
                   POLICYROUTE_IPROUTE2_DATA_DIRS="", POLICYROUTE_FOLLOW=self.follow, **extra)
        return env

    def pr(self, *argv, strict=True, **env):
        """Run the helper; never a traceback, whatever the outcome."""
        proc = subprocess.run([sys.executable, "-m", "policyroute", *argv], capture_output=True,
                              text=True, env=self.env(**env), timeout=60)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        for line in proc.stderr.splitlines() if strict else ():
            assert line.startswith(("policyroute: error: ", "policyroute: warning: ")), \
                proc.stderr
        return proc

    def files(self, root):
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
                if p.is_file()} if root.exists() else None

    def records(self):
        return sorted(str(p.relative_to(self.state)) for p in self.state.rglob("*.json")
                      if p.is_file()) if self.state.exists() else []

    def record_path(self):
        return self.state / "netns" / self.ns / f"{IFACE}.json"

    def sysctls(self):
        keys = [f"/proc/sys/net/ipv4/conf/{IFACE}/{k}" for k in
                ("arp_ignore", "arp_announce", "rp_filter")]
        return sh("ip", "netns", "exec", self.ns, "cat", *keys).stdout.split()

    def snapshot(self):
        """The kernel state of the box that policyroute may touch."""
        out = {"sysctls": self.sysctls()}
        for family in ("-4", "-6"):
            out[f"rules{family}"] = self.ip("-N", family, "rule", "show").stdout
            out[f"routes{family}"] = self.ip("-N", family, "route", "show", "table", "all").stdout
        return out


@pytest.fixture
def box(tmp_path):
    b = Box(tmp_path)
    try:
        b.build()
        yield b
    finally:
        b.destroy()
        left = sh("ip", "netns", "list").stdout
        assert b.ns not in left and b.peer not in left, "namespaces left behind"


def up(box):
    proc = box.pr("up", IFACE, "--config", str(box.conf))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc.stderr
    return proc


def show_json(box, *extra):
    proc = box.pr("show", *extra, "--json", "--config", str(box.conf))
    return proc.returncode, json.loads(proc.stdout)


# ---------------------------------------------------------------- plan

def test_plan_prints_the_commands_and_changes_nothing(box):
    before = box.snapshot()
    proc = box.pr("plan", IFACE, "--config", str(box.conf))
    assert (proc.returncode, proc.stderr) == (0, "")
    plan = PLAN.replace("\nip -", f"\nip -n {box.ns} -")    # commands name the namespace
    assert proc.stdout == plan
    assert box.snapshot() == before
    assert not box.ip2.exists(), "plan registered a table"
    assert not box.state.exists(), "plan wrote a record"
    # What plan says is what up does.
    verbose = box.pr("-v", "up", IFACE, "--config", str(box.conf))
    assert verbose.returncode == 0
    ran = [line for line in verbose.stdout.splitlines() if line.startswith("ip ")]
    assert sorted(ran) == sorted(plan.splitlines()[1:])
    again = box.pr("plan", IFACE, "--config", str(box.conf))
    assert (again.returncode, again.stdout) == (0, f"# {IFACE}: nothing to do\n")


# ---------------------------------------------------------------- up + show

def test_up_then_show_human_json_yaml(box):
    before = box.snapshot()
    up(box)
    assert len(box.our_rules(4)) == 3 and len(box.our_rules(6)) == 3
    assert (box.ip2 / "rt_tables.d" / "policyroute.conf").read_text().splitlines()[1:] == \
        ["1024\te1v10"]
    assert box.records() == [f"netns/{box.ns}/{IFACE}.json"]
    assert box.sysctls()[:2] == ["1", "2"]

    human = box.pr("show", "--config", str(box.conf))
    assert (human.returncode, human.stderr) == (0, "")
    lines = human.stdout.splitlines()
    assert lines[0] == f"{IFACE} in netns {box.ns}: table e1v10 (1024), in sync"
    assert max(len(line) for line in lines) <= 80, human.stdout
    assert "  addresses  192.0.2.17/24 2001:db8:10::17/64" in lines
    assert not any(line.lstrip().startswith(("missing", "extra")) for line in lines)
    assert f"  sysctls    net/ipv4/conf/{IFACE}/arp_ignore: {before['sysctls'][0]} -> 1" in lines

    proc = box.pr("show", "--json", "--config", str(box.conf))
    assert (proc.returncode, proc.stderr) == (0, "")
    data = json.loads(proc.stdout)          # stdout holds nothing but the JSON
    assert isinstance(data, list) and len(data) == 1
    (item,) = data
    assert set(item) == {"iface", "netns", "table", "addresses", "rules", "routes",
                         "sysctls", "drift", "moved", "follower"}
    assert item["moved"] == [] and item["follower"] > 1
    assert (item["iface"], item["netns"]) == (IFACE, box.ns)
    assert item["table"] == {"id": 1024, "name": "e1v10"}
    assert item["addresses"] == ["192.0.2.17/24", "2001:db8:10::17/64"]
    assert sorted(item["rules"]) == sorted(OURS_17)
    assert sorted(item["routes"]) == sorted(ROUTES)
    assert item["drift"] == {"missing": [], "extra": []}
    assert all(set(s) == {"key", "before", "set", "now"} for s in item["sysctls"])
    by_key = {s["key"]: s for s in item["sysctls"]}
    assert by_key[f"net/ipv4/conf/{IFACE}/arp_ignore"] == {
        "key": f"net/ipv4/conf/{IFACE}/arp_ignore", "before": before["sysctls"][0],
        "set": "1", "now": "1"}
    assert by_key[f"net/ipv4/conf/{IFACE}/arp_announce"]["now"] == "2"

    proc = box.pr("show", IFACE, "--yaml", "--config", str(box.conf))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert yaml.safe_load(proc.stdout) == data

    # only one format at a time
    assert box.pr("show", "--json", "--yaml", "--config", str(box.conf)).returncode == 2


def test_show_without_records_says_so(box):
    proc = box.pr("show", "--config", str(box.conf))
    assert (proc.returncode, proc.stdout) == (0, "no interface is managed by policyroute\n")
    assert box.pr("show", "--json", "--config", str(box.conf)).stdout.strip() == "[]"


# ---------------------------------------------------------------- drift and sync

def test_alias_added_and_removed_by_hand_is_drift_sync_fixes_it(box):
    # Without the follower (which would add the alias's rules itself, see
    # test_follow.py), an alias added by hand is drift until sync.
    box.follow = "no"
    up(box)
    box.ip("addr", "add", "192.0.2.18/24", "dev", IFACE)

    human = box.pr("show", "--config", str(box.conf))
    assert human.returncode == 5
    assert human.stdout.splitlines()[0].endswith(", DRIFT")
    assert max(len(line) for line in human.stdout.splitlines()) <= 80
    assert "  missing    -4 from 192.0.2.18/32 priority 20000" in human.stdout
    code, (item,) = show_json(box)
    assert code == 5
    assert item["drift"] == {"missing": ALIAS_18, "extra": []}

    proc = box.pr("sync", IFACE, "--config", str(box.conf))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{IFACE}: 2 changes\n", "")
    assert len(box.our_rules(4)) == 5
    settled = box.snapshot()

    proc = box.pr("-v", "sync", IFACE, "--config", str(box.conf))
    assert (proc.returncode, proc.stdout) == (0, f"{IFACE}: in sync\n")
    assert not [line for line in proc.stdout.splitlines() if line.startswith("ip ")]
    assert box.snapshot() == settled
    code, (item,) = show_json(box)
    assert code == 0 and item["drift"] == {"missing": [], "extra": []}
    assert sorted(item["rules"]) == sorted(OURS_17 + ALIAS_18)

    # The alias goes away again, and someone adds a rule and a route of their own
    # at our priority, in our table, without proto 201.
    box.ip("addr", "del", "192.0.2.18/24", "dev", IFACE)
    box.ip("rule", "add", "from", "192.0.2.99", "lookup", "1024", "priority", "22000")
    box.ip("route", "add", "198.51.100.0/24", "via", "192.0.2.1", "table", "1024")
    code, (item,) = show_json(box)
    assert code == 5
    assert item["drift"] == {"missing": [], "extra": ALIAS_18}
    human = box.pr("show", "--config", str(box.conf))
    assert human.returncode == 5 and "  extra      -4 from 192.0.2.18/32" in human.stdout

    proc = box.pr("-v", "sync", IFACE, "--config", str(box.conf))
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[-1] == f"{IFACE}: 2 changes"
    ran = [line for line in proc.stdout.splitlines() if line.startswith("ip ")]
    assert sorted(ran) == sorted(f"ip -n {box.ns} {r[:2]} rule del {r[3:]}" for r in ALIAS_18)
    rules4 = box.ip("-N", "-4", "rule", "show").stdout
    assert "from 192.0.2.99 lookup 1024" in rules4
    assert "192.0.2.18" not in rules4
    assert "198.51.100.0/24 via 192.0.2.1" in box.ip("-N", "route", "show", "table", "1024").stdout
    assert len(box.our_rules(4)) == 3
    assert box.pr("show", "--config", str(box.conf)).returncode == 0


def test_sync_all_and_its_usage(box):
    box.follow = "no"       # the drift is sync's to mend, not the follower's
    up(box)
    box.ip("addr", "add", "192.0.2.18/24", "dev", IFACE)
    proc = box.pr("sync", "--all", "--config", str(box.conf))
    assert (proc.returncode, proc.stdout) == (0, f"{IFACE}: 2 changes\n")
    proc = box.pr("sync", "--all", "--config", str(box.conf))
    assert (proc.returncode, proc.stdout) == (0, f"{IFACE}: in sync\n")
    settled = box.snapshot()
    for argv in ((), (IFACE, "--all")):
        proc = box.pr("sync", *argv, "--config", str(box.conf))
        assert (proc.returncode, proc.stdout) == (2, "")
        assert proc.stderr == "policyroute: error: sync: give one IFACE or --all\n"
    assert box.snapshot() == settled


# ---------------------------------------------------------------- down

def test_down_removes_everything_after_the_config_was_edited(box):
    before = box.snapshot()
    up(box)
    assert box.snapshot() != before
    box.write_conf(table="other", rules="to 198.51.100.0/24", policyroute_guard="no")
    proc = box.pr("-v", "down", IFACE, "--config", str(box.conf))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert len([line for line in proc.stdout.splitlines() if line.startswith("ip ")]) == 9
    assert box.snapshot() == before
    assert box.records() == []
    # registrations stay; the edited name was never registered
    assert "other" not in (box.ip2 / "rt_tables.d" / "policyroute.conf").read_text()
    again = box.pr("down", IFACE, "--config", str(box.conf))
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


# ---------------------------------------------------------------- exit codes

def test_exit_1_bad_config_changes_nothing(box):
    before = box.snapshot()
    box.write_conf(rules="frmo 192.0.2.17\nto 198.51.100.0/24 priority 21000")
    for cmd in ("up", "plan", "sync"):
        proc = box.pr(cmd, IFACE, "--config", str(box.conf))
        assert (proc.returncode, proc.stdout) == (1, ""), cmd
        assert proc.stderr.splitlines() == [
            "policyroute: error: rules_eth1_10 line 1: 'frmo' is not an ip rule selector or action",
            "policyroute: error: rules_eth1_10 line 2: '21000' is in policyroute's automatic "
            "band 20000-22255"]
    assert box.snapshot() == before
    assert not box.ip2.exists() and box.records() == []


def test_exit_2_usage(box):
    for argv in (("up", IFACE, "--bogus"), ("--bogus",), ("nosuch",), ("plan",),
                 ("show", "--json", "--yaml"), ("-v", "down")):
        proc = box.pr(*argv)
        assert (proc.returncode, proc.stdout) == (2, ""), argv
        assert proc.stderr.startswith("policyroute: error: "), argv
    bare = box.pr(strict=False)                 # no command: the usage, on stderr
    assert (bare.returncode, bare.stdout) == (2, "")
    assert bare.stderr.startswith("usage: policyroute")


def test_exit_3_kernel_refusal_is_rolled_back(box, tmp_path):
    before = box.snapshot()
    # parse refuses what the kernel would: an ip stands in for a refusal
    box.write_conf(rules=f"{REFUSED} priority 900")
    proc = box.pr("up", IFACE, "--config", str(box.conf), **refusing_ip(tmp_path))
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr == (f"policyroute: error: ip -4 rule add {REFUSED}/0xffffffff priority 900 "
                           "lookup 254 protocol 201: Error: Invalid fwmark.\n")
    assert box.snapshot() == before
    assert box.records() == []


def test_exit_3_on_sync_keeps_what_was_there(box, tmp_path):
    up(box)
    running, record = box.snapshot(), box.record_path().read_text()
    box.write_conf(rules=f"{REFUSED} priority 900")     # the stand-in ip refuses it
    proc = box.pr("sync", IFACE, "--config", str(box.conf), **refusing_ip(tmp_path))
    assert proc.returncode == 3 and "Invalid fwmark" in proc.stderr
    assert box.snapshot() == running
    assert box.record_path().read_text() == record


def test_exit_4_corrupt_record(box):
    up(box)
    box.record_path().write_text("{broken")
    running = box.snapshot()
    # down and up set it aside and recover instead: tests/netns/test_recover_faults.py
    for argv in (("sync", IFACE),):
        proc = box.pr(*argv, "--config", str(box.conf))
        assert (proc.returncode, proc.stdout) == (4, ""), argv
        assert proc.stderr == (f"policyroute: error: {box.record_path()}: unreadable record "
                               "(Expecting property name enclosed in double quotes: line 1 "
                               "column 2 (char 1))\n"), argv
    assert box.snapshot() == running
    assert box.record_path().read_text() == "{broken"


# A record that cannot be read is never skipped: show would otherwise say
# "no interface is managed" (exit 0) while the state dir holds one.
def test_exit_4_show_with_a_corrupt_record(box):
    up(box)
    box.record_path().write_text("{broken")
    for argv in (("show",), ("show", IFACE), ("show", "--json")):
        proc = box.pr(*argv, "--config", str(box.conf))
        assert proc.returncode == 4, (argv, proc.stdout)
        assert "unreadable record" in proc.stderr, (argv, proc.stderr)


def test_exit_4_show_of_an_unmanaged_iface(box):
    up(box)
    proc = box.pr("show", "eth9", "--config", str(box.conf))
    assert (proc.returncode, proc.stdout) == (4, "")
    assert proc.stderr == "policyroute: error: eth9: not managed by policyroute (no record)\n"


def test_exit_5_is_drift_only_in_show(box):
    box.follow = "no"       # the drift must stay for show to see
    up(box)
    box.ip("rule", "del", "priority", "22000")        # one of ours, gone by hand
    code, (item,) = show_json(box)
    assert code == 5
    assert item["drift"] == {"missing": [OURS_17[2]], "extra": []}
    # without the configuration, the record alone tells what is missing
    proc = box.pr("show", "--json", "--config", str(box.conf) + ".absent")
    assert proc.returncode == 5
    assert json.loads(proc.stdout)[0]["drift"]["missing"] == [OURS_17[2]]


# ---------------------------------------------------------------- help, version, colour

@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_of_every_subcommand(command, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "policyroute", command, "--help"],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith(f"usage: policyroute {command} ")


def test_version_and_top_help():
    proc = subprocess.run([sys.executable, "-m", "policyroute", "--version"],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, f"policyroute {__version__}\n")
    proc = subprocess.run([sys.executable, "-m", "policyroute", "--help"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert all(name in proc.stdout for name in COMMANDS)


def test_no_color_changes_nothing_and_there_is_no_ansi(box):
    box.follow = "no"           # keep the drift below for show to print
    up(box)
    box.ip("addr", "add", "192.0.2.18/24", "dev", IFACE)       # show has drift to print
    runs = [("show", "--config", str(box.conf)), ("show", "--yaml", "--config", str(box.conf)),
            ("plan", IFACE, "--config", str(box.conf)), ("show", "eth9", "--config", str(box.conf)), ("sync",),
            ("check", str(box.conf) + ".absent"), ("show", "--help"), ("--bogus",)]
    for argv in runs:
        plain = box.pr(*argv, TERM="xterm-256color")
        nocolor = box.pr(*argv, TERM="xterm-256color", NO_COLOR="1")
        assert (plain.returncode, plain.stdout, plain.stderr) == \
            (nocolor.returncode, nocolor.stdout, nocolor.stderr), argv
        assert not ANSI.search(plain.stdout + plain.stderr), argv


def test_down_after_netns_moved_points_at_the_record(box):
    """An interface name means nothing outside its namespace: with netns_
    gone from the config, down touches nothing and says where the record is."""
    before = box.snapshot()
    up(box)
    running = box.snapshot()
    box.conf.write_text(box.conf.read_text().replace(f'netns_eth1_10="{box.ns}"\n', ""))
    proc = box.pr("down", IFACE, "--config", str(box.conf))
    assert proc.returncode == 0
    assert f"--netns {box.ns}" in proc.stderr and "Traceback" not in proc.stderr
    assert box.snapshot() == running
    proc = box.pr("down", IFACE, "--config", str(box.conf), "--netns", box.ns)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert box.snapshot() == before and box.records() == []
