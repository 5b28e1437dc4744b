"""Runtime following and failover (follower.py), through the real helper in
the seed lab: addresses that come, go and move while the interfaces are
up, `policyroute move`, carrier loss and return, stop during failover, a
killed follower, a burst of 1,000 aliases. Asserted by kernel state read
back with `ip -N`, by who answers real packets, and by the neighbour's
ARP/ND cache. Every test ends with the box back at its baseline.
"""

import ipaddress
import json
import os
import shutil
import signal
import time

import pytest

from netns_checks import holder, lookups, recorded, started, wait_for

pytestmark = pytest.mark.usefixtures("clean")

CONFIGURED = {"eth0.10": "192.0.2.16/24 2001:db8:10::16/64",
              "eth1.10": "192.0.2.17/24 2001:db8:10::17/64"}
SIBLING = {"eth0.10": "eth1.10", "eth1.10": "eth0.10"}
TABLE = {"eth0.10": "e0v10", "eth1.10": "e1v10"}
ALIAS4, ALIAS6 = "192.0.2.100", "2001:db8:10::100"
ALIASES = ((ALIAS4, "/24"), (ALIAS6, "/64"))


def start_pair(lab, pr, failover=True, **env):
    for iface in ("eth0.10", "eth1.10"):
        values = dict(configured=CONFIGURED[iface])
        if failover:
            values["failover"] = SIBLING[iface]
        proc = lab.start(pr, iface, TABLE[iface], **values) if not env else \
            _start_env(lab, pr, iface, env, **values)
        started(proc)
    return {iface: pr.table_number(TABLE[iface]) for iface in TABLE}


def _start_env(lab, pr, iface, env, **values):
    pre = pr.run("pre-start", iface, table=TABLE[iface], extra_env=env, **values)
    assert pre.returncode == 0, pre.stderr
    lab.add_table_routes(iface, pr.table_number(TABLE[iface]))
    return pr.run("post-start", iface, netns=lab.box.name, table=TABLE[iface], extra_env=env,
                  **values)


def cached_mac(lab, address, link="br10"):
    entries = lab.ns["nbr"].ip_json("neigh", "show", "to", address, "dev", link)
    return entries[0].get("lladdr") if entries else None


def neighbour_learns(lab, address):
    """The neighbour resolves address by talking to it; its cached MAC."""
    lab.ns["nbr"].ip("neigh", "flush", "to", address, "dev", "br10")
    lab.probe("", address, count=1, role="nbr", timeout=0.2)
    return wait_for(lambda: cached_mac(lab, address), timeout=3)


def carrier(lab, iface, up):
    """The switch side of iface's cable: down is a dead switch port."""
    switch = "swA" if iface.startswith("eth0") else "swB"
    lab.ns[switch].ip("link", "set", f"box-{iface}", "up" if up else "down")


def follower_pids(pr, lab):
    """(supervisor, worker) of the lab's namespace, from the pid file."""
    pid_file = pr.state_dir / "netns" / lab.box.name / "follow.pid"
    supervisor = int(pid_file.read_text()) if pid_file.exists() else None
    worker = None
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if supervisor and int(stat.rsplit(")", 1)[1].split()[1]) == supervisor:
                worker = int(entry)
    return supervisor, worker


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def aliases(lab):
    """Addresses a test adds by hand; removed from every box link after it."""
    yield
    for link in ("eth0.10", "eth1.10"):
        for address, plen in ALIASES:
            lab.box.ip("addr", "del", address + plen, "dev", link, check=False)
        carrier(lab, link, up=True)


# ---------------------------------------------------------------- following

def test_alias_added_by_hand_gets_rules_and_leaves_its_own_link(lab, pr, aliases):
    tables = start_pair(lab, pr)
    for address, plen in ALIASES:
        lab.box.ip("addr", "add", address + plen, "dev", "eth1.10")
    for address, _ in ALIASES:
        assert wait_for(lambda: lookups(lab, address)) == [str(tables["eth1.10"])], address
    assert lab.who_answers(ALIAS4, "198.51.100.1", count=3) == {"gwB"}
    assert lab.who_answers(ALIAS6, "2001:db8:ffff::1", count=3) == {"gwB"}
    assert lab.route_get("198.51.100.1", ALIAS4)["dev"] == "eth1.10"

    assert wait_for(lambda: recorded(pr, lab, "eth1.10", ALIAS4 + "/32"))

    for address, plen in ALIASES:
        lab.box.ip("addr", "del", address + plen, "dev", "eth1.10")
    for address, _ in ALIASES:
        assert wait_for(lambda: not lookups(lab, address)), address
    assert wait_for(lambda: not recorded(pr, lab, "eth1.10", ALIAS4 + "/32"))


