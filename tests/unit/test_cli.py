"""cli.main: one line per problem on stderr, documented exit codes, no
traceback. Only pre-start runs here: it touches no kernel."""

import json
import os
import subprocess
import sys

import pytest

from policyroute import __version__, cli, kernel
from policyroute.commands import check
from policyroute.tables import Registry


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def own_file(isolated):
    return isolated["iproute2"] / "rt_tables.d" / "policyroute.conf"


def test_bad_config_exit_1_one_line_per_problem(capsys, iproute2_dir, isolated):
    before = sorted(p.name for p in iproute2_dir.rglob("*"))
    code, out, err = run(capsys, "pre-start", "eth1.10", "--table", "e1v10",
                         "--rules", "from 192.0.2.17 lookup e1v10\nfrmo 192.0.2.18\n"
                                    "priority 21000 lookup e1v10",
                         "--rules6", "from 192.0.2.17")
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "policyroute: error: rules_eth1_10 line 2: 'frmo' is not an ip rule selector or action",
        "policyroute: error: rules_eth1_10 line 3: '21000' is in policyroute's automatic band "
        "20000-22255",
        "policyroute: error: rules6_eth1_10 line 1: '192.0.2.17' is not an IPv6 address",
    ]
    assert "Traceback" not in err
    # nothing was registered: rt_tables.d was not even created
    assert sorted(p.name for p in iproute2_dir.rglob("*")) == before
    assert not (iproute2_dir / "rt_tables.d").exists()


def test_unknown_lookup_table_is_a_config_error_and_writes_nothing(capsys, iproute2_dir):
    code, _out, err = run(capsys, "pre-start", "eth1.10", "--table", "e1v10",
                          "--rules", "fwmark 7 lookup nosuch")
    assert code == 1
    assert err == ("policyroute: error: rules_eth1_10 line 1: 'nosuch' is not a table "
                   "iproute2 knows (rt_tables, rt_tables.d) nor any table_\n")
    assert not (iproute2_dir / "rt_tables.d").exists()


def test_good_config_registers_the_table(capsys, iproute2_dir, isolated):
    code, out, err = run(capsys, "pre-start", "eth1.10", "--table", "e1v10",
                         "--rules", "from 192.0.2.17 lookup hundred\nfwmark 7")
    assert (code, out, err) == (0, "", "")
    assert Registry(iproute2_dir).lookup("e1v10") == 1024
    assert own_file(isolated).read_text().splitlines()[1:] == ["1024\te1v10"]
    # pre-start records nothing: its one file there is the registration lock
    assert [p.name for p in isolated["state"].iterdir()] == [".tables.lock"]
    # a second pre-start is a no-op
    content = own_file(isolated).read_text()
    assert run(capsys, "pre-start", "eth1.10", "--table", "e1v10")[0] == 0
    assert own_file(isolated).read_text() == content


def test_pre_start_registers_sibling_tables_from_config(capsys, iproute2_dir, isolated, tmp_path):
    conf = tmp_path / "net"
    conf.write_text('table_eth2="zeta"\ntable_eth3="main"\ntable_eth1_10="e1v10"\n'
                    "table_eth4='$(bad name)'\ntable_eth5=1030\n")
    code, _out, err = run(capsys, "pre-start", "eth2", "--table", "zeta", "--config", str(conf))
    assert (code, err) == (0, "")
    r = Registry(iproute2_dir)
    assert (r.lookup("e1v10"), r.lookup("zeta")) == (1024, 1025)


def test_paths_from_options_beat_environment(capsys, tmp_path, isolated):
    elsewhere = tmp_path / "other-iproute2"
    code = run(capsys, "--iproute2-dir", str(elsewhere), "pre-start", "eth1.10",
               "--table", "e1v10")[0]
    assert code == 0
    assert Registry(elsewhere).lookup("e1v10") == 1024
    assert not isolated["iproute2"].exists()


