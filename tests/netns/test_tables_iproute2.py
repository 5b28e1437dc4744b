"""tables.Registry against iproute2 itself: for rt_tables files full of
what trips readers (comments in Latin-1, invalid UTF-8, NULs, huge and
negative numbers, lines longer than iproute2's 511-byte buffer, one name
twice), every name resolves to the number this machine's ``ip`` gives it.

Each case's folder is bind-mounted over /etc/iproute2 in a private mount
namespace with a new network namespace (unshare -m -n), where
``ip rule add lookup NAME`` shows what iproute2 made of NAME. Both go away
with the process; the host's /etc and namespace are not touched."""

import json
import random
import subprocess

import pytest

from policyroute import parse
from policyroute.tables import Registry

SCRIPT = r"""
mount --bind "$1" /etc/iproute2 || exit 90
shift
n=100
for name in "$@"; do
	ip rule add pref $n lookup "$name" 2>/dev/null
	n=$((n + 1))
done
ip -N -j rule show
"""

HAND_MADE = [
    b"100 plain\n",
    b"# caf\xe9 \xff\xfe latin-1 and broken UTF-8\n1040 after_latin1\n",
    b"1041 caf\xe9\n1042 next\n",
    b"4294967297 wraps\n0x100000005 hexwraps\n-5 negative\n+8 plus\n",
    b"0x 7 spaced\n0x0x9 prefixed\n0xffffffff minus_one\n99999999999999999999 clamped\n",
    b"7 before\n" + b"9" * 5000 + b" giant\n1042 after_giant\n",
    b"#" + b"x" * 600 + b"\n8 after_long_comment\n",
    b"3 " + b"n" * 520 + b"\n4 four\n",
    b"1043 nul_cut\x00ignored\n\x00\x01\x02 after_nul\n1044 after_nul_line\n",
    b"\x89PNG\r\n\x1a\n1045 after_corrupt\n",
    b"12abc\n0x10\n13\tdone # comment\n",
    b"1030 twice\n7 twice\n",
    b"100 main\n",
    b"200 100\n",
    b"\v5 vt\n6\fff\n 9\r cr\n",
]


def iproute2_answers(folder, names):
    proc = subprocess.run(["unshare", "-m", "-n", "--propagation", "private", "sh", "-c",
                           SCRIPT, "sh", str(folder), *names], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    by_priority = {r["priority"]: r.get("table") for r in json.loads(proc.stdout)}
    return {name: (int(by_priority[100 + i]) if 100 + i in by_priority else None)
            for i, name in enumerate(names)}


def queries(data):
    """Every word of the file that a rules_ line's lookup could give (the
    parser passes names and C numbers only), and a few more."""
    words = {w.decode("ascii") for w in data.replace(b"\0", b" ").split() if w.isascii()}
    words = {w for w in words if parse.NAME_RE.match(w) or parse.C_NUMBER_RE.match(w)}
    return sorted(words | {"plain", "nosuch", "1030", "0x40f"})


def expected(registry, name):
    number = registry.lookup(name)
    return number if number is not None and number < 2**32 else None


def compare(tmp_path, rt_tables, conf=None):
    folder = tmp_path / "etc-iproute2"
    (folder / "rt_tables.d").mkdir(parents=True, exist_ok=True)
    (folder / "rt_tables").write_bytes(rt_tables)
    if conf is not None:
        (folder / "rt_tables.d" / "x.conf").write_bytes(conf)
    names = queries(rt_tables + b"\n" + (conf or b""))
    got = iproute2_answers(folder, names)
    registry = Registry(folder)
    # table 0 is not a table: for "lookup 0" the kernel makes an empty one
    return {n: (expected(registry, n), got[n]) for n in names
            if expected(registry, n) != got[n] and expected(registry, n) != 0}


@pytest.mark.parametrize("case", range(len(HAND_MADE)))
def test_hand_made_files_read_as_iproute2_reads_them(tmp_path, case):
    assert compare(tmp_path, HAND_MADE[case]) == {}
    assert compare(tmp_path, b"1 one\n", conf=HAND_MADE[case]) == {}


PIECES = [b"#", b" ", b"\t", b"\n", b"\n", b"\n", b"\x00", b"\xe9", b"\xff", b"\v", b"\r",
          b"0x", b"-", b"+", b"9" * 12, b"1024", b"77", b"0", b"abc", b"tab", b"lookup",
          b"x" * 300]


def random_file(rng):
    lines = []
    for _ in range(rng.randrange(1, 12)):
        if rng.random() < 0.5:
            lines.append(b"%d t%d" % (rng.choice([rng.randrange(1, 300), rng.randrange(2**33)]),
                                      rng.randrange(40)))
        else:
            lines.append(b"".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 8))))
    return b"\n".join(lines) + b"\n"


def test_random_files_read_as_iproute2_reads_them(tmp_path):
    rng = random.Random(10)
    tally = {"cases": 0, "names": 0}
    for case in range(60):
        data, conf = random_file(rng), random_file(rng)
        assert compare(tmp_path / str(case), data, conf) == {}, (data, conf)
        tally["cases"] += 1
        tally["names"] += len(queries(data + b"\n" + conf))
    print(f"\nrt_tables against ip: {tally['cases']} random file pairs, "
          f"{tally['names']} names, 0 differences")
