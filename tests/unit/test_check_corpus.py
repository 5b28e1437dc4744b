"""`policyroute check FILE` on a corpus of small conf.d/net files
(tests/unit/check_corpus/good and bad): every problem at once, one line
each naming the variable, the line and the token; cross-interface
problems; exit 0 only when clean; the clean message on stdout; no
traceback. Unit tier: the helper runs as a subprocess with its paths in
tmp_path and `ip` pointing nowhere, so nothing can reach the kernel.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "check_corpus"
GOOD, BAD = CORPUS / "good", CORPUS / "bad"

LINE_RE = re.compile(r"^policyroute: error: (?P<var>[a-z0-9_]+)(?: line (?P<n>[0-9]+))?: "
                     r"'(?P<token>[^']+)' (?P<reason>\S.*)$")


@pytest.fixture
def check(tmp_path, iproute2_dir, monkeypatch):
    """Run `policyroute check FILE` in tmp_path (rt_tables has 100 hundred)."""
    monkeypatch.setenv("POLICYROUTE_IP", str(tmp_path / "no-such-ip"))
    monkeypatch.delenv("NO_COLOR", raising=False)

    def run(path, *extra):
        proc = subprocess.run([sys.executable, "-m", "policyroute", "check", str(path), *extra],
                              capture_output=True, text=True, cwd=tmp_path, timeout=30)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        # nothing is ever written by check
        assert not (iproute2_dir / "rt_tables.d").exists()
        assert not Path(os.environ["POLICYROUTE_STATE_DIR"]).exists()
        return proc
    return run


def errors(proc):
    lines = proc.stderr.splitlines()
    assert all(line.startswith("policyroute: error: ") for line in lines), proc.stderr
    return lines


# ---------------------------------------------------------------- good

GOOD_COUNTS = {
    "worked_example.conf": 4,
    "rules_and_flags.conf": 3,
    "no_policyroute.conf": 0,
    "shell_features.conf": 1,
    "netifrc_rules_without_table.conf": 3,
}


@pytest.mark.parametrize("name", sorted(GOOD_COUNTS))
def test_good_config_is_clean(check, name, tmp_path):
    path = GOOD / name
    proc = check(path)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout == f"{path}: {GOOD_COUNTS[name]} interfaces, no problems\n"
    assert not (tmp_path / "pwned").exists()


def test_values_are_read_as_sh_evaluates_them(tmp_path, iproute2_dir):
    from policyroute.confd import read_config
    v = read_config(GOOD / "shell_features.conf")
    assert v["table_eth1_10"] == "e1v10"
    assert v["policyroute_guard_eth1_10"] == "yes"
    assert [line.strip() for line in v["rules_eth1_10"].splitlines() if line.strip()] == [
        "from 192.0.2.17 to 198.51.100.0/24", "fwmark 7 lookup e1v10"]
    assert "t" not in v                      # only netifrc/policyroute variables
    single = read_config(GOOD / "no_policyroute.conf")
    assert "dhcpcd_eth0" not in single and single["config_eth0"] == "dhcp"


# Was a bug in python/policyroute/confd.py:16 `. "$1" || exit 3` takes the status of
# the file's last command for a syntax error: a valid file ending in
# `[ -e X ] && var=...` is refused as "is not valid shell: sh failed".
# Fix: check syntax with `sh -n "$1"` first, then source with `. "$1"; exec env -0`
# (ignore the last command's status).
def test_valid_shell_whose_last_command_fails_is_clean(check):
    path = GOOD / "last_command_false.conf"
    proc = check(path)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout == f"{path}: 1 interfaces, no problems\n"


# ---------------------------------------------------------------- bad, exact

BAD_EXPECTED = {
    "per_line.conf": [
        "table_eth0: 'main' is a reserved table; give this interface a table of its own",
        "policyroute_guard_eth0: 'maybe' is not yes or no",
        "policyroute_arp_eth0: 'sometimes' is not yes or no",
        "rules_eth0 line 2: 'frmo' is not an ip rule selector or action",
        "rules_eth0 line 3: '21000' is in policyroute's automatic band 20000-22255",
        "rules_eth0 line 4: '0900' is not a priority: a leading 0 makes it octal to iproute2",
        "rules_eth0 line 5: 'mydaemon' is not a protocol name iproute2 knows by itself; "
        "give its number (rt_protos.d names are not read)",
        "rules_eth0 line 6: '1000' is not a uid range: iproute2 wants START-END, even for one uid",
        "rules6_eth0 line 1: '192.0.2.10' is not an IPv6 address",
        "table_eth1: '253' is a reserved table number (253 default, 254 main, 255 local)",
        "rules_eth1 line 1: 'unspec' is table 0, which no rule can look up",
        "rules_eth1 line 2: 'goto' needs a value",
        "rules_eth1 line 3: '198.51.100.999' is not an address or prefix",
    ],
    "cross.conf": [
        "rules_eth0_10 line 1: 'nosuch' is not a table iproute2 knows (rt_tables, rt_tables.d) nor any table_",
        "table_eth1_10: 'shared' is also the table of eth0_10",
        "config_eth1_10 line 2: '192.0.2.16/24' is also configured in config_eth0_10 line 1",
        "rules_eth1_10 line 2: 'priority 500' is also used by rules_eth0_10 line 2",
    ],
    "slot.conf": [
        "rules6_eth1_10 line 1: 'priority 500' is also used by rules6_eth0_10 line 1",
        "table_eth1_10: '1280' shares priority slot 0 with table_eth0_10; "
        "give the rules_ lines explicit priorities",
    ],
    "quoted_substitution.conf": [
        "table_eth0: '$(touch pwned)' is not a table name (letters, digits, _ . -)",
        "rules_eth0 line 1: '`touch' is not an address or prefix",
    ],
}


@pytest.mark.parametrize("name", sorted(BAD_EXPECTED))
def test_bad_config_reports_every_problem_at_once(check, name, tmp_path):
    proc = check(BAD / name)
    assert proc.returncode == 1
    assert proc.stdout == ""
    got = errors(proc)
    assert sorted(got) == sorted(f"policyroute: error: {e}" for e in BAD_EXPECTED[name])
    assert len(got) == len(set(got)), "a problem was reported twice"
    for line in got:
        m = LINE_RE.match(line)
        assert m, f"not 'VAR [line N]: 'TOKEN' reason': {line}"
    assert not (tmp_path / "pwned").exists(), "a single-quoted $(...) was run"


@pytest.mark.parametrize("name", sorted(BAD_EXPECTED))
def test_line_numbers_and_tokens_point_into_the_file(check, name):
    """Each reported VAR line N really holds TOKEN (the value's Nth non-blank line)."""
    from policyroute.confd import read_config
    from policyroute.parse import split_lines
    variables = read_config(BAD / name)
    for line in errors(check(BAD / name)):
        m = LINE_RE.match(line)
        value = variables[m["var"]]
        where = split_lines(value)[int(m["n"]) - 1] if m["n"] else value
        token = m["token"].split()[-1]          # 'priority 500' -> 500
        assert token in where, (line, where)


def test_problems_of_every_interface_are_listed_in_file_order_per_variable(check):
    got = [LINE_RE.match(line) for line in errors(check(BAD / "per_line.conf"))]
    numbers = [int(m["n"]) for m in got if m["var"] == "rules_eth0"]
    assert numbers == sorted(numbers) == [2, 3, 4, 5, 6]
    assert {m["var"] for m in got} == {"table_eth0", "policyroute_guard_eth0",
                                       "policyroute_arp_eth0", "rules_eth0", "rules6_eth0",
                                       "table_eth1", "rules_eth1"}


def test_known_table_names_come_from_the_iproute2_dir(check, iproute2_dir, tmp_path):
    """'hundred' is only known through rt_tables: without it, it is unknown."""
    conf = tmp_path / "net"
    conf.write_text('table_eth0="e0x"\nrules_eth0="fwmark 7 lookup hundred priority 800"\n')
    assert check(conf).returncode == 0
    (iproute2_dir / "rt_tables").write_text("255\tlocal\n254\tmain\n253\tdefault\n")
    proc = check(conf)
    assert proc.returncode == 1
    assert errors(proc) == ["policyroute: error: rules_eth0 line 1: 'hundred' is not a table "
                            "iproute2 knows (rt_tables, rt_tables.d) nor any table_"]


def test_one_priority_per_family(check, tmp_path):
    """The same explicit priority in IPv4 and IPv6 is no clash; twice in IPv4 is."""
    conf = tmp_path / "net"
    conf.write_text('rules_eth0="to 198.51.100.0/24 blackhole priority 700"\n'
                    'rules6_eth1="to 2001:db8:1::/48 blackhole priority 700"\n')
    assert check(conf).returncode == 0
    conf.write_text(conf.read_text() + 'rules_eth2="to 203.0.113.0/24 prohibit pref 700"\n')
    proc = check(conf)
    assert proc.returncode == 1
    assert errors(proc) == ["policyroute: error: rules_eth2 line 1: 'priority 700' is also "
                            "used by rules_eth0 line 1"]


def test_same_table_by_name_and_by_number_is_shared(check, tmp_path):
    conf = tmp_path / "net"
    conf.write_text('table_eth0="hundred"\ntable_eth1="100"\n')
    proc = check(conf)
    assert proc.returncode == 1
    assert errors(proc) == ["policyroute: error: table_eth1: '100' is also the table of eth0"]


# Issue 9: rules_ lines without an action and without table_ were refused
# ("has no action ... and table_eth3 is not set"), which stopped net.eth3 on
# boxes whose conf.d/net used netifrc's own rules_. Such a line looks up
# main, as `ip rule add` has always made it.
def test_netifrc_rules_without_table_are_clean(check):
    path = GOOD / "netifrc_rules_without_table.conf"
    proc = check(path)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr


# Was a bug in python/policyroute/parse.py:321-322 (and :326-327): the "more than 16
# lines" error (and the former "has no action" one) passed token None, so the
# line named no token, unlike every other error. Fix: pass the line's text.
def test_too_many_lines_error_names_a_token(check, tmp_path):
    conf = tmp_path / "net"
    conf.write_text('rules_eth3="' + "\n".join(f"fwmark {n}" for n in range(1, 18)) + '"\n')
    proc = check(conf)
    assert proc.returncode == 1
    (line,) = errors(proc)
    assert line.startswith("policyroute: error: rules_eth3 line 17: 'fwmark 17' ")
    assert LINE_RE.match(line), line


# Was a bug in python/policyroute/parse.py:320 tests `table is None`, which is also the
# case when table_ was set but invalid: the user is told "table_eth0 is not
# set" about a variable that is set. Fix: pass whether table_ had a value to
# _check_rules and only report "not set" when it was empty.
def test_invalid_table_is_not_reported_as_unset(check):
    proc = check(BAD / "invalid_table_no_action.conf")
    assert proc.returncode == 1
    got = errors(proc)
    assert "policyroute: error: table_eth0: 'main' is a reserved table; give this interface " \
           "a table of its own" in got
    assert not [line for line in got if "table_eth0 is not set" in line], got


# Was a bug in python/policyroute/checks.py:28-33: an interface with any per-line
# error is dropped from `configs`, so the cross-interface checks (shared
# table, unknown lookup, priority clashes) never see it: the shared table
# here is only reported once the typo is fixed. Fix: collect the valid parts
# per variable (parse table_ and each rules_ line on their own) and run the
# cross checks on those.
def test_line_error_does_not_hide_cross_interface_problems(check):
    proc = check(BAD / "hidden_by_line_error.conf")
    assert proc.returncode == 1
    got = errors(proc)
    assert "policyroute: error: rules_eth1_10 line 1: 'frmo' is not an ip rule selector or " \
           "action" in got
    assert "policyroute: error: table_eth1_10: 'shared' is also the table of eth0_10" in got


# Was a bug in python/policyroute/checks.py:79 skips every config_ token without "/":
# netifrc accepts a bare address, so 192.0.2.16 on two interfaces passes.
# Fix: also parse tokens without a prefix length (ipaddress.ip_address).
def test_bare_address_in_two_config_vars_is_reported(check):
    proc = check(BAD / "bare_address.conf")
    assert proc.returncode == 1
    assert errors(proc) == ["policyroute: error: config_eth1_10 line 1: '192.0.2.16/24' is "
                            "also configured in config_eth0_10 line 1"]


# ---------------------------------------------------------------- not shell, missing

def test_config_that_is_not_valid_shell(check):
    path = BAD / "not_shell.conf"
    proc = check(path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    (line,) = errors(proc)
    assert line.startswith(f"policyroute: error: {path}: is not valid shell: ")
    assert "Unterminated quoted string" in line or "unexpected" in line.lower()


# Was a bug in python/policyroute/confd.py:16: an `exit` in the file ends the reading
# shell before `env -0`, so nothing is read and check says "0 interfaces, no
# problems" about a file whose table_eth0 is invalid. Fix: print a marker
# after sourcing (`. "$1"; printf 'POLICYROUTE_READ=1\0'; exec env -0`) and
# refuse the file when the marker is missing ("ends the shell with exit").
def test_exit_in_config_is_not_clean(check):
    proc = check(BAD / "exit_in_config.conf")
    assert proc.returncode == 1, proc.stdout
    assert "no problems" not in proc.stdout


def test_missing_file(check, tmp_path):
    missing = tmp_path / "no-such-net"
    proc = check(missing)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert errors(proc) == [f"policyroute: error: {missing}: does not exist"]


def test_relative_path_is_not_searched_in_path(check, tmp_path):
    """`. name` would search $PATH; check reads ./name or nothing."""
    (tmp_path / "net").write_text('table_eth0="e0x"\n')
    proc = check("net")
    assert proc.returncode == 0 and proc.stdout == "net: 1 interfaces, no problems\n"
    proc = check("sh")                       # /bin/sh is on PATH, not in cwd
    assert proc.returncode == 1
    assert errors(proc) == [f"policyroute: error: {tmp_path / 'sh'}: does not exist"]


def test_check_usage_error_is_exit_2(check, tmp_path):
    proc = check(GOOD / "worked_example.conf", "--bogus")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("policyroute: error: ") and "--bogus" in proc.stderr


def test_every_corpus_file_is_covered():
    covered = {f"good/{n}" for n in GOOD_COUNTS} | {f"bad/{n}" for n in BAD_EXPECTED} | {
        "good/last_command_false.conf", "bad/hidden_by_line_error.conf",
        "bad/bare_address.conf", "bad/not_shell.conf", "bad/exit_in_config.conf",
        "bad/invalid_table_no_action.conf"}
    present = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.conf")}
    assert present == covered