def test_numeric_table_registers_nothing(capsys, iproute2_dir):
    assert run(capsys, "pre-start", "eth1.10", "--table", "1030")[0] == 0
    assert not (iproute2_dir / "rt_tables.d" / "policyroute.conf").exists()


@pytest.mark.parametrize("argv", [
    ["pre-start"],                                  # IFACE missing
    ["pre-start", "eth0", "--no-such-option"],
    ["no-such-command"],
    ["--state-dir"],
    [],
])
def test_usage_errors_exit_2(capsys, argv, isolated):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    assert err.strip(), "a usage error says something"
    assert out == ""
    assert not isolated["iproute2"].exists()


def test_usage_error_is_one_policyroute_error_line(capsys):
    code, _out, err = run(capsys, "pre-start")
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("policyroute: error: ")
    assert "IFACE" in line


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"policyroute {__version__}\n"


def test_help_lists_the_netifrc_hooks(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("pre-start", "post-start", "stop", "up", "down"):
        assert name in out


def test_unwritable_iproute2_dir_is_an_error_line_not_a_traceback(capsys, tmp_path, monkeypatch):
    # The iproute2 folder is a file, as good as a read-only /etc: a name
    # that must be registered is one error line naming table_ and the path.
    blocker = tmp_path / "iproute2-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("POLICYROUTE_IPROUTE2_DIR", str(blocker))
    try:
        code = cli.main(["pre-start", "eth1.10", "--table", "e1v10"])
    except OSError as e:
        pytest.fail(f"traceback reached the user: {e!r}")
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("policyroute: error: table_eth1_10: 'e1v10' ")
    assert f"{blocker}/rt_tables.d/policyroute.conf: Not a directory" in err


def test_global_option_value_named_like_a_command(capsys, tmp_path, monkeypatch):
    # The command whose arguments are loaded is found by parsing the global
    # options first: a folder called "stop" given to --iproute2-dir or
    # --state-dir is a value, not the command.
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "--iproute2-dir", "stop", "pre-start", "eth1.10",
                          "--table", "e1v10")
    assert (code, err) == (0, "")
    assert Registry(str(tmp_path / "stop")).lookup("e1v10") == 1024
    try:
        cli.main(["--state-dir", "stop", "pre-start"])
    except AttributeError as e:
        pytest.fail(f"traceback reached the user: {e!r}")


# ---------------------------------------------------------------- no traceback, ever

def one_error_line(err, code, *expected):
    """stderr is exactly one policyroute error line; code a documented one."""
    assert code in (1, 2, 3, 4, 5)
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert line.startswith("policyroute: error: "), line
    for text in expected:
        assert text in line, line
    return line


def fake_ip(tmp_path, stdout):
    """An `ip` that prints stdout whatever it is asked (no kernel needed)."""
    path = tmp_path / "fake-ip"
    path.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s' '{stdout}'\n")
    path.chmod(0o755)
    return path


EMPTY_ANSWERS = "[]" * 4            # observe asks four queries per family


def write_record(isolated, text):
    isolated["state"].mkdir(parents=True, exist_ok=True)
    path = isolated["state"] / "eth1.10.json"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.mark.parametrize("text", ["{garbage", b"\xff\xfe\x00binary", "[1, 2]",
                                  '{"version": 1, "iface": "eth1.10", "objects": 7}',
                                  '{"version": 1, "iface": "eth1.10", "objects": '
                                  '[{"kind": "rule", "family": "four", "args": []}]}'])
# down sets a corrupt record aside instead: tests/unit/test_recover_cli.py
@pytest.mark.parametrize("argv", [["show"], ["show", "eth1.10"], ["sync", "--all"]])
def test_corrupt_record_is_one_line_exit_4(capsys, isolated, tmp_path, text, argv):
    path = write_record(isolated, text)
    code, out, err = run(capsys, *argv, "--config", str(tmp_path / "absent"))
    one_error_line(err, code, f"{path}: unreadable record")
    assert (code, out) == (4, "")


