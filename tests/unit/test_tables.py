"""tables.Registry: what iproute2 knows, and registering what it does not."""

import multiprocessing
import os

import pytest

from policyroute import files, tables
from policyroute.tables import Registry


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_reads_rt_tables_and_rt_tables_d(iproute2_dir, tmp_path):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "isp.conf").write_text("# comment\n1030 isp   # trailing comment\n0x410\thex_one\n")
    (d / "ignored.txt").write_text("1040 not_a_conf\n")
    (d / "broken.conf").write_text("garbage line\n  \nname_without_number\n")
    data = tmp_path / "usr-share-iproute2"
    (data / "rt_tables.d").mkdir(parents=True)
    (data / "rt_tables").write_text("200 from_data\n100 shadowed_by_data\n")
    (data / "rt_tables.d" / "vendor.conf").write_text("201 vendor\n")
    r = Registry(iproute2_dir, [data])
    assert r.lookup("hundred") == 100
    assert r.lookup("isp") == 1030
    assert r.lookup("hex_one") == 0x410
    # iproute2 reads the data folder's rt_tables only when /etc has none
    assert r.lookup("from_data") is None
    assert r.lookup("vendor") == 201
    assert r.lookup("not_a_conf") is None
    assert r.lookup("name_without_number") is None
    assert r.by_id[1030] == "isp"
    (iproute2_dir / "rt_tables").unlink()
    assert Registry(iproute2_dir, [data]).lookup("from_data") == 200


def test_reserved_names_are_always_known(tmp_path):
    r = Registry(tmp_path / "empty")          # no rt_tables at all
    assert {n: r.lookup(n) for n in ("main", "local", "default", "unspec")} == \
        {"main": 254, "local": 255, "default": 253, "unspec": 0}
    assert r.by_id[254] == "main"


def test_a_reserved_name_given_another_number_is_refused(iproute2_dir):
    # iproute2 looks names up hash bucket by bucket (number & 255): 100
    # comes before 254, so "lookup main" would be table 100.
    (iproute2_dir / "rt_tables").write_text("100 main\n254 main\n")
    r = Registry(iproute2_dir)
    assert r.lookup("main") == 100
    assert r.refusal("main") == (
        f"has two numbers in rt_tables files: 100 in {iproute2_dir}/rt_tables line 1, "
        "254 in iproute2's built-in names")


def test_lookup_numbers_decimal_and_hex(tmp_path):
    r = Registry(tmp_path)
    assert (r.lookup("1024"), r.lookup("0x400"), r.lookup("nosuch")) == (1024, 1024, None)


def test_register_lowest_free_numbers_in_sorted_name_order(iproute2_dir):
    before = (iproute2_dir / "rt_tables").read_text()
    r = Registry(iproute2_dir)
    got = r.register(["zeta", "alpha", "mid", "alpha"])
    assert got == {"alpha": 1024, "mid": 1025, "zeta": 1026}
    own = iproute2_dir / "rt_tables.d" / "policyroute.conf"
    assert [line for line in own.read_text().splitlines() if not line.startswith("#")] == \
        ["1024\talpha", "1025\tmid", "1026\tzeta"]
    # only our own file was written; the lock is in the state folder
    assert (iproute2_dir / "rt_tables").read_text() == before
    assert sorted(p.name for p in (iproute2_dir / "rt_tables.d").iterdir()) == \
        ["policyroute.conf"]
    # a fresh reader sees the same numbers
    assert Registry(iproute2_dir).lookup("mid") == 1025


def test_register_keeps_existing_numbers_and_skips_used_ones(iproute2_dir):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "admin.conf").write_text("1024 taken\n1026 also_taken\n")
    r = Registry(iproute2_dir)
    assert r.register(["hundred", "taken", "new_b", "new_a"]) == \
        {"hundred": 100, "taken": 1024, "new_a": 1025, "new_b": 1027}
    assert (d / "admin.conf").read_text() == "1024 taken\n1026 also_taken\n"
    # registering again changes nothing, even in a new order
    content = (d / "policyroute.conf").read_text()
    assert Registry(iproute2_dir).register(["new_b", "new_a"]) == {"new_a": 1025, "new_b": 1027}
    assert (d / "policyroute.conf").read_text() == content
    # a later name gets the next hole, earlier ones keep theirs
    assert Registry(iproute2_dir).register(["aaa"]) == {"aaa": 1028}
    assert Registry(iproute2_dir).lookup("new_a") == 1025


def test_register_known_names_writes_nothing(iproute2_dir, isolated):
    before = snapshot(iproute2_dir)
    assert Registry(iproute2_dir).register(["hundred", "main"]) == {"hundred": 100, "main": 254}
    assert snapshot(iproute2_dir) == before
    assert not isolated["state"].exists()           # not even the lock is taken


def test_register_runs_out_of_numbers(iproute2_dir):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "full.conf").write_text("".join(f"{n} t{n}\n" for n in range(1024, 1280)))
    with pytest.raises(OverflowError):
        Registry(iproute2_dir).register(["one_more"])
    assert not (d / "policyroute.conf").exists()