def test_alias_moved_by_hand_takes_its_rules_along(lab, pr, aliases):
    tables = start_pair(lab, pr)
    lab.box.ip("addr", "add", ALIAS4 + "/24", "dev", "eth1.10")
    assert wait_for(lambda: lookups(lab, ALIAS4)) == [str(tables["eth1.10"])]
    lab.box.batch([f"addr del {ALIAS4}/24 dev eth1.10", f"addr add {ALIAS4}/24 dev eth0.10"])
    assert wait_for(lambda: lookups(lab, ALIAS4) == [str(tables["eth0.10"])])
    assert lab.who_answers(ALIAS4, "198.51.100.1", count=3) == {"gwA"}


def test_follower_ends_with_the_last_interface(lab, pr):
    start_pair(lab, pr)
    supervisor, worker = follower_pids(pr, lab)
    assert alive(supervisor) and alive(worker)
    assert lab.stop(pr, "eth0.10").returncode == 0
    assert alive(supervisor), "eth1.10 is still managed"
    assert lab.stop(pr, "eth1.10").returncode == 0
    assert wait_for(lambda: not alive(supervisor) and not alive(worker), timeout=5)
    assert not (pr.state_dir / "netns" / lab.box.name / "follow.pid").exists()


def test_killed_follower_is_restarted_and_catches_up(lab, pr, aliases):
    tables = start_pair(lab, pr)
    supervisor, worker = follower_pids(pr, lab)
    os.kill(worker, signal.SIGKILL)
    lab.box.ip("addr", "add", ALIAS4 + "/24", "dev", "eth1.10")   # while it is down
    assert wait_for(lambda: lookups(lab, ALIAS4)) == [str(tables["eth1.10"])]
    again, new_worker = follower_pids(pr, lab)
    assert again == supervisor and new_worker not in (None, worker)
    assert "worker ended with signal SIGKILL" in \
        (pr.state_dir / "netns" / lab.box.name / "follow.log").read_text()

    # Without its supervisor the worker goes too: no orphan follows on.
    os.kill(supervisor, signal.SIGKILL)
    assert wait_for(lambda: not alive(new_worker), timeout=5)


def test_thousand_aliases_in_a_loop_cost_few_ip_runs(lab, pr, tmp_path):
    log = tmp_path / "ip-runs"
    wrapper = tmp_path / "ip"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("ip")} "$@"\n')
    wrapper.chmod(0o755)
    start_pair(lab, pr, POLICYROUTE_IP=str(wrapper))
    rules_before = len(lab.box.ip_json("-N", "-6", "rule", "show"))
    log.write_text("")
    script = "for i in $(seq 1 1000); do ip addr add 2001:db8:10::a:$(printf %x $i)/64 " \
             "dev eth1.10 || exit 1; done"
    lab.box.exec("sh", "-c", script, timeout=300)
    # Compact layout: stage 1 and stage 3 per covering prefix (the guard exists).
    hosts = [ipaddress.ip_network(f"2001:db8:10::a:{i:x}") for i in range(1, 1001)]
    expected = rules_before + 2 * len(list(ipaddress.collapse_addresses(hosts)))
    assert wait_for(lambda: len(lab.box.ip_json("-N", "-6", "rule", "show")) == expected,
                    timeout=60, step=0.2)
    runs = len(log.read_text().splitlines())
    print(f"\n1,000 aliases added one by one: {runs} ip runs by the follower")
    assert runs < 300, runs

    lab.box.batch([f"addr del 2001:db8:10::a:{i:x}/64 dev eth1.10" for i in range(1, 1001)])
    assert wait_for(lambda: len(lab.box.ip_json("-N", "-6", "rule", "show")) == rules_before,
                    timeout=60, step=0.2)


# ---------------------------------------------------------------- move

def test_move_takes_address_rules_and_neighbour_caches(lab, pr, aliases):
    tables = start_pair(lab, pr, failover=False)
    for address, plen in ALIASES:
        lab.box.ip("addr", "add", address + plen, "dev", "eth1.10")
    old, new = lab.box.mac("eth1.10"), lab.box.mac("eth0.10")
    for address, _ in ALIASES:
        assert wait_for(lambda: lookups(lab, address))
        assert neighbour_learns(lab, address) == old, address

    for address, plen in ALIASES:
        proc = pr.run("move", address + plen, to="eth0.10", netns=lab.box.name)
        assert (proc.returncode, proc.stdout, proc.stderr) == \
            (0, f"{address}{plen}: eth1.10 -> eth0.10\n", ""), proc.stderr
        # The neighbour learns the new MAC from our announcement alone.
        assert wait_for(lambda: cached_mac(lab, address) == new, timeout=0.5), address
        assert holder(lab, address) == "eth0.10"
        assert lookups(lab, address) == [str(tables["eth0.10"])]
    assert lab.who_answers(ALIAS4, "198.51.100.1", count=3) == {"gwA"}
    assert lab.who_answers(ALIAS6, "2001:db8:ffff::1", count=3) == {"gwA"}


