"""Read /etc/conf.d/net the way netifrc does: it is shell, so /bin/sh
evaluates it, here in an unprivileged sandbox. We never parse shell
ourselves, and no value we read is ever handed back to a shell."""

import os
import re

from .errors import ConfigError, StateError

END = "__policyroute_config_read__"
PREFIXES = ("table_", "rules_", "rules6_", "policyroute_guard_", "policyroute_arp_", "netns_",
            "config_", "failover_")


def read_config(path, shell="/bin/sh"):
    """Every variable the file sets, as {name: value}.

    The file is shell and runs: root reads its bytes (so a 0600 file
    works) and a shell in a throwaway sandbox (sandbox_child) evaluates
    them from stdin, as nobody, in network, mount, IPC and UTS namespaces
    of its own: it cannot write as root nor see the host's interfaces.
    """
    # Syntax first (sh -n), then eval; the end marker proves the text did
    # not stop the shell early (an `exit` in it); its last status is ignored.
    # Values are printed by the shell's own printf, never through an exec's
    # environment, where one over 128 kB would not fit (E2BIG). `set` lists
    # the names (a multi-line value may show lines that look like more
    # names: those are printed only when set, with their real values).
    script = ('__text=$(cat; echo .); __text=${__text%.}; '
              'printf "%s" "$__text" | "$1" -n || exit 3; eval "$__text"; printf "%s\\0" "$2"; '
              'for n in $(set | sed -n "s/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p"); do '
              'case $n in ' + "|".join(p + "*" for p in PREFIXES) + ') '
              'eval "[ -n \\"\\${$n+x}\\" ]" && eval "printf \'%s=%s\\0\' \\"\\$n\\" '
              '\\"\\${$n}\\"";; esac; done')
    import ctypes                       # only the commands that read a file pay for it
    import subprocess
    libc = ctypes.CDLL(None, use_errno=True)
    path = os.path.abspath(path)
    text = _read_bytes(path)
    try:
        proc = subprocess.run([shell, "-c", script, "sh", shell, END], input=text,
                              capture_output=True, cwd="/",
                              preexec_fn=lambda: sandbox_child(libc),
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=False)
    except subprocess.SubprocessError as e:
        # preexec_fn failed: no sandbox, so the file does not run at all
        raise StateError(f"{path}: cannot be evaluated in a sandbox: {e}") from None
    except OSError as e:
        raise ConfigError(str(path), None, None, f"cannot be read: {e.strerror}") from None
    why = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode == 3:
        # "/bin/sh: 2: Syntax error: ..." (dash), "sh: line 2: ..." (bash)
        why = SHELL_LINE_RE.sub(r"line \1: ", why[-1]) if why else "sh -n failed"
        raise ConfigError(path, None, None, f"is not valid shell: {why}")
    head, marker, env = proc.stdout.partition(END.encode() + b"\0")
    if not marker or proc.returncode != 0:
        raise ConfigError(path, None, None, "stops the shell before its end (an exit in it?)")
    out = {}
    for item in env.split(b"\0"):
        name, sep, value = item.decode("utf-8", "surrogateescape").partition("=")
        if sep and name.startswith(PREFIXES):
            out[name] = value
    return out


def _read_bytes(path):
    if not os.path.exists(path):
        raise ConfigError(path, None, None, "does not exist")
    if not os.path.isfile(path):
        raise ConfigError(path, None, None, "is not a file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(path, None, None, f"cannot be read: {e.strerror}") from None


SHELL_LINE_RE = re.compile(r"^[^:]*: (?:line )?(\d+): ")
NOBODY = 65534
SANDBOX_NS = 0x40000000 | 0x00020000 | 0x08000000 | 0x04000000   # NEWNET NEWNS NEWIPC NEWUTS
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38


def sandbox_child(libc):
    """In the shell's process before exec: namespaces of its own, then
    nobody (uid and gid 65534, no supplementary groups) for good, with
    no_new_privs so no setuid program gives root back. Not root already:
    a user namespace makes the others, and the caller's own uid stays.

    Where the kernel or a container refuses new namespaces, the shell
    runs without them (a boot must not fail for that); never as root."""
    import ctypes                       # imported by read_config already
    root = os.geteuid() == 0
    libc.unshare(SANDBOX_NS if root else SANDBOX_NS | CLONE_NEWUSER)
    if root:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs: " + os.strerror(ctypes.get_errno()))


def interface_values(variables, ifvar):
    """The keyword arguments parse.parse_interface takes, for one IFVAR."""
    return dict(table=variables.get(f"table_{ifvar}"),
                rules=variables.get(f"rules_{ifvar}"),
                rules6=variables.get(f"rules6_{ifvar}"),
                guard=variables.get(f"policyroute_guard_{ifvar}"),
                arp=variables.get(f"policyroute_arp_{ifvar}"),
                netns=variables.get(f"netns_{ifvar}"))


def unit_values(variables, ifvar):
    """One interface's values as the module passes them (parse.INPUTS)."""
    return dict(ifvar=ifvar, table=variables.get(f"table_{ifvar}"),
                rules=variables.get(f"rules_{ifvar}"),
                rules6=variables.get(f"rules6_{ifvar}"),
                guard=variables.get(f"policyroute_guard_{ifvar}"),
                arp=variables.get(f"policyroute_arp_{ifvar}"),
                failover=variables.get(f"failover_{ifvar}"),
                configured=variables.get(f"config_{ifvar}"))


def table_names(variables):
    """Every table_ value that is a name (not a number), for registration."""
    names = []
    for name, value in variables.items():
        v = value.strip()
        if name.startswith("table_") and v and not v.isdigit() and not v.startswith("0x"):
            names.append(v)
    return names
