"""Boot Debian's user-mode-linux kernel once for a batch of checks.

    stage = Stage.make(tmp)               # guest scripts + installed helper
    boot = run(stage, "scenario_seed.sh")  # one boot, every block back
    boot.block("rules-after").json()

linux.uml runs as an ordinary process as an unprivileged uid (GUEST_UID),
with the host's root as a read-only hostfs and a writable uml_dir and
TMPDIR inside the stage; it cannot write the host, and the guest's init
(guest/init.sh) puts every write on tmpfs. It always exits 0: the verdict
is the last "@@kt status RC" line on its console.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OPENRC = REPO / "tests" / "openrc"
UML = "/usr/bin/linux.uml"
UML_MODULES = Path("/usr/lib/uml/modules")
GUEST_UID = 65534          # nobody: the kernel process owns nothing else
MEMORY = "384M"
# What one boot may take, whatever its scenario does: UML itself always
# powers off, so this only catches a guest that hangs.
BOOT_TIMEOUT = 240
BEGIN = re.compile(r"^@@kt begin (\S+)$")
END = re.compile(r"^@@kt end (\S+) (-?\d+)$")
STATUS = re.compile(r"^@@kt status (-?\d+)$")
MS = re.compile(r"^@@kt ms (\d+)$")


class BootError(RuntimeError):
    """The boot did not end with a status line, or a block is missing."""


@dataclass
class Block:
    name: str
    rc: int
    text: str
    ms: int | None = None

    def docs(self) -> list:
        """Each JSON document in the block, in order (ip -json prints one
        per command)."""
        out, dec, text = [], json.JSONDecoder(), self.text.strip()
        i = 0
        while i < len(text):
            doc, i = dec.raw_decode(text, i)
            out.append(doc)
            while i < len(text) and text[i].isspace():
                i += 1
        return out

    def json(self) -> list:
        """Every JSON document's items, concatenated into one list."""
        return [x for doc in self.docs() for x in (doc if isinstance(doc, list) else [doc])]

    def lines(self) -> list[str]:
        return [x for x in self.text.splitlines() if x.strip()]


@dataclass
class Boot:
    script: str
    status: int | None
    seconds: float
    log: str
    blocks: dict[str, Block] = field(default_factory=dict)

    def block(self, name: str) -> Block:
        if name not in self.blocks:
            raise BootError(f"{self.script}: no block {name!r} (status "
                            f"{self.status}); console tail:\n{self.tail()}")
        return self.blocks[name]

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


def parse(script: str, log: str, seconds: float) -> Boot:
    """Blocks and status from the console. A block's lines are kept as
    printed; kernel messages are kept off the console by init.sh."""
    boot = Boot(script, None, seconds, log)
    name, buf, ms = None, [], None
    for raw in log.splitlines():
        line = raw.rstrip("\r")
        if m := BEGIN.match(line):
            name, buf, ms = m.group(1), [], None
        elif (m := END.match(line)) and name == m.group(1):
            boot.blocks[name] = Block(name, int(m.group(2)), "\n".join(buf), ms)
            name = None
        elif (m := MS.match(line)) and name is not None:
            ms = int(m.group(1))
        elif m := STATUS.match(line):
            boot.status = int(m.group(1))
        elif name is not None:
            buf.append(line)
    return boot


@dataclass
class Stage:
    """Everything the guest reads from the host, in one world-readable
    folder: guest scripts, the OpenRC stand-in, the installed helper."""
    root: Path

    @classmethod
    def make(cls, base: Path | None = None) -> "Stage":
        root = Path(tempfile.mkdtemp(prefix="kt-", dir=base))
        root.chmod(0o755)
        shutil.copytree(HERE / "guest", root / "guest")
        (root / "openrc").mkdir()
        shutil.copy(OPENRC / "net.lo", root / "openrc" / "net.lo")
        shutil.copytree(OPENRC / "modules", root / "openrc" / "modules")
        inst = root / "inst"
        subprocess.run(
            ["make", "-s", "-C", str(REPO), "install", "DESTDIR=", f"PREFIX={inst}/usr",
             f"MODULEDIR={inst}/lib/netifrc/net", f"IPROUTE2DIR={inst}/etc/iproute2",
             "PYTHON=/usr/bin/python3"], check=True, capture_output=True)
        for d, _dirs, files in os.walk(root):
            os.chmod(d, 0o755)
            for f in files:
                p = os.path.join(d, f)
                os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)
        return cls(root)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def command(stage: Stage, script: str, rundir: Path) -> list[str]:
    """The argv of one boot: linux.uml as GUEST_UID, dying with us."""
    return [
        "setpriv", f"--reuid={GUEST_UID}", f"--regid={GUEST_UID}", "--clear-groups",
        "--pdeathsig", "KILL",
        "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"TMPDIR={rundir}",
        UML, "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro",
        f"mem={MEMORY}", "quiet", "loglevel=1", "con=null", "con0=null,fd:1",
        f"uml_dir={rundir}", f"init={stage.root}/guest/init.sh",
        f"KT_STAGE={stage.root}", f"KT_SCRIPT={stage.root}/guest/{script}",
    ]


def start(stage: Stage, script: str) -> "Running":
    """Start one boot in the background (see Running.wait)."""
    rundir = Path(tempfile.mkdtemp(prefix="run-", dir=stage.root))
    os.chown(rundir, GUEST_UID, GUEST_UID)
    console = open(rundir / "console", "w+")
    proc = subprocess.Popen(command(stage, script, rundir), stdin=subprocess.DEVNULL,
                            stdout=console, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return Running(script, proc, console, rundir, time.monotonic())


@dataclass
class Running:
    script: str
    proc: subprocess.Popen
    console: object
    rundir: Path
    started: float

    def wait(self, timeout: float = BOOT_TIMEOUT) -> Boot:
        """The boot's blocks once it powered off; killed after timeout."""
        left = max(1.0, timeout - (time.monotonic() - self.started))
        try:
            self.proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._kill()
        seconds = time.monotonic() - self.started
        self.console.seek(0)
        log = self.console.read()
        self.console.close()
        shutil.rmtree(self.rundir, ignore_errors=True)
        boot = parse(self.script, log, seconds)
        if boot.status is None:
            raise BootError(f"{self.script}: no status line after {seconds:.0f} s "
                            f"(timeout {timeout} s); console tail:\n{boot.tail()}")
        return boot

    def _kill(self) -> None:
        """UML's helper processes share its process group: end them all."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def run(stage: Stage, script: str, timeout: float = BOOT_TIMEOUT) -> Boot:
    return start(stage, script).wait(timeout)


def unusable() -> str | None:
    """Why this tier cannot run here, or None."""
    if os.geteuid() != 0:
        return "the kernel tier needs root (to run linux.uml as another uid)"
    if not os.access(UML, os.X_OK):
        return f"{UML} not found (Debian package user-mode-linux; make debs)"
    if not any(UML_MODULES.glob("*/modules.dep")):
        return f"no kernel modules under {UML_MODULES}"
    for tool in ("setpriv", "busybox", "rc-service"):
        if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
            return f"{tool} not found"
    return None
