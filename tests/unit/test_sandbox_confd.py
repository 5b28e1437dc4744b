"""confd.read_config runs conf.d/net in a sandbox: nobody, no_new_privs,
namespaces of its own; root only reads the file's bytes.

These tests run as root (the sandbox drops to nobody only from root); each
one's files are under its tmp_path, and the sandbox's namespaces vanish with
its shell. Nothing on the host is changed: the point of each test is that
the file cannot."""

import os
import subprocess

import pytest

from policyroute import confd, parse
from policyroute.errors import ConfigError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops root only from root")


def conf(tmp_path, text, mode=0o644):
    p = tmp_path / "net"
    p.write_text(text)
    p.chmod(mode)
    return p


def test_a_root_only_file_is_read(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    p = conf(private, 'table_eth0="e0"\n', mode=0o600)
    assert confd.read_config(p) == {"table_eth0": "e0"}


def test_the_file_runs_as_nobody_without_groups_and_no_new_privs(tmp_path):
    p = conf(tmp_path, 'config_a="$(id -u) $(id -g) $(id -G)"\n'
                       'config_b="$(sed -n "s/^NoNewPrivs:[[:space:]]*//p" /proc/self/status)"\n'
                       'config_c="$(sed -n "s/^CapEff:[[:space:]]*//p" /proc/self/status)"\n')
    v = confd.read_config(p)
    assert v["config_a"] == "65534 65534 65534"
    assert v["config_b"] == "1"
    assert int(v["config_c"], 16) == 0              # no capability left


def test_the_file_cannot_write_where_only_root_may(tmp_path):
    root_only = tmp_path / "root-only"
    root_only.mkdir(mode=0o755)
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    victim.chmod(0o644)
    p = conf(tmp_path, f'touch {root_only}/pwned 2>/dev/null; echo x >> {victim} 2>/dev/null\n'
                       f'config_a="$(touch {root_only}/pwned 2>&1)"\n'
                       'table_eth0="e0"\n')
    v = confd.read_config(p)
    assert not (root_only / "pwned").exists()
    assert victim.read_text() == "untouched\n"
    assert "Permission denied" in v["config_a"]
    assert v["table_eth0"] == "e0"                   # the rest of the file still counts


def host_interfaces():
    with open("/proc/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])


def test_the_file_sees_none_of_the_hosts_interfaces(tmp_path):
    host = host_interfaces()
    if host == ["lo"]:
        pytest.skip("the host has no interface but lo to hide")
    p = conf(tmp_path, 'config_a="$(sed -n "3,\\$s/:.*//p" /proc/net/dev | tr -d " ")"\n'
                       'config_b="$(ip -o link show 2>&1 | cut -d: -f2 | tr -d " ")"\n')
    v = confd.read_config(p)
    assert v["config_a"] == "lo"
    assert v["config_b"] in ("lo", "")              # no ip binary: nothing seen either
    assert host != ["lo"]


def test_the_sandbox_has_namespaces_of_its_own(tmp_path):
    # Compared by identity, not tried (a failed sandbox must not rename
    # the host).
    kinds = ("net", "mnt", "ipc", "uts")
    p = conf(tmp_path, "".join(f'config_{k}="$(readlink /proc/self/ns/{k})"\n' for k in kinds))
    v = confd.read_config(p)
    for k in kinds:
        assert v[f"config_{k}"].startswith(f"{k}:[")
        assert v[f"config_{k}"] != os.readlink(f"/proc/self/ns/{k}")


def test_a_syntax_error_is_one_line_naming_the_file(tmp_path):
    p = conf(tmp_path, 'table_eth0="e0"\nrules_eth0="from 192.0.2.1\n', mode=0o600)
    with pytest.raises(ConfigError) as info:
        confd.read_config(p)
    assert info.value.variable == str(p)
    assert len(info.value.lines()) == 1
    assert info.value.message() == (f"{p}: is not valid shell: line 3: Syntax error: "
                                    "Unterminated quoted string")


def test_values_read_in_the_sandbox_are_what_check_parses(tmp_path):
    p = conf(tmp_path, 'table_eth1="e1"\nrules_eth1="from 192.0.2.17\n\tfwmark 7"\n')
    v = confd.read_config(p)
    cfg = parse.parse_interface("eth1", **confd.interface_values(v, "eth1"))
    assert [r.origin.line for r in cfg.rules] == [1, 2]


def test_check_runs_a_root_only_file_as_nobody(tmp_path, iproute2_dir):
    # the whole command, as a user runs it: the file's side effect is refused
    marker = tmp_path / "made-by-the-file"
    os.chmod(tmp_path, 0o755)
    p = conf(tmp_path, f'touch {marker}\ntable_eth1="e1"\n', mode=0o600)
    env = dict(os.environ, POLICYROUTE_IPROUTE2_DIR=str(iproute2_dir))
    proc = subprocess.run([os.sys.executable, "-m", "policyroute", "check", str(p)],
                          capture_output=True, text=True, env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{p}: 1 interfaces, no problems\n", "")
    assert not marker.exists()


def test_without_namespaces_the_file_still_runs_as_nobody(tmp_path, monkeypatch):
    # a container that refuses unshare: here, flags the kernel rejects
    monkeypatch.setattr(confd, "SANDBOX_NS", 0xFF)
    p = conf(tmp_path, 'config_a="$(id -u) $(id -G)"\nconfig_b="$(readlink /proc/self/ns/net)"\n')
    v = confd.read_config(p)
    assert v["config_a"] == "65534 65534"
    assert v["config_b"] == os.readlink("/proc/self/ns/net")     # no namespace was made
