"""A lab of network namespaces for policyroute: a dual-homed box, two
switches, two gateways that both host the same "internet" address, a
VRRP router, a same-subnet neighbour and a container behind a docker-like
bridge. Used by tests/netns (pytest) and by `make demo`; stdlib only.

    from topology import Lab, Helper
    with Lab() as lab:                       # builds; always removes
        pr = Helper(tmpdir)
        lab.start(pr, "eth1.10", table="e1v10")
        lab.probe("192.0.2.17", "198.51.100.1")   # -> ["gwB v10 198.51.100.1"]

Shape (VLAN 10 shown; VLAN 11, 203.0.113.0/24, is wired the same way):

        gwA .2 ::2  vrrp .1 ::1                  gwB .3 ::3
        (lo 198.51.100.1, .130, 2001:db8:ffff::1 in both gateways)
             |        |                              |
          [swA br10]--+--(nbr br10 .50 ::50)--+--[swB br10]
             |                                       |
          eth0.10 .16 ::16 ------ box ------ eth1.10 .17 ::17
                              docker0 198.51.100.129/25 -- ctr .130

The neighbour's bridge joins the two switches, so VLAN 10 is one
broadcast domain seen by both box interfaces (as with redundant
switches): every box interface hears every ARP request, and a gateway
on one switch reaches the box through the other. Which gateway answers
a probe tells the routing decision; the box's per-link packet counters
tell which link a packet left by.

Every namespace is named <prefix>-<random>-<role>; `destroy` (also run
by `with`, and safe to call twice) kills the lab's processes and deletes
every namespace it made. Command line: `topology.py up` builds a lab and
prints its description as JSON; `topology.py down ID` removes it.
"""

import json
import os
import re
import secrets
import select
import shutil
import subprocess
import sys
from pathlib import Path

IP = shutil.which("ip") or "/sbin/ip"
PY = sys.executable
ECHO_PORT = 7777
NETNS_DIR = Path("/run/netns")

ROLES = ("box", "swA", "swB", "gwA", "gwB", "vrrp", "nbr", "ctr")

# box link -> (switch, vlan, IPv4, IPv6). Order matters: eth0.* get their
# addresses first, so main's connected routes list eth0.* first.
BOX_LINKS = {
    "eth0.10": ("swA", 10, "192.0.2.16/24", "2001:db8:10::16/64"),
    "eth1.10": ("swB", 10, "192.0.2.17/24", "2001:db8:10::17/64"),
    "eth0.11": ("swA", 11, "203.0.113.16/24", None),
    "eth1.11": ("swB", 11, "203.0.113.17/24", None),
}
# What netifrc's routes_<IFVAR> would add to each interface's table.
TABLE_DEFAULTS = {
    "eth0.10": ("192.0.2.2", "2001:db8:10::2"),
    "eth1.10": ("192.0.2.3", "2001:db8:10::3"),
    "eth0.11": ("203.0.113.2", None),
    "eth1.11": ("203.0.113.3", None),
}
# gateway -> (switch, last IPv4 octet, IPv6 host part)
GATEWAYS = {"gwA": ("swA", 2, "2"), "gwB": ("swB", 3, "3")}
VLAN_NETS = {10: ("192.0.2", "2001:db8:10::"), 11: ("203.0.113", None)}
INTERNET = ("198.51.100.1/32", "198.51.100.130/32", "2001:db8:ffff::1/128")
VRRP4, VRRP6 = "192.0.2.1", "2001:db8:10::1"
NEIGHBOUR4, NEIGHBOUR6 = "192.0.2.50", "2001:db8:10::50"
DOCKER_BOX, DOCKER_CTR = "198.51.100.129/25", "198.51.100.130/25"

