"""`make demo`: the seed's lab in network namespaces, the module at work.

Builds the lab (tests/lab/topology.py), runs real OpenRC inside the lab's
box namespace (the project's netifrc harness, tests/openrc), starts the
four interfaces with `rc-service net.X start` through the installed
module, shows `policyroute show` and live packets — .17 answered by switch
B's gateway, .16 by switch A's — then stops them and shows the box back at
its starting rule set. Everything is removed at the end, also on Ctrl-C.
"""

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tests")]

from topology import BOX_LINKS, Lab  # noqa: E402

from openrc.harness import World  # noqa: E402

# Plain netifrc: addresses and main's default through VRRP (.1).
BEFORE = """\
config_eth0_10="192.0.2.16/24
2001:db8:10::16/64"
config_eth1_10="192.0.2.17/24
2001:db8:10::17/64"
config_eth0_11="203.0.113.16/24"
config_eth1_11="203.0.113.17/24"
routes_eth0_10="default via 192.0.2.1
-6 default via 2001:db8:10::1"
"""
# With policyroute: four table_ lines and each switch's gateway in its table
# (-6 lines last: netifrc keeps the family for the lines after one).
CONF = BEFORE.replace('-6 default via 2001:db8:10::1"', """default via 192.0.2.2 table e0v10
-6 default via 2001:db8:10::1
-6 default via 2001:db8:10::2 table e0v10"
""") + """\
routes_eth1_10="default via 192.0.2.3 table e1v10
-6 default via 2001:db8:10::3 table e1v10"
routes_eth0_11="default via 203.0.113.2 table e0v11"
routes_eth1_11="default via 203.0.113.3 table e1v11"
table_eth0_10="e0v10"
table_eth1_10="e1v10"
table_eth0_11="e0v11"
table_eth1_11="e1v11"
failover_eth0_10="eth1.10"
failover_eth1_10="eth0.10"
"""
ORDER = ["eth0.10", "eth1.10", "eth0.11", "eth1.11"]


def say(text=""):
    print(text, flush=True)


def title(text):
    say()
    say(f"== {text}")


def show(proc):
    for line in (proc.stdout + proc.stderr).rstrip().splitlines():
        say(f"   {line}")


def install(root):
    subprocess.run(["make", "-s", "-C", str(REPO), "install", "DESTDIR=",
                    f"PREFIX={root}/usr", f"MODULEDIR={root}/net",
                    f"IPROUTE2DIR={root}/etc/iproute2", "PYTHON=/usr/bin/python3"],
                   check=True, capture_output=True)
    return root / "usr/sbin/policyroute", root / "net/policyroute.sh"


def unconfigure(lab):
    """Leave the box's links bare: netifrc (the harness) configures them."""
    for iface in BOX_LINKS:
        lab.box.ip("addr", "flush", "dev", iface)
        lab.box.ip("link", "set", iface, "down")


def answers(lab, src):
    try:
        got = lab.probe(src, "198.51.100.1" if ":" not in src else "2001:db8:ffff::1")
    except Exception as e:      # a probe that cannot even send is an answer too
        return f"failed: {str(e).splitlines()[-1] if str(e) else e}"
    return ", ".join(got) or "no answer"


def probes(lab, label):
    title(f"Live packets {label}: who answers 198.51.100.1 / 2001:db8:ffff::1?")
    for src in ("192.0.2.16", "192.0.2.17", "2001:db8:10::16", "2001:db8:10::17"):
        say(f"   from {src:<16} -> {answers(lab, src)}")


def rule_set(lab, numeric=True):
    """Both families' rules; by number (ip -N) for "back to the start", so
    the answer never depends on names the host's iproute2 files give."""
    n = ["-N"] if numeric else []
    return lab.box.ip(*n, "rule", "show").stdout + lab.box.ip(*n, "-6", "rule", "show").stdout


ALIAS = "192.0.2.100"


def holder(world, address):
    for link in world.ip_json("addr", "show", family=4):
        if any(a.get("local") == address for a in link.get("addr_info", [])):
            return link["ifname"]
    return None


def until(what, timeout=10.0):
    end = time.monotonic() + timeout
    while not what() and time.monotonic() < end:
        time.sleep(0.02)
    return what()


def alias_rules(world):
    return [line for line in world.run(["ip", "rule", "show"]).stdout.splitlines()
            if f"from {ALIAS} " in line]


