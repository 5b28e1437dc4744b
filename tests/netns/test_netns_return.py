"""kernel.in_netns: the helper acts inside a named namespace for a block
and comes back to the one it was in, so `show` and `sync --all` over
records of several namespaces act in each record's own namespace, and the
process (here: pytest's own, in-process) ends where it started.

Two namespaces, A with eth1.10 (192.0.2.17/24) and B with eth2.10
(198.51.100.17/24), each a veth whose peer stays beside it.
"""

import itertools
import json
import os
import subprocess
import sys

import pytest

from netns_checks import sh
from policyroute import cli, kernel
from policyroute.errors import KernelError, StateError

SELF = "/proc/self/ns/net"
_seq = itertools.count()


def netns_ino(path=SELF):
    return os.stat(path).st_ino


@pytest.fixture
def home():
    """The namespace this process is in; put back (and failed) if a test
    left it elsewhere, so one bad test never moves the rest of the run."""
    fd = os.open(SELF, os.O_RDONLY)
    ino = netns_ino()
    try:
        yield ino
    finally:
        moved = netns_ino() != ino
        if moved:
            kernel._setns(fd, "back home")
            kernel._entered = None
        os.close(fd)
        assert not moved, "the process was left in another network namespace"


class Pair:
    LINKS = {"a": ("eth1.10", "192.0.2"), "b": ("eth2.10", "198.51.100")}

    def __init__(self, tmp_path):
        n = next(_seq)
        self.ns = {k: f"prnr{os.getpid()}n{n}{k}" for k in self.LINKS}
        self.state, self.ip2 = tmp_path / "state", tmp_path / "iproute2"
        self.conf = tmp_path / "net"
        text = ""
        for k, (link, net) in self.LINKS.items():
            var = link.replace(".", "_")
            text += (f'config_{var}="{net}.17/24"\ntable_{var}="t{k}"\n'
                     f'netns_{var}="{self.ns[k]}"\n')
        self.conf.write_text(text)

    def build(self):
        for k, (link, net) in self.LINKS.items():
            ns = self.ns[k]
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "add", link, "type", "veth", "peer", "name", "peer")
            for dev in ("lo", link, "peer"):
                sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "addr", "add", f"{net}.17/24", "dev", link)

    def destroy(self):
        for ns in self.ns.values():
            sh("ip", "netns", "del", ns, check=False)

    def argv(self, *argv):
        return ["--state-dir", str(self.state), "--iproute2-dir", str(self.ip2), *argv]

    def helper(self, *argv):
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYROUTE_")}
        env["POLICYROUTE_IPROUTE2_DATA_DIRS"] = ""
        env["POLICYROUTE_FOLLOW"] = "no"     # the aliases below stay drift for sync to fix
        return subprocess.run([sys.executable, "-m", "policyroute", *self.argv(*argv)],
                              capture_output=True, text=True, env=env, timeout=60)

    def our_sources(self, k):
        rules = json.loads(sh("ip", "-n", self.ns[k], "-N", "-j", "-4", "rule", "show").stdout)
        return sorted({r["src"] for r in rules if r.get("protocol") == "201"} - {"all"})


@pytest.fixture
def pair(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYROUTE_IPROUTE2_DATA_DIRS", "")
    monkeypatch.setenv("POLICYROUTE_FOLLOW", "no")
    p = Pair(tmp_path)
    try:
        p.build()
        yield p
    finally:
        p.destroy()


def test_in_netns_comes_back_nested_and_after_an_error(home, pair):
    a, b = pair.ns["a"], pair.ns["b"]
    runner = kernel.Runner()
    arp = "net/ipv4/conf/eth1.10/arp_ignore"
    with kernel.in_netns(a):
        assert netns_ino() == netns_ino(f"/run/netns/{a}")
        assert kernel.where() == f"-n {a} "
        (links,) = runner.query(4, ["addr show dev eth1.10"])
        assert [x["local"] for x in links[0]["addr_info"]] == ["192.0.2.17"]
        assert runner.sysctl_read(arp) == "0"            # /proc/sys/net follows too
        with kernel.in_netns(b):
            assert netns_ino() == netns_ino(f"/run/netns/{b}")
            assert kernel.where() == f"-n {b} "
            with pytest.raises(KernelError):             # no eth1.10 in B
                runner.query(4, ["addr show dev eth1.10"])
            with pytest.raises(FileNotFoundError):
                runner.sysctl_read(arp)
        assert netns_ino() == netns_ino(f"/run/netns/{a}")
        assert kernel.where() == f"-n {a} "
        with kernel.in_netns(None):                      # no netns_: stay where we are
            assert kernel.where() == f"-n {a} "
    assert (netns_ino(), kernel.where()) == (home, "")

    with pytest.raises(RuntimeError), kernel.in_netns(a):
        raise RuntimeError("a failure inside")
    assert (netns_ino(), kernel.where()) == (home, "")

    with pytest.raises(StateError, match="netns no-such-ns: No such file or directory"):
        with kernel.in_netns("no-such-ns"):
            pytest.fail("entered a namespace that does not exist")
    assert (netns_ino(), kernel.where()) == (home, "")


def test_show_and_sync_all_act_in_each_records_namespace(home, pair, capsys):
    for link in ("eth1.10", "eth2.10"):
        proc = pair.helper("up", link, "--config", str(pair.conf))
        assert (proc.returncode, proc.stderr) == (0, ""), link
    for k, (link, net) in pair.LINKS.items():              # an alias in each, by hand
        sh("ip", "-n", pair.ns[k], "addr", "add", f"{net}.18/24", "dev", link)

    code = cli.main(pair.argv("show", "--json", "--config", str(pair.conf)))
    out = capsys.readouterr().out
    assert code == 5
    assert (netns_ino(), kernel.where()) == (home, "")
    items = {i["netns"]: i for i in json.loads(out)}
    for k, (link, net) in pair.LINKS.items():
        item = items[pair.ns[k]]
        assert item["iface"] == link
        assert item["addresses"] == [f"{net}.17/24", f"{net}.18/24"]
        assert {line.split()[2] for line in item["drift"]["missing"]} == {f"{net}.18/32"}

    code = cli.main(pair.argv("-v", "sync", "--all", "--config", str(pair.conf)))
    out = capsys.readouterr().out
    assert code == 0
    assert (netns_ino(), kernel.where()) == (home, "")
    assert out.splitlines()[-1] == "eth2.10: 2 changes"
    assert "eth1.10: 2 changes" in out.splitlines()
    for k, (_link, net) in pair.LINKS.items():
        ran = [line for line in out.splitlines() if f"from {net}.18/32" in line]
        assert len(ran) == 2 and all(line.startswith(f"ip -n {pair.ns[k]} -4 rule add")
                                     for line in ran), out
        assert pair.our_sources(k) == [f"{net}.17", f"{net}.18"]

    assert cli.main(pair.argv("show", "--config", str(pair.conf))) == 0
    capsys.readouterr()
    for link in ("eth1.10", "eth2.10"):
        assert pair.helper("down", link, "--config", str(pair.conf)).returncode == 0
    assert pair.our_sources("a") == [] and pair.our_sources("b") == []
    assert (netns_ino(), kernel.where()) == (home, "")
