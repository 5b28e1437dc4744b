"""Issue 10: every value of the bad-input corpus (bad_values.py) is refused
by pre-start and by `policyroute check` alike, with the same lines naming
the variable, the line and the token; nothing is written. The tally is
printed (pytest -s, or in the summary of the last test)."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import bad_values as corpus                     # noqa: E402

from policyroute import cli                     # noqa: E402
from policyroute.confd import read_config       # noqa: E402

LINE_RE = re.compile(r"^policyroute: error: (?P<var>[a-z0-9_]+)(?: line (?P<n>[0-9]+))?: "
                     r"'(?P<token>[^']+)' (?P<reason>\S.*)$")
TALLY = {"cases": 0, "refused by both, same lines": 0}
MODULE_ARGS = {"table": "table", "rules": "rules", "rules6": "rules6",
               "policyroute_guard": "guard", "policyroute_arp": "arp",
               "failover": "failover", "config": "configured", "netns": "netns"}


@pytest.fixture
def world(tmp_path, iproute2_dir):
    (iproute2_dir / "rt_tables.d").mkdir()
    for name, text in corpus.RT_TABLES_D.items():
        (iproute2_dir / "rt_tables.d" / name).write_bytes(text)
    (iproute2_dir / "rt_tables.d" / "policyroute.conf").write_text("1024\te0\n")
    return tmp_path


def run(capsys, argv, stdin=b""):
    import io
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        code = cli.main(argv)
    finally:
        sys.stdin = sys.__stdin__
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err.splitlines()


def pre_start(capsys, variables, conf):
    """What the netifrc module does: values as NAME=VALUE records on stdin."""
    argv = ["pre-start", "--ifvar=eth1", f"--config={conf}", "--values=-", "--", "eth1"]
    stdin = b"".join(f"{opt}={variables[var + '_eth1']}".encode("utf-8", "surrogateescape")
                     + b"\0" for var, opt in MODULE_ARGS.items() if var + "_eth1" in variables)
    return run(capsys, argv, stdin)


def test_the_good_baseline_passes(world, capsys):
    conf = world / "net"
    conf.write_bytes(corpus.conf_text("table", corpus.GOOD["table"]))
    assert run(capsys, ["check", str(conf)])[0] == 0
    assert pre_start(capsys, read_config(conf), conf)[0] == 0


@pytest.mark.parametrize("case", corpus.CASES, ids=[c[3] for c in corpus.CASES])
def test_bad_value_is_refused_at_pre_start_and_by_check(case, world, capsys, iproute2_dir):
    name, value, extra, _id = case
    conf = world / "net"
    conf.write_bytes(corpus.conf_text(name, value, extra))
    TALLY["cases"] += 1
    check_code, check_lines = run(capsys, ["check", str(conf)])
    own = read_config(conf)
    start_code, start_lines = pre_start(capsys, own, conf)
    assert (check_code, start_code) == (1, 1), (check_lines, start_lines)
    for line in start_lines:
        m = LINE_RE.match(line)
        assert m, line
    assert any(LINE_RE.match(line)["var"] == f"{name}_eth1" for line in start_lines), start_lines
    about_eth1 = [line for line in check_lines if "eth1" in line]
    assert sorted(about_eth1) == sorted(start_lines)
    # nothing registered but what was there
    assert sorted(p.name for p in (iproute2_dir / "rt_tables.d").iterdir()) == [
        "alias.conf", "other.conf", "policyroute.conf"]
    TALLY["refused by both, same lines"] += 1


def test_zz_print_tally():
    print(f"\nbad-input corpus (unit tier): {TALLY}")