@pytest.mark.parametrize("argv, words", [
    (("192.0.2.222/24", "eth0.10"), "ADDR: '192.0.2.222/24' is not an address of any interface"),
    ((f"{ALIAS4}/24", "eth0.11"), "--to: 'eth0.11' is not an interface policyroute manages"),
    ((f"{ALIAS4}/24", "eth1.10"), "--to: 'eth1.10' has 192.0.2.100/24 already"),
])
def test_move_refuses_and_changes_nothing(lab, pr, aliases, argv, words):
    start_pair(lab, pr, failover=False)
    lab.box.ip("addr", "add", ALIAS4 + "/24", "dev", "eth1.10")
    wait_for(lambda: lookups(lab, ALIAS4))
    before = (lab.snapshot(), lab.box.ip("-N", "addr", "show").stdout)
    proc = pr.run("move", argv[0], to=argv[1], netns=lab.box.name)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"policyroute: error: {words}"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert (lab.snapshot(), lab.box.ip("-N", "addr", "show").stdout) == before


# ---------------------------------------------------------------- failover

def test_carrier_loss_moves_secondaries_and_back(lab, pr, aliases):
    tables = start_pair(lab, pr)
    for address, plen in ALIASES:
        lab.box.ip("addr", "add", address + plen, "dev", "eth1.10")
        assert wait_for(lambda: lookups(lab, address))
    assert neighbour_learns(lab, ALIAS4) == lab.box.mac("eth1.10")

    carrier(lab, "eth1.10", up=False)                     # switch B's port goes dark
    for address, _ in ALIASES:
        assert wait_for(lambda: holder(lab, address) == "eth0.10"), address
        assert wait_for(lambda: lookups(lab, address) == [str(tables["eth0.10"])]), address
    for primary in ("192.0.2.17", "2001:db8:10::17"):
        assert holder(lab, primary) == "eth1.10"          # primaries stay
    assert wait_for(lambda: cached_mac(lab, ALIAS4) == lab.box.mac("eth0.10"), timeout=2)
    assert lab.who_answers(ALIAS4, "198.51.100.1", count=3) == {"gwA"}
    assert lab.who_answers(ALIAS6, "2001:db8:ffff::1", count=3) == {"gwA"}
    record = json.loads(pr.record_path("eth1.10", lab.box.name).read_text())
    assert sorted(record["moved"]) == [[f"{ALIAS4}/24", "eth0.10"], [f"{ALIAS6}/64", "eth0.10"]]

    carrier(lab, "eth1.10", up=True)
    for address, _ in ALIASES:
        assert wait_for(lambda: holder(lab, address) == "eth1.10"), address
        assert wait_for(lambda: lookups(lab, address) == [str(tables["eth1.10"])]), address
    assert lab.who_answers(ALIAS4, "198.51.100.1", count=3) == {"gwB"}
    record = json.loads(pr.record_path("eth1.10", lab.box.name).read_text())
    assert record["moved"] == []


def test_both_links_dark_moves_nothing_further(lab, pr, aliases):
    start_pair(lab, pr)
    lab.box.ip("addr", "add", ALIAS4 + "/24", "dev", "eth1.10")
    carrier(lab, "eth1.10", up=False)
    assert wait_for(lambda: holder(lab, ALIAS4) == "eth0.10")
    carrier(lab, "eth0.10", up=False)          # the sibling has no carrier to give
    time.sleep(1.5)
    assert holder(lab, ALIAS4) == "eth0.10"
    carrier(lab, "eth1.10", up=True)           # the owner's link is back first
    assert wait_for(lambda: holder(lab, ALIAS4) == "eth1.10")


@pytest.mark.parametrize("stopped", ["eth1.10", "eth0.10"])
def test_stop_during_failover_loses_and_leaves_nothing(lab, pr, aliases, stopped):
    tables = start_pair(lab, pr)
    lab.box.ip("addr", "add", ALIAS4 + "/24", "dev", "eth1.10")
    carrier(lab, "eth1.10", up=False)
    assert wait_for(lambda: lookups(lab, ALIAS4) == [str(tables["eth0.10"])])

    assert lab.stop(pr, stopped).returncode == 0
    if stopped == "eth1.10":
        # The owner stops: its alias goes with it, as its flush would take it.
        assert holder(lab, ALIAS4) is None
        assert lookups(lab, ALIAS4) == []
    else:
        # The holder stops: the alias goes home before its flush could take it.
        assert holder(lab, ALIAS4) == "eth1.10"
        assert lookups(lab, ALIAS4) == [str(tables["eth1.10"])]
    other = SIBLING[stopped]
    record = json.loads(pr.record_path(other, lab.box.name).read_text())
    assert record["moved"] == []
    assert bool(recorded(pr, lab, other, ALIAS4 + "/32")) == (other == "eth1.10")


def test_rules_without_table_start_no_follower(lab, pr):
    """rules_ lines alone do not change with addresses or carrier."""
    proc = pr.run("post-start", "eth1.10", netns=lab.box.name,
                  rules="from 192.0.2.17 to 198.51.100.0/24 lookup main priority 900")
    started(proc)
    assert follower_pids(pr, lab) == (None, None)
    assert lab.stop(pr, "eth1.10").returncode == 0