@pytest.mark.parametrize("argv", [["show"]])
def test_record_of_wrong_shape_is_one_line_exit_4(capsys, isolated, tmp_path, monkeypatch,
                                                   argv):
    # Readable JSON whose sysctls are not [key, old, new] triples.
    write_record(isolated, json.dumps({"version": 1, "iface": "eth1.10", "objects": [],
                                       "sysctls": [["net/ipv4/conf/eth1.10/arp_ignore"]]}))
    monkeypatch.setattr(kernel, "IP", str(fake_ip(tmp_path, EMPTY_ANSWERS)))
    code, _out, err = run(capsys, *argv, "--config", str(tmp_path / "absent"))
    assert code == 4
    one_error_line(err, code, "unreadable record (sysctls are not [key, old, new] triples)")


@pytest.mark.parametrize("name,content", [
    ("binary.conf", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4),
    ("latin1.conf", "1030 caf\xe9\n1031 na\xefve\n".encode("latin-1")),
    ("huge.conf", b"99999999999999999999999999 big\n" + b"7" * 6000 + b" giant\n"
                  b"0xfffffffffffffffffffff hex\n-1 neg\n"),
])
def test_garbage_rt_tables_d_file_does_not_stop_pre_start(capsys, iproute2_dir, name, content):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / name).write_bytes(content)
    code, out, err = run(capsys, "pre-start", "eth1.10", "--table", "e1v10")
    assert (code, out, err) == (0, "", "")
    assert Registry(iproute2_dir).lookup("e1v10") == 1024
    assert (d / name).read_bytes() == content            # never ours to rewrite


