"""An isolated OpenRC + netifrc-stand-in world for one test.

A World is one long-lived "holder" process (``sleep``) started by
``unshare --mount --net``: its network namespace holds the test's links,
rules and routes, and its private mount namespace holds

* ``/etc`` as an overlay over the host's (writes never reach the host),
  with ``/etc/conf.d``, ``/etc/init.d`` and ``/etc/iproute2`` bind-mounted
  from the world's temporary directory and a world-owned ``/etc/rc.conf``;
* ``/run`` as a tmpfs with a fresh ``/run/openrc`` (``softlevel`` present)
  and ``/run/netns`` (for peer namespaces and ``netns_<IFVAR>``);
* ``/sys`` remounted for the new network namespace, with a tmpfs on
  ``/sys/fs/cgroup`` so OpenRC's cgroup code never touches the host;
* ``/usr/bin`` as an overlay whose only change is ``sh``, pointing at the
  chosen shell (bash, dash or busybox), since openrc-run runs ``/bin/sh``.

Every command of the test (``rc``, ``ip``, ``run``) enters both namespaces
with ``nsenter``. Closing the world kills what runs in its namespaces and
the holder, so the namespaces, links and mounts vanish; nothing is created
on the host except the temporary directory, which is removed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

HERE = Path(__file__).resolve().parent
NET_LO = HERE / "net.lo"
STANDIN_MODULES_DIR = HERE / "modules"
# Modules every world gets unless told otherwise: the interface provider,
# the MAC-keyed settings mapper and the VLAN maker, as on a stock Gentoo
# install (the vlan module does nothing without vlans_<IFVAR>).
DEFAULT_MODULES = ("iproute2", "macnet", "vlan")

SHELLS = {
    "bash": "/usr/bin/bash",
    "dash": "/usr/bin/dash",
    "busybox": "/usr/bin/busybox",
}

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OPENRC_RUN = shutil.which("openrc-run", path=PATH) or "/sbin/openrc-run"
OPENRC_DIRS = (
    "daemons", "exclusive", "failed", "hotplugged", "inactive", "options",
    "scheduled", "started", "starting", "stopping", "tmp", "wasinactive",
)
# Services net.* scripts "need"; stood in and marked started.
STUB_SERVICES = ("sysfs", "localmount")

RT_TABLES = """\
# reserved values (test world)
255\tlocal
254\tmain
253\tdefault
0\tunspec
"""

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Make the holder die if the test process dies (set before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _ns_inode(pid: int, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


class WorldError(RuntimeError):
    """The world could not be built or a command in it failed."""


class World:
    """One test's private network + mount namespace running OpenRC.

    Paths on the host side (``conf_dir``, ``initd_dir``, ``iproute2_dir``,
    ``modules_dir``) are the very directories the world sees as
    ``/etc/conf.d``, ``/etc/init.d``, ``/etc/iproute2`` and ``MODULESDIR``.
    """

    def __init__(
        self,
        shell: str = "dash",
        modules: Iterable[str] = DEFAULT_MODULES,
        rc_conf: str = "",
        base: str | os.PathLike | None = None,
        join_netns: str | os.PathLike | None = None,
    ) -> None:
        if shell not in SHELLS:
            raise ValueError(f"shell must be one of {sorted(SHELLS)}")
        self.root = Path(tempfile.mkdtemp(prefix="nrc-", dir=base))
        self.conf_dir = self.root / "conf.d"
        self.initd_dir = self.root / "init.d"
        self.iproute2_dir = self.root / "iproute2"
        self.rt_tables = self.iproute2_dir / "rt_tables"
        self.rt_tables_d = self.iproute2_dir / "rt_tables.d"
        self.modules_dir = self.root / "modules"
        self.shell = shell
        self._rc_conf_extra = rc_conf
        self._holder: subprocess.Popen | None = None
        self._netns_ino: int | None = None
        self._mntns_ino: int | None = None
        self._sh_layer = 0
        self._initial_modules = tuple(modules)
        # An existing network namespace (e.g. /run/netns/NAME) to run in
        # instead of a new one: `make demo` runs OpenRC in the lab's box.
        self._join_netns = str(join_netns) if join_netns else None

    # -- lifecycle -----------------------------------------------------

    def __enter__(self) -> "World":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> "World":
        for d in (self.conf_dir, self.initd_dir, self.rt_tables_d,
                  self.modules_dir, self.root / "scratch"):
            d.mkdir(parents=True, exist_ok=True)
        self.rt_tables.write_text(RT_TABLES)
        (self.conf_dir / "net").write_text("")
        self._write_rc_conf()
        shutil.copy(NET_LO, self.initd_dir / "net.lo")
        os.chmod(self.initd_dir / "net.lo", 0o755)
        for svc in STUB_SERVICES:
            stub = self.initd_dir / svc
            stub.write_text(f"#!{OPENRC_RUN}\n"
                            "description=\"test stand-in\"\n"
                            "start() { :; }\n")
            stub.chmod(0o755)
        for name in self._initial_modules:
            self.install_module(STANDIN_MODULES_DIR / f"{name}.sh")
        self._start_holder()
        self.set_shell(self.shell)
        return self

    def _write_rc_conf(self) -> None:
        (self.root / "rc.conf").write_text(
            "# rc.conf of a test world\n"
            f"MODULESDIR=\"{self.modules_dir}\"\n"
            # No cgroup2 path: keeps OpenRC away from cgroups entirely.
            "rc_cgroup_mode=\"legacy\"\n"
            f"{self._rc_conf_extra}\n")

    def _setup_script(self) -> str:
        r = self.root
        s = r / "scratch"
        dirs = " ".join(OPENRC_DIRS)
        stubs = " ".join(STUB_SERVICES)
        return f"""set -e