def failover(lab, world, helper):
    """An alias added by hand is followed; when switch B's port dies it
    moves to eth0.10 with its rules, and comes back with the carrier."""
    title(f"An alias added by hand: ip addr add {ALIAS}/24 dev eth1.10")
    world.ip("addr", "add", f"{ALIAS}/24", "dev", "eth1.10")
    until(lambda: len(alias_rules(world)) == 2)      # stage 1 and 3; the guard is shared
    show(subprocess.CompletedProcess([], 0, "\n".join(alias_rules(world)), ""))
    say(f"   from {ALIAS:<16} -> {answers(lab, ALIAS)}")

    title("Switch B's port for eth1.10 goes dark (failover_eth1_10=eth0.10)")
    began = time.monotonic()
    lab.ns["swB"].ip("link", "set", "box-eth1.10", "down")
    moved = until(lambda: holder(world, ALIAS) == "eth0.10" and
                  all("e0v10" in line or "main" in line for line in alias_rules(world)))
    say(f"   {ALIAS} on {holder(world, ALIAS)} after {(time.monotonic() - began) * 1000:.0f} ms"
        f"{'' if moved else ' (NOT MOVED)'}; 192.0.2.17 stays on {holder(world, '192.0.2.17')}")
    show(world.run([str(helper), "show", "eth1.10"]))
    say(f"   from {ALIAS:<16} -> {answers(lab, ALIAS)}")

    title("The port comes back")
    lab.ns["swB"].ip("link", "set", "box-eth1.10", "up")
    until(lambda: holder(world, ALIAS) == "eth1.10" and
          all("e1v10" in line or "main" in line for line in alias_rules(world)))
    say(f"   {ALIAS} on {holder(world, ALIAS)}")
    say(f"   from {ALIAS:<16} -> {answers(lab, ALIAS)}")
    world.ip("addr", "del", f"{ALIAS}/24", "dev", "eth1.10")
    until(lambda: not alias_rules(world))


def demo(lab, world, helper, module):
    title("Before: netifrc without policyroute")
    for iface in ORDER:
        show(world.rc(f"net.{iface}", "start"))
    probes(lab, "without policyroute (replies from .17 leave eth0.10 to switch A)")
    for iface in reversed(ORDER):
        world.rc(f"net.{iface}", "stop")
    start_rules = rule_set(lab)

    world.install_module(module)
    world.write_conf(CONF)
    title("rc-service net.X start, with the policyroute module")
    for iface in ORDER:
        show(world.rc(f"net.{iface}", "start"))

    title("policyroute show eth1.10")
    show(world.run([str(helper), "show", "eth1.10"]))
    title("ip rule show")
    show(world.run(["ip", "rule", "show"]))
    title("ip route get ... from ...")
    for args in (["198.51.100.1", "from", "192.0.2.17"], ["198.51.100.1", "from", "192.0.2.16"],
                 ["192.0.2.50", "from", "192.0.2.17"], ["198.51.100.1"]):
        say(f"   {' '.join(args):<32} {world.ip('route', 'get', *args).stdout.splitlines()[0]}")
    probes(lab, "with policyroute (.17 -> gwB via eth1.10, .16 -> gwA via eth0.10)")
    failover(lab, world, helper)

    title("rc-service net.X stop")
    for iface in reversed(ORDER):
        show(world.rc(f"net.{iface}", "stop"))
    end_rules = rule_set(lab)
    title("Rule set after stop")
    show(subprocess.CompletedProcess([], 0, rule_set(lab, numeric=False), ""))
    same = end_rules == start_rules
    say(f"   back to the starting rule set: {'yes' if same else 'NO'}")
    return same


def main():
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prdemo-") as tmp:
        helper, module = install(Path(tmp))
        lab = Lab(prefix="prdemo")
        world = None
        try:
            lab.build()
            unconfigure(lab)
            world = World(shell="dash", join_netns=f"/run/netns/{lab.box.name}").open()
            world.write_conf(BEFORE)
            say(f"Lab {lab.id}: box, switches A and B, gwA .2, gwB .3, vrrp .1, neighbour .50")
            ok = demo(lab, world, helper, module)
        except KeyboardInterrupt:
            say("\ninterrupted: cleaning up")
            ok = False
        finally:
            if world is not None:
                world.close()
            lab.destroy()
    say(f"\nDone in {time.monotonic() - started:.1f} s; every namespace removed.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