def helper(tmp_path, *argv, **env):
    """The helper as a process (python -m policyroute), as a user runs it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("POLICYROUTE_")}
    full.update(POLICYROUTE_STATE_DIR=str(tmp_path / "state"),
                POLICYROUTE_IPROUTE2_DIR=str(tmp_path / "iproute2"),
                POLICYROUTE_IPROUTE2_DATA_DIRS="", **env)
    return subprocess.run([sys.executable, "-m", "policyroute", *argv], capture_output=True,
                          text=True, env=full, timeout=60)


@pytest.mark.parametrize("answer,words", [
    ("{not json", "ip -json: not JSON"),
    ("[]" + "{" * 3, "ip -json: not JSON"),
    ('{"a": 1}' * 4, "ip -json: a dict where a list belongs"),
    ("[]", "ip -json gave 1 answers to "),          # 2 (vrf check) or 4 (observe) queries
])
def test_invalid_json_from_ip_is_one_line_exit_4(tmp_path, answer, words):
    conf = tmp_path / "net"
    conf.write_text('config_eth1_10="192.0.2.17/24"\ntable_eth1_10="e1v10"\n')
    ip = fake_ip(tmp_path, answer)
    for argv in (["plan", "eth1.10", "--config", str(conf)],
                 ["up", "eth1.10", "--config", str(conf)]):
        proc = helper(tmp_path, *argv, POLICYROUTE_IP=str(ip))
        one_error_line(proc.stderr, proc.returncode, words)
        assert (proc.returncode, proc.stdout) == (4, "")
    assert not list((tmp_path / "state").rglob("*.json")), "nothing was applied, nothing recorded"


def test_an_unexpected_exception_is_one_line_exit_4(capsys, monkeypatch, tmp_path):
    def boom(args, ctx):
        raise KeyError("objects")

    monkeypatch.setattr(check, "run", boom)
    code, out, err = run(capsys, "check", str(tmp_path / "net"))
    assert (code, out) == (4, "")
    assert err == "policyroute: error: internal error: KeyError: 'objects'\n"


def test_a_multi_line_message_is_one_line(capsys, monkeypatch, tmp_path):
    def refused(args, ctx):
        raise kernel.KernelError(None, "RTNETLINK answers: File exists\n  second line\n")

    monkeypatch.setattr(check, "run", refused)
    code, _out, err = run(capsys, "check", str(tmp_path / "net"))
    assert code == 3
    assert err == "policyroute: error: RTNETLINK answers: File exists second line\n"


def test_broken_pipe_is_caught_before_oserror(capsys, monkeypatch, tmp_path):
    # BrokenPipeError is an OSError: its handler must come first, or the
    # reader going away would be reported as a state error.
    def reader_gone(args, ctx):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(check, "run", reader_gone)
    code, out, err = run(capsys, "check", str(tmp_path / "net"))
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("argv", [["check", "CONF"], ["--help"], ["--version"]])
def test_reader_that_went_away_is_silent(tmp_path, argv):
    conf = tmp_path / "net"
    conf.write_text('table_eth1_10="e1v10"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYROUTE_")}
    env.update(POLICYROUTE_IPROUTE2_DIR=str(tmp_path / "iproute2"))
    proc = subprocess.Popen([sys.executable, "-m", "policyroute",
                             *[str(conf) if a == "CONF" else a for a in argv]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()                     # `policyroute ... | true`
    err = proc.stderr.read().decode()
    assert (proc.wait(timeout=60), err) == (0, "")


def test_show_yaml_without_pyyaml_says_so_before_any_work(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "yaml", None)          # import yaml fails
    code, out, err = run(capsys, "show", "--yaml", "--config", str(tmp_path / "absent"))
    assert (code, out) == (2, "")
    one_error_line(err, code, "--yaml needs PyYAML")


HOOK_CALLS = [
    ["pre-start", "--ifvar=eth1_10", "--values=-", "--", "eth1.10"],
    ["--verbose", "pre-start", "--hold=/run/policyroute-hold.x", "--ifvar=eth1_10",
     "--values=-", "--", "eth1.10"],
    ["--verbose", "post-start", "--ifvar=eth1_10", "--values=-", "--", "eth1.10"],
    ["post-start", "--ifvar=", "--values=-", "--", "-odd"],
    ["stop", "--values=-", "--", "eth1.10"],
    ["--verbose", "stop", "--values=-", "--", "eth1.10"],
]


@pytest.mark.parametrize("argv", HOOK_CALLS, ids=" ".join)
def test_hook_calls_read_as_argparse_reads_them(argv):
    """The module's calls skip argparse: every attribute must be what
    argparse gives, so a new option in a hook's parser fails here until
    commands.HOOKS names it."""
    from policyroute.options import build_parser
    fast = cli.hook_args(argv)
    full = build_parser(argv).parse_args(argv)
    assert fast is not None
    assert vars(fast) == vars(full)


@pytest.mark.parametrize("argv", [
    ["pre-start", "--values=-", "--ifvar=x", "--", "eth1.10"],
    ["stop", "--ifvar=x", "--values=-", "--", "eth1.10"],
    ["post-start", "--table=x", "--values=-", "--", "eth1.10"],
    ["post-start", "--hold=/x", "--values=-", "--", "eth1.10"],
    ["pre-start", "--hold", "--values=-", "--", "eth1.10"],
    ["post-start", "eth1.10", "--values=-"],
    ["-v", "stop", "--values=-", "--", "eth1.10"],
    ["check", "--values=-", "--", "eth1.10"],
    ["stop", "--values=-", "--"],
], ids=" ".join)
def test_other_command_lines_go_to_argparse(argv):
    assert cli.hook_args(argv) is None


def test_run_exits_with_mains_code_and_nothing_buffered_lost():
    """cli.run skips the interpreter's teardown (os._exit): what main left
    in stdout's buffer, on an error path too, still goes out."""
    code = ("from policyroute import cli\n"
            "def main():\n"
            "    print('partial output')\n"
            "    return 3\n"
            "cli.main = main\n"
            "cli.run()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert (proc.returncode, proc.stdout) == (3, "partial output\n")