mount -t tmpfs -o mode=0755 nrc-scratch '{s}'
mkdir -p '{s}/etc.up' '{s}/etc.work'
mount -t overlay nrc-etc -o 'lowerdir=/etc,upperdir={s}/etc.up,workdir={s}/etc.work' /etc
mkdir -p /etc/conf.d /etc/init.d /etc/iproute2
mount --bind '{r}/conf.d' /etc/conf.d
mount --bind '{r}/init.d' /etc/init.d
mount --bind '{r}/iproute2' /etc/iproute2
rm -rf /etc/rc.conf.d
touch /etc/rc.conf
mount --bind '{r}/rc.conf' /etc/rc.conf
mount -t tmpfs -o mode=0755 nrc-run /run
mkdir -p /run/openrc /run/netns
cd /run/openrc && mkdir -p {dirs} && touch softlevel
for s in {stubs}; do ln -s /etc/init.d/$s /run/openrc/started/$s; done
cd /
mount -t sysfs nrc-sysfs /sys
mount -t tmpfs nrc-cgroup /sys/fs/cgroup
ip link set lo up
echo ready
exec sleep 2147483647
"""

    def _start_holder(self) -> None:
        if self._join_netns:
            argv = ["nsenter", f"--net={self._join_netns}", "--",
                    "unshare", "--mount", "--propagation", "private"]
        else:
            argv = ["unshare", "--mount", "--net", "--propagation", "private"]
        self._holder = subprocess.Popen(
            argv + ["/bin/sh", "-c", self._setup_script()],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent,
            env={"PATH": PATH})
        line = self._holder.stdout.readline()
        if line.strip() != "ready":
            err = self._holder.stderr.read() if self._holder.poll() is not None else ""
            self.close()
            raise WorldError(f"world setup failed: {line}{err}")
        self._netns_ino = _ns_inode(self._holder.pid, "net")
        self._mntns_ino = _ns_inode(self._holder.pid, "mnt")

    def close(self, keep_files: bool = False) -> None:
        """Kill everything in the world's namespaces, then remove it."""
        holder = self._holder
        self._holder = None
        if holder is not None:
            for pid in self._pids_inside(exclude=holder.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if holder.poll() is None:
                holder.kill()
            holder.wait(timeout=10)
            for stream in (holder.stdout, holder.stderr):
                if stream:
                    stream.close()
        if not keep_files and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def _pids_inside(self, exclude: int) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == exclude:
                continue
            pid = int(entry)
            if ((not self._join_netns and _ns_inode(pid, "net") == self._netns_ino)
                    or _ns_inode(pid, "mnt") == self._mntns_ino):
                found.append(pid)
        return found

    @property
    def holder_pid(self) -> int:
        if self._holder is None:
            raise WorldError("world is not open")
        return self._holder.pid

    # -- running things inside -----------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        netns: str | None = None,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = False,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess:
        """Run argv inside the world (and inside peer namespace netns)."""
        full_env = {"PATH": PATH, "LC_ALL": "C", "TERM": "dumb"}
        full_env.update(env or {})
        cmd = ["nsenter", "-t", str(self.holder_pid), "-m", "-n", "--"]
        cmd += ["env", "-i"] + [f"{k}={v}" for k, v in full_env.items()]
        if netns:
            cmd += ["ip", "netns", "exec", netns]
        cmd += list(argv)
        proc = subprocess.run(cmd, input=input, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise WorldError(
                f"{' '.join(argv)} -> {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        """Run a shell snippet inside the world with the world's /bin/sh."""
        return self.run(["/bin/sh", "-c", script], **kw)

    def rc(
        self,
        service: str,
        *commands: str,
        verbose: bool = False,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess:
        """``rc-service SERVICE COMMAND...`` for real, inside the world.

        A ``net.*`` service that has no script yet gets its net.lo link.
        Note that OpenRC filters the environment it passes to the script
        (rc_env_allow); put settings in conf.d instead.
        """
        if service.startswith("net.") and not (
                self.initd_dir / service).exists():
            self.add_service(service)
        argv = ["rc-service", "--nocolor"]
        if verbose:
            argv.append("--verbose")
        argv += [service, *commands]
        return self.run(argv, env=env, timeout=timeout)

    def ip(self, *args: str, netns: str | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
        """Run ``ip ARGS`` in the world (``ip -n NETNS`` for a peer)."""
        pre = ["-n", netns] if netns else []
        return self.run(["ip", *pre, *args], check=check)

    def ip_json(self, *args: str, family: int | None = None,
                netns: str | None = None):
        """``ip -j [-4|-6] ARGS`` parsed; [] when ip prints nothing."""
        fam = [f"-{family}"] if family else []
        out = self.ip("-j", *fam, *args, netns=netns).stdout.strip()
        return json.loads(out) if out else []

    def rules(self, family: int = 4, netns: str | None = None) -> list[dict]:
        return self.ip_json("rule", "show", family=family, netns=netns)

    def addresses(self, dev: str, family: int | None = None) -> list[str]:
        """'ADDR/PLEN' of dev's addresses (all scopes)."""
        data = self.ip_json("addr", "show", "dev", dev, family=family)
        return [f"{a['local']}/{a['prefixlen']}"
                for link in data for a in link.get("addr_info", [])]

    def routes(self, *selector: str, family: int = 4) -> list[dict]:
        return self.ip_json("route", "show", *selector, family=family)

    # -- configuring the world -----------------------------------------

    def write_conf(self, text: str, name: str = "net") -> Path:
        """Write /etc/conf.d/NAME (default: conf.d/net) of the world."""
        path = self.conf_dir / name
        path.write_text(text)
        return path

    def add_service(self, service: str) -> Path:
        """Make /etc/init.d/SERVICE a symlink to net.lo."""
        link = self.initd_dir / service
        if not link.exists():
            link.symlink_to("net.lo")
        return link

    def install_module(self, path: str | os.PathLike,
                       name: str | None = None) -> Path:
        """Copy a module file into MODULESDIR (as NAME.sh if given)."""
        src = Path(path)
        dest = self.modules_dir / (f"{name}.sh" if name else src.name)
        shutil.copyfile(src, dest)
        return dest

    def write_module(self, name: str, text: str) -> Path:
        """Create MODULESDIR/NAME.sh with the given text."""
        dest = self.modules_dir / f"{name}.sh"
        dest.write_text(text)
        return dest

    def remove_module(self, name: str) -> None:
        (self.modules_dir / f"{name}.sh").unlink()

    def write_rc_conf(self, extra: str) -> None:
        """Replace the extra lines of the world's /etc/rc.conf."""
        self._rc_conf_extra = extra
        self._write_rc_conf()

    def write_rt_tables(self, text: str, name: str | None = None) -> Path:
        """Write rt_tables (name None) or rt_tables.d/NAME."""
        path = self.rt_tables if name is None else self.rt_tables_d / name
        path.write_text(text)
        return path

    def set_shell(self, shell: str) -> None:
        """Point the world's /bin/sh at bash, dash or busybox."""
        if shell not in SHELLS:
            raise ValueError(f"shell must be one of {sorted(SHELLS)}")
        self._sh_layer += 1
        layer = self.root / "scratch" / f"sh{self._sh_layer}"
        # A fresh overlay on top of the previous one; only "sh" differs.
        script = (
            f"mkdir -p '{layer}/up' '{layer}/work' && "
            f"ln -s '{SHELLS[shell]}' '{layer}/up/sh' && "
            f"mount -t overlay nrc-sh -o 'lowerdir=/usr/bin,"
            f"upperdir={layer}/up,workdir={layer}/work' /usr/bin")
        # Run by an explicit shell so the old /bin/sh is not needed.
        self.run(["/usr/bin/dash", "-c", script], check=True)
        self.shell = shell

    def netns(self, name: str) -> str:
        """A named peer namespace inside the world (lo up); returns name."""
        if name not in self.ip("netns", "list").stdout.split():
            self.ip("netns", "add", name)
            self.ip("link", "set", "lo", "up", netns=name)
        return name

    def veth(
        self,
        name: str,
        peer: str | None = None,
        peer_netns: str | None = "peer",
        mac: str | None = None,
        peer_mac: str | None = None,
    ) -> str:
        """Create veth NAME (left down, for netifrc to bring up).

        Its peer (default: NAME + "p", shortened to 15 characters) goes into
        the world's namespace ``peer_netns`` (None keeps it beside NAME) and
        is brought up so NAME gets a carrier. Returns the peer's name.
        """
        peer = peer or (name + "p" if len(name) < 15 else "p" + name[-14:])
        args = ["link", "add", name]
        if mac:
            args += ["address", mac]
        args += ["type", "veth", "peer", "name", peer]
        if peer_mac:
            args += ["address", peer_mac]
        if peer_netns:
            self.netns(peer_netns)
            args += ["netns", peer_netns]
        self.ip(*args)
        self.ip("link", "set", peer, "up", netns=peer_netns)
        return peer

    def service_value(self, service: str, key: str) -> str | None:
        """What the service stored with service_set_value KEY, or None."""
        proc = self.run(["cat", f"/run/openrc/options/{service}/{key}"])
        return proc.stdout if proc.returncode == 0 else None

    def service_status(self, service: str) -> str:
        """started / stopped / failed / ... as OpenRC records it."""
        for state in ("started", "starting", "stopping", "inactive",
                      "failed"):
            if self.run(["test", "-e",
                         f"/run/openrc/{state}/{service}"]).returncode == 0:
                return state
        return "stopped"


def host_snapshot() -> dict:
    """What the host must still look like after a test.

    Rules and links of the main network namespace and the names + mtimes
    of the /etc and /run paths a world shadows. Host-wide named network
    namespaces are left out on purpose: other test tiers create and remove
    theirs concurrently (a world never makes one on the host; see
    test_close_removes_namespaces_and_files).
    """
    def ip(*args: str) -> str:
        return subprocess.run(["ip", *args], capture_output=True,
                              text=True).stdout

    def listing(path: str) -> tuple:
        p = Path(path)
        if not p.exists():
            return ()
        return tuple(sorted((e.name, e.lstat().st_mtime_ns)
                            for e in p.iterdir()))

    return {
        "rules4": ip("-N", "-4", "rule", "show"),
        "rules6": ip("-N", "-6", "rule", "show"),
        "links": ip("-o", "link", "show"),
        "etc": listing("/etc"),
        "etc_iproute2": listing("/etc/iproute2"),
        "etc_initd": listing("/etc/init.d"),
        "run_openrc": listing("/run/openrc"),
        "usr_bin_sh": os.readlink("/usr/bin/sh")
        if os.path.islink("/usr/bin/sh") else None,
    }


def wait_for(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll predicate() until true or timeout; returns the last result."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)