def test_register_rereads_files_under_the_lock(iproute2_dir):
    a, b = Registry(iproute2_dir), Registry(iproute2_dir)
    assert a.register(["first"]) == {"first": 1024}
    # b was loaded before a wrote: it must still not reuse 1024
    assert b.register(["second"]) == {"second": 1025}
    assert Registry(iproute2_dir).register(["first", "second"]) == {"first": 1024, "second": 1025}


def _register_one(confdir, name, start):
    start.wait()
    return Registry(confdir).register([name])[name]


def test_parallel_registration_gives_unique_numbers(iproute2_dir):
    names = [f"if{n:02d}" for n in range(16)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(16) as pool:
        barrier = manager.Barrier(16)           # all 16 start registering together
        numbers = pool.starmap(_register_one, [(str(iproute2_dir), n, barrier) for n in names])
    assert sorted(numbers) == list(range(1024, 1040))
    r = Registry(iproute2_dir)
    assert {n: r.lookup(n) for n in names} == dict(zip(names, numbers))
    own = iproute2_dir / "rt_tables.d" / "policyroute.conf"
    lines = own.read_text().splitlines()
    assert lines[0].startswith("#") and len(lines) == 17
    assert sorted((e.number, e.name) for e in tables.read_table_file(own)) == \
        sorted(zip(numbers, names))
    leftovers = [p.name for p in own.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.conf"
    files.atomic_write(target, "one\n")
    inode = target.stat().st_ino
    files.atomic_write(target, "two\n")
    assert target.read_text() == "two\n"
    assert target.stat().st_ino != inode                  # renamed over, not rewritten
    assert [p.name for p in target.parent.iterdir()] == ["f.conf"]
    assert oct(target.stat().st_mode & 0o777) in (oct(0o644), oct(0o644 & ~0o022))


def read(path):
    return [(e.number, e.name, e.line) for e in tables.read_table_file(path)]


def test_files_are_read_as_iproute2_reads_them(iproute2_dir):
    """Bytes, not text: a name that is not UTF-8 keeps its bytes (and so
    matches no conf.d/net name), a NUL ends a line, and the first line
    iproute2 cannot parse ends the file ("Database ... is corrupted")."""
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "latin1.conf").write_bytes(b"# caf\xe9 \xff\xfe\n1040 caf\xe9\n1041\tplain # comment\n")
    (d / "binary.conf").write_bytes(b"1043 nul_cut\x00ignored\n\x00\x01\x02 after_nul\n"
                                    b"\x89PNG\r\n\x1a\n1044 after_corrupt\n")
    r = Registry(iproute2_dir)
    assert r.lookup("plain") == 1041
    assert r.lookup("café") is None                  # the file says caf\xe9, not UTF-8
    assert r.by_id[1040] == "caf\udce9"
    assert r.lookup("nul_cut") == 1043 and r.lookup("ignored") is None
    assert r.lookup("after_nul") is None             # the NUL line is skipped, not corrupt
    assert r.lookup("after_corrupt") is None         # iproute2 stopped reading before it
    assert r.register(["new"]) == {"new": 1024}


def test_numbers_are_cut_to_an_int_as_scanf_does(tmp_path):
    f = tmp_path / "t.conf"
    f.write_bytes(b"4294967297 wraps\n0x100000005 hexwraps\n-5 negative\n+8 plus\n"
                  b"0x 7 spaced\n0x0x9 prefixed\n0xffffffff minus_one\n"
                  b"99999999999999999999 clamped\n")
    assert read(f) == [(1, "wraps", 1), (5, "hexwraps", 2), (-5, "negative", 3),
                       (8, "plus", 4), (7, "spaced", 5), (9, "prefixed", 6),
                       (-1, "minus_one", 7), (-1, "clamped", 8)]


def test_a_long_line_is_read_in_pieces_of_511(tmp_path):
    # fgets into char[512]: a 5,000-digit number is 511 digits without a
    # name, which iproute2 calls corrupt, and stops reading the file there.
    f = tmp_path / "t.conf"
    f.write_bytes(b"7 before\n" + b"9" * 5000 + b" giant\n1042 after\n")
    assert read(f) == [(7, "before", 1)]
    # a comment of any length is skipped piece by piece only if each piece
    # starts as a comment: the second piece of a long one is a "line" too.
    f.write_bytes(b"#" + b"x" * 600 + b"\n8 next\n")
    assert read(f) == []                              # "xxx..." is corrupt
    f.write_bytes(b"#" + b" " * 510 + b"#" + b"y" * 20 + b"\n" + b"3 " + b"n" * 520 + b"\n4 four\n")
    assert read(f) == [(3, "n" * 509, 2)]            # then 11 n's alone: corrupt


def test_out_of_range_numbers_refuse_the_name_with_file_and_line(iproute2_dir, tmp_path):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "big.conf").write_bytes(b"# admin\n4294967297 wraps\n-5 negative\n")
    r = Registry(iproute2_dir)
    assert r.lookup("wraps") == 1                    # what iproute2 takes
    assert r.refusal("wraps") == (f"has number 4294967297 in {d}/big.conf line 2, out of "
                                  "range 0-2147483647 (iproute2 reads 1)")
    assert r.lookup("negative") is None
    assert "iproute2 skips the line" in r.refusal("negative")
    assert r.refusal("hundred") is None