# A UDP echo that answers "<name> <ingress link> <address asked>", from
# the address asked, for a bounded time (argv: name port seconds).
ECHO_SERVER = r"""
import select, socket, struct, sys, time
name, port, life = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
V6_RECV = getattr(socket, "IPV6_RECVPKTINFO", 49)
V6_INFO = getattr(socket, "IPV6_PKTINFO", 50)
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s4.bind(("0.0.0.0", port))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s6.setsockopt(socket.IPPROTO_IPV6, V6_RECV, 1)
s6.bind(("::", port))
print("ready", flush=True)
end = time.monotonic() + life
while end > time.monotonic():
    ready, _, _ = select.select([s4, s6], [], [], max(0.0, end - time.monotonic()))
    for s in ready:
        data, anc, _flags, peer = s.recvmsg(2048, 256)
        ifindex, dst, fam = 0, None, s.family
        for level, kind, raw in anc:
            if s is s4 and kind == IP_PKTINFO:
                ifindex, _spec, dst = struct.unpack("=I4s4s", raw[:12])
            elif s is s6 and kind == V6_INFO:
                dst, ifindex = struct.unpack("=16sI", raw[:20])
        if dst is None:
            continue
        text = f"{name} {socket.if_indextoname(ifindex)} {socket.inet_ntop(fam, dst)}"
        if s is s4:
            anc_out = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=I4s4s", 0, dst, bytes(4)))]
        else:
            anc_out = [(socket.IPPROTO_IPV6, V6_INFO, struct.pack("=16sI", dst, 0))]
        s.sendmsg([text.encode()], anc_out, 0, peer)
"""

# Send COUNT datagrams from SRC (or "" for any) to DST:PORT, one at a time;
# print a JSON list of the answers ("timeout" where none came).
PROBE = r"""
import json, socket, sys
src, dst, port, count, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if src:
    s.bind((src, 0))
s.settimeout(timeout)
out = []
for i in range(count):
    s.sendto(b"probe %d" % i, (dst, port))
    try:
        out.append(s.recvfrom(2048)[0].decode())
    except (socket.timeout, ConnectionRefusedError):
        out.append("timeout")
print(json.dumps(out))
"""

# arping in a few lines (no arping on the machine): broadcast one ARP
# request on LINK for TARGET from SRC and print, as JSON, the sender MACs
# of every reply heard within SECONDS.
ARPING = r"""
import json, socket, struct, sys, time
link, src, target, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((link, 0x0806))
mac = s.getsockname()[4]
tpa = socket.inet_aton(target)
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(src) + bytes(6) + tpa
s.send(b"\xff" * 6 + mac + struct.pack("!H", 0x0806) + arp)
seen, end = set(), time.monotonic() + seconds
while (left := end - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        frame = s.recv(2048)
    except socket.timeout:
        break
    body = frame[14:42]
    if len(body) == 28 and struct.unpack("!H", body[6:8])[0] == 2 and body[14:18] == tpa:
        seen.add(body[8:14].hex(":"))
print(json.dumps(sorted(seen)))
"""


class CommandError(RuntimeError):
    pass


def run(argv, check=True, input=None, timeout=60, env=None):
    """Run an argument list (never a shell); CommandError on failure."""
    proc = subprocess.run([str(a) for a in argv], input=input, capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)
    if check and proc.returncode != 0:
        raise CommandError(f"{' '.join(map(str, argv))}: rc={proc.returncode}: "
                           f"{proc.stderr.strip()}")
    return proc