def test_one_name_in_two_files_is_refused_with_both_places(iproute2_dir):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "a.conf").write_text("# first\n1030 isp\n1031 same\n")
    (d / "b.conf").write_text("7 isp\n1031 same\n")
    r = Registry(iproute2_dir)
    assert r.lookup("isp") == 1030                   # bucket 1030 & 255 = 6 comes before 7
    assert r.refusal("isp") == (f"has two numbers in rt_tables files: 7 in {d}/b.conf line 1, "
                                f"1030 in {d}/a.conf line 2")
    assert r.refusal("same") is None                 # the same number twice is fine


def test_a_name_that_is_a_number_wins_over_the_number_and_is_refused(iproute2_dir):
    (iproute2_dir / "rt_tables").write_text("# odd\n200 100\n")
    r = Registry(iproute2_dir)
    assert r.lookup("100") == 200
    why = (f"is table 100, but {iproute2_dir}/rt_tables line 2 names table 200 \"100\", "
           "and iproute2 reads names first")
    assert r.refusal("100") == why and r.refusal("0x64") == why
    assert r.refusal("200") is None and r.refusal("101") is None


def test_check_and_pre_start_refuse_a_table_rt_tables_makes_unsafe(iproute2_dir, capsys):
    from policyroute import cli
    from policyroute.checks import check_all
    (iproute2_dir / "rt_tables").write_text("200 100\n1030 isp\n7 isp\n")
    variables = {"table_eth0": "100", "table_eth1": "isp",
                 "rules_eth2": "fwmark 1 lookup 0x64", "table_eth2": "e2"}
    _configs, errors = check_all(variables, Registry(iproute2_dir))
    assert sorted(e.message().split(":")[0] for e in errors) == \
        ["rules_eth2 line 1", "table_eth0", "table_eth1"]
    assert cli.main(["pre-start", "eth1", "--table", "isp"]) == 1
    assert cli.main(["pre-start", "eth0", "--table", "100"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"policyroute: error: table_eth1: 'isp' has two numbers in rt_tables files: "
                   f"7 in {iproute2_dir}/rt_tables line 3, 1030 in {iproute2_dir}/rt_tables line 2",
                   f"policyroute: error: table_eth0: '100' is table 100, but "
                   f"{iproute2_dir}/rt_tables line 1 names table 200 \"100\", and iproute2 "
                   "reads names first"]
    assert not (iproute2_dir / "rt_tables.d").exists()


def test_one_bad_byte_in_any_file_stops_no_start(iproute2_dir, capsys):
    from policyroute import cli
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "latin1.conf").write_bytes(b"# caf\xe9\n1100 caf\xe9\n")
    (d / "broken.conf").write_bytes(b"\xff\xfe\xfd\n" + b"9" * 5000 + b" giant\n")
    (iproute2_dir / "rt_tables").write_bytes(b"100 hundred\n" + b"1" * 5000 + b"\n")
    assert cli.main(["pre-start", "eth1", "--table", "e1", "--rules", "lookup hundred"]) == 0
    assert capsys.readouterr().err == ""
    assert Registry(iproute2_dir).lookup("e1") == 1024


def test_unreadable_files_are_skipped(iproute2_dir):
    d = iproute2_dir / "rt_tables.d"
    (d / "dir.conf").mkdir(parents=True)
    os.symlink("/nonexistent/x", d / "dangling.conf")
    (d / "ok.conf").write_text("1050 ok\n")
    assert Registry(iproute2_dir).lookup("ok") == 1050


def test_own_file_keeps_bytes_that_are_not_utf8(iproute2_dir):
    d = iproute2_dir / "rt_tables.d"
    d.mkdir()
    (d / "policyroute.conf").write_bytes(b"1024\tcaf\xe9\n")
    assert Registry(iproute2_dir).register(["next"]) == {"next": 1025}
    assert (d / "policyroute.conf").read_bytes().splitlines()[1:] == \
        [b"1024\tcaf\xe9", b"1025\tnext"]


def test_a_dangling_rt_tables_falls_back_to_the_data_folder(iproute2_dir, tmp_path):
    # fopen fails with ENOENT, as for no file: iproute2 reads the data folder's
    data = tmp_path / "usr-share-iproute2"
    data.mkdir()
    (data / "rt_tables").write_text("200 from_data\n")
    (iproute2_dir / "rt_tables").unlink()
    os.symlink(tmp_path / "nowhere", iproute2_dir / "rt_tables")
    assert Registry(iproute2_dir, [data]).lookup("from_data") == 200