class Netns:
    """One named network namespace."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Netns({self.name!r})"

    def exec(self, *argv, **kw):
        return run([IP, "netns", "exec", self.name, *argv], **kw)

    def ip(self, *args, **kw):
        return run([IP, "-n", self.name, *args], **kw)

    def ip_json(self, *args):
        """ip -N -json: numbers, never names, whatever the host's iproute2
        files call them (an installed policyroute names protocol 201)."""
        out = run([IP, "-n", self.name, "-N", "-json", *args]).stdout.strip()
        return json.loads(out) if out else []

    def batch(self, lines, family=None):
        fam = [f"-{family}"] if family else []
        run([IP, "-n", self.name, *fam, "-batch", "-"], input="".join(f"{x}\n" for x in lines))

    def read_sysctl(self, key):
        """key with / separators (interface names hold dots)."""
        return self.exec("cat", f"/proc/sys/{key}").stdout.strip()

    def write_sysctl(self, key, value):
        self.exec("sysctl", "-q", "-w", f"{key}={value}")

    def counters(self):
        """{link: (tx_packets, rx_packets)} from `ip -s link`."""
        out = {}
        for link in self.ip_json("-s", "link", "show"):
            s = link.get("stats64", link.get("stats", {}))
            out[link["ifname"]] = (s["tx"]["packets"], s["rx"]["packets"])
        return out

    def mac(self, link):
        return self.ip_json("link", "show", "dev", link)[0]["address"]


class Lab:
    """The seed topology. ``build`` makes it, ``destroy`` removes it."""

    def __init__(self, prefix="prl"):
        self.id = f"{prefix}-{secrets.token_hex(3)}"
        self.ns = {role: Netns(f"{self.id}-{role}") for role in ROLES}
        self.made = []              # namespaces created, for destroy
        self.servers = []           # Popen of echo servers
        self.netifrc_routes = {}    # iface -> [(family, route args)] we added

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        self.destroy()

    @property
    def box(self):
        return self.ns["box"]

    # ------------------------------------------------------------ build

    def build(self, servers=True):
        for role in ROLES:
            self._add_netns(self.ns[role])
        for sw in ("swA", "swB"):
            for vlan in VLAN_NETS:
                self._bridge(self.ns[sw], f"br{vlan}")
        for vlan in VLAN_NETS:
            self._bridge(self.ns["nbr"], f"br{vlan}")
        self._wire_box()
        self._wire_gateways()
        self._wire_vrrp()
        self._wire_neighbour()
        self._wire_container()
        if servers:
            for role in ("gwA", "gwB", "nbr", "ctr"):
                self.start_echo(role)
        return self

    def _add_netns(self, ns):
        run([IP, "netns", "add", ns.name])
        self.made.append(ns)
        ns.ip("link", "set", "lo", "up")
        # Quiet, deterministic links: no DAD delay, no RS/redirect noise.
        for key, value in (("net.ipv6.conf.default.accept_dad", 0),
                           ("net.ipv6.conf.all.accept_dad", 0),
                           ("net.ipv6.conf.default.router_solicitations", 0),
                           ("net.ipv6.conf.default.accept_ra", 0),
                           ("net.ipv4.conf.all.accept_redirects", 0),
                           ("net.ipv4.conf.default.accept_redirects", 0),
                           ("net.ipv4.conf.all.send_redirects", 0),
                           ("net.ipv4.conf.default.send_redirects", 0),
                           ("net.ipv6.conf.all.accept_redirects", 0),
                           ("net.ipv6.conf.default.accept_redirects", 0)):
            ns.write_sysctl(key, value)

    def _bridge(self, ns, name):
        ns.ip("link", "add", name, "type", "bridge", "stp_state", "0",
              "forward_delay", "0", "mcast_snooping", "0")
        ns.ip("link", "set", name, "up")

    def _veth(self, a_ns, a, b_ns, b, bridge=None, a_bridge=None):
        """A veth a (in a_ns) <-> b (in b_ns); each end joins its bridge if given."""
        run([IP, "link", "add", a, "netns", a_ns.name, "type", "veth",
             "peer", "name", b, "netns", b_ns.name])
        for ns, end, br in ((b_ns, b, bridge), (a_ns, a, a_bridge)):
            if br:
                ns.ip("link", "set", end, "master", br)
            ns.ip("link", "set", end, "up")

    def _addr(self, ns, link, *prefixes):
        for p in prefixes:
            if p:
                ns.ip("addr", "add", p, "dev", link, *(["nodad"] if ":" in p else []))

    def _wire_box(self):
        for iface, (sw, vlan, v4, v6) in BOX_LINKS.items():
            self._veth(self.box, iface, self.ns[sw], f"box-{iface}", f"br{vlan}")
        for iface, (_sw, _vlan, v4, v6) in BOX_LINKS.items():
            self._addr(self.box, iface, v4, v6)
        self.box.ip("route", "add", "default", "via", VRRP4, "dev", "eth0.10")
        self.box.ip("-6", "route", "add", "default", "via", VRRP6, "dev", "eth0.10")

    def _wire_gateways(self):
        for gw, (sw, octet, host6) in GATEWAYS.items():
            ns = self.ns[gw]
            for vlan, (net4, net6) in VLAN_NETS.items():
                self._veth(ns, f"v{vlan}", self.ns[sw], f"{gw}.{vlan}", f"br{vlan}")
                self._addr(ns, f"v{vlan}", f"{net4}.{octet}/24",
                           f"{net6}{host6}/64" if net6 else None)
            self._addr(ns, "lo", *INTERNET)

    def _wire_vrrp(self):
        ns = self.ns["vrrp"]
        self._veth(ns, "v10", self.ns["swA"], "vrrp.10", "br10")
        self._addr(ns, "v10", f"{VRRP4}/24", f"{VRRP6}/64")
        ns.write_sysctl("net.ipv4.ip_forward", 1)
        ns.write_sysctl("net.ipv6.conf.all.forwarding", 1)
        ns.write_sysctl("net.ipv4.conf.v10.send_redirects", 0)
        # VRRP forwards the internet to gwA, out of the link it came in by.
        ns.ip("route", "add", "198.51.100.0/24", "via", "192.0.2.2")
        ns.ip("-6", "route", "add", "2001:db8:ffff::/48", "via", "2001:db8:10::2")

    def _wire_neighbour(self):
        ns = self.ns["nbr"]
        for vlan, (net4, net6) in VLAN_NETS.items():
            for side, sw in (("A", "swA"), ("B", "swB")):
                self._veth(self.ns[sw], f"nbr.{vlan}", ns, f"to{side}{vlan}", f"br{vlan}",
                           a_bridge=f"br{vlan}")
            self._addr(ns, f"br{vlan}", f"{net4}.50/24", f"{net6}50/64" if net6 else None)

    def _wire_container(self):
        ctr = self.ns["ctr"]
        self._veth(self.box, "docker0", ctr, "eth0")
        self._addr(self.box, "docker0", DOCKER_BOX)
        self._addr(ctr, "eth0", DOCKER_CTR)
        ctr.ip("route", "add", "default", "via", DOCKER_BOX.split("/")[0])

    def start_echo(self, role, life=900):
        """The echo server in role's namespace; killed by destroy."""
        proc = subprocess.Popen([IP, "netns", "exec", self.ns[role].name, PY, "-c", ECHO_SERVER,
                                 role, str(ECHO_PORT), str(life)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.servers.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        if not ready or proc.stdout.readline().strip() != "ready":
            raise CommandError(f"echo server in {role} did not start: {proc.stderr.read()}")
        return proc

    # ------------------------------------------------------------ teardown

    def destroy(self):
        for proc in self.servers:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for f in (proc.stdout, proc.stderr):
                f.close()
        self.servers = []
        for ns in reversed(self.made):
            run([IP, "netns", "del", ns.name], check=False)
        self.made = []

    # ------------------------------------------------------------ traffic

    def probe(self, src, dst, count=1, role="box", timeout=1.0):
        """Datagrams from src to dst's echo server; the answers, in order."""
        out = self.ns[role].exec(PY, "-c", PROBE, src or "", dst, str(ECHO_PORT),
                                 str(count), str(timeout), timeout=count * timeout + 30)
        return json.loads(out.stdout)

    def who_answers(self, src, dst, count=1, role="box"):
        """The set of echo servers that answered (names only)."""
        return {a.split()[0] for a in self.probe(src, dst, count, role)}

    def tx_delta(self, fn, role="box"):
        """Run fn(); per-link transmitted-packet deltas in role's namespace."""
        before = self.ns[role].counters()
        fn()
        after = self.ns[role].counters()
        return {k: after[k][0] - before.get(k, (0, 0))[0] for k in after}

    def arping(self, target, role="nbr", link="br10", src=NEIGHBOUR4, seconds=0.5):
        """MACs that answered one ARP request for target (sorted list)."""
        out = self.ns[role].exec(PY, "-c", ARPING, link, src, target, str(seconds))
        return json.loads(out.stdout)

    def route_get(self, dst, src=None, role="box"):
        args = ["route", "get", dst] + (["from", src] if src else [])
        return self.ns[role].ip_json(*args)[0]

    # ------------------------------------------------------------ state

    def snapshot(self, role="box"):
        """Text of everything policyroute may touch in a namespace."""
        ns = self.ns[role]
        snap = {}
        for fam in ("4", "6"):
            snap[f"rules{fam}"] = ns.ip("-N", f"-{fam}", "rule", "show").stdout
            snap[f"routes{fam}"] = ns.ip("-N", f"-{fam}", "route", "show", "table", "all").stdout
        for iface in BOX_LINKS if role == "box" else ():
            for name in ("arp_ignore", "arp_announce", "rp_filter"):
                snap[f"{iface}/{name}"] = ns.read_sysctl(f"net/ipv4/conf/{iface}/{name}")
        return snap

    # ------------------------------------------------------------ netifrc

    def start(self, helper, iface, table, routes=True, netns=True, **values):
        """What one netifrc start does: pre-start, routes_, post-start.

        routes_ lines are added by number (the lab's `ip` cannot read the
        helper's rt_tables.d). Returns the post-start CompletedProcess;
        raises if pre-start fails.
        """
        ns = self.box.name if netns else None
        pre = helper.run("pre-start", iface, table=table, **values)
        if pre.returncode != 0:
            raise CommandError(f"pre-start {iface}: rc={pre.returncode}: {pre.stderr}")
        if routes:
            self.add_table_routes(iface, helper.table_number(table))
        return helper.run("post-start", iface, netns=ns, table=table, **values)

    def add_table_routes(self, iface, number):
        v4, v6 = TABLE_DEFAULTS[iface]
        added = self.netifrc_routes.setdefault(iface, [])
        for fam, gw in (("4", v4), ("6", v6)):
            if gw:
                args = ("default", "via", gw, "dev", iface, "table", str(number))
                if (fam, args) not in added:
                    self.box.ip(f"-{fam}", "route", "append", *args)
                    added.append((fam, args))

    def stop(self, helper, iface, netns=True):
        """What one netifrc stop does to routes: helper stop, then the
        routes_ lines go (netifrc flushes the addresses; the lab keeps
        them and deletes its routes instead). Returns the stop's result."""
        proc = helper.run("stop", iface, netns=self.box.name if netns else None)
        self.drop_table_routes(iface)
        return proc

    def drop_table_routes(self, iface):
        for fam, args in self.netifrc_routes.pop(iface, []):
            self.box.ip(f"-{fam}", "route", "del", *args, check=False)

    def describe(self):
        return {"id": self.id, "namespaces": {r: n.name for r, n in self.ns.items()},
                "servers": [p.pid for p in self.servers]}


class Fanout:
    """One namespace with many veth links, ``eth2.N`` (each with its peer
    ``peer.N`` in the same namespace), for starting many interfaces at once.
    Link N has 203.0.113.(100+N)/24 and 2001:db8:20::(100+N)/64."""

    def __init__(self, count=16, prefix="prf"):
        self.count = count
        self.ns = Netns(f"{prefix}-{secrets.token_hex(3)}-fan")
        self.made = False

    def links(self):
        return [f"eth2.{n}" for n in range(self.count)]

    def address(self, n, family=4):
        return f"203.0.113.{100 + n}" if family == 4 else f"2001:db8:20::{100 + n:x}"

    def __enter__(self):
        try:
            return self.build()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc):
        self.destroy()

    def build(self):
        run([IP, "netns", "add", self.ns.name])
        self.made = True
        self.ns.write_sysctl("net.ipv6.conf.default.accept_dad", 0)
        lines = ["link set lo up"]
        for n, link in enumerate(self.links()):
            lines += [f"link add {link} type veth peer name peer.{n}",
                      f"link set {link} up", f"link set peer.{n} up",
                      f"addr add {self.address(n)}/24 dev {link}",
                      f"addr add {self.address(n, 6)}/64 dev {link} nodad"]
        self.ns.batch(lines)
        return self

    def destroy(self):
        if self.made:
            run([IP, "netns", "del", self.ns.name], check=False)
            self.made = False


class Helper:
    """Runs the policyroute helper with its state and iproute2 folders
    under ``root`` (never the host's /run or /etc)."""

    def __init__(self, root, command=None):
        self.root = Path(root)
        self.state_dir = self.root / "run"
        self.iproute2_dir = self.root / "etc" / "iproute2"
        self.command = command or default_command()

    def env(self):
        env = dict(os.environ)
        env["POLICYROUTE_STATE_DIR"] = str(self.state_dir)
        env["POLICYROUTE_IPROUTE2_DIR"] = str(self.iproute2_dir)
        env["POLICYROUTE_IPROUTE2_DATA_DIRS"] = ""      # nothing of the host's
        return env

    def argv(self, verb, iface, verbose=False, **values):
        argv = [*self.command] + (["-v"] if verbose else []) + [verb, iface]
        for name, value in values.items():
            if value is not None:
                argv += [f"--{name}", value]
        return argv

    def run(self, verb, iface, verbose=False, extra_env=None, **values):
        env = {**self.env(), **(extra_env or {})}
        return run(self.argv(verb, iface, verbose, **values), check=False, env=env)

    def popen(self, verb, iface, **values):
        return subprocess.Popen(self.argv(verb, iface, **values), env=self.env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def held(self, verb, iface, env=None, **values):
        """``verb --hold`` as the netifrc module runs it (commands/hold.py),
        on pipes in place of its FIFOs: the values go as records, the
        helper's words up to its ready line are ``Held.first``."""
        argv = self.argv(verb, iface) + ["--hold", str(self.root / "no-fifos"),
                                         "--values", "-"]
        return Held(argv, {**self.env(), **(env or {})}, values, f"{verb}: 0")

    @property
    def tables_file(self):
        return self.iproute2_dir / "rt_tables.d" / "policyroute.conf"

    def tables(self):
        """{name: number} registered by the helper."""
        out = {}
        try:
            text = self.tables_file.read_text()
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            m = re.match(r"^\s*(\d+)\s+(\S+)", line.split("#", 1)[0])
            if m:
                out[m.group(2)] = int(m.group(1))
        return out

    def table_number(self, name):
        if re.fullmatch(r"\d+", name):
            return int(name)
        return self.tables()[name]

    def record_path(self, iface, netns=None):
        base = self.state_dir / "netns" / netns if netns else self.state_dir
        return base / f"{iface}.json"


class Held:
    """One held helper: ``first``, its words until the ready line (and
    ``ready``, whether that came); ``go(word)`` runs its second step and
    ``end()`` closes its stdin without it: either returns (exit code,
    words)."""

    def __init__(self, argv, env, values, ready_line):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        records = b"".join(f"{k}={v}".encode() + b"\0" for k, v in values.items()
                           if v is not None)
        self.proc.stdin.write(records + b"\0")
        self.proc.stdin.flush()
        lines, self.ready = [], False
        for line in iter(self.proc.stdout.readline, b""):
            if line.decode().rstrip("\n") == ready_line:
                self.ready = True
                break
            lines.append(line.decode())
        self.first = "".join(lines)

    def go(self, word):
        self.proc.stdin.write(word.encode() + b"\n")
        return self.end()

    def end(self):
        self.proc.stdin.close()
        rest = self.proc.stdout.read().decode()
        self.proc.stdout.close()
        return self.proc.wait(), rest


def default_command():
    """$POLICYROUTE_CMD, else the policyroute next to this Python, else -m."""
    if os.environ.get("POLICYROUTE_CMD"):
        return os.environ["POLICYROUTE_CMD"].split()
    beside = Path(sys.executable).with_name("policyroute")
    if beside.exists():
        return [str(beside)]
    repo_venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "policyroute"
    if repo_venv.exists():
        return [str(repo_venv)]
    return [sys.executable, "-m", "policyroute"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["up"]:
        lab = Lab(argv[1] if len(argv) > 1 else "prl").build(servers=False)
        print(json.dumps(lab.describe(), indent=1))
        return 0
    if argv[:1] == ["down"] and len(argv) == 2:
        for role in ROLES:
            run([IP, "netns", "del", f"{argv[1]}-{role}"], check=False)
        return 0
    print("usage: topology.py up [PREFIX] | down ID", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
