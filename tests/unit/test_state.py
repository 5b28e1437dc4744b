"""state.Store: the record of what one start added."""

import json
import os
from pathlib import Path

import pytest

from policyroute import plan, state, tables
from policyroute.errors import StateError
from policyroute.files import atomic_write

OBJS = [plan.Obj("route", 4, ("192.0.2.0/24", "dev", "eth1.10", "src", "192.0.2.17", "scope",
                             "link", "table", "1024", "proto", "201")),
        plan.Obj("rule", 6, ("from", "2001:db8:10::17/128", "priority", "22000", "lookup",
                            "1024", "protocol", "201"))]


def record(**kw):
    base = dict(iface="eth1.10", table=1024, table_name="e1v10", objects=list(OBJS),
                sysctls=[["net/ipv4/conf/eth1.10/arp_ignore", "0", "1"]])
    base.update(kw)
    return state.Record(**base)


def same(a, b):
    return a is not None and b is not None and a.to_json() == b.to_json()


def test_round_trip(tmp_path):
    store = state.Store(tmp_path / "run")
    rec = record()
    store.save(rec)
    assert Path(store.path("eth1.10")) == tmp_path / "run" / "eth1.10.json"
    back = store.load("eth1.10")
    assert same(back, rec)
    assert back.objects == OBJS
    assert all(isinstance(o, plan.Obj) and isinstance(o.args, tuple) for o in back.objects)
    assert back.sysctls == [["net/ipv4/conf/eth1.10/arp_ignore", "0", "1"]]
    assert json.loads(Path(store.path("eth1.10")).read_text())["version"] == state.VERSION


def test_netns_records_are_apart(tmp_path):
    store = state.Store(tmp_path)
    store.save(record(netns="blue", table=1025, objects=[]))
    store.save(record())
    assert Path(store.path("eth1.10", "blue")) == tmp_path / "netns" / "blue" / "eth1.10.json"
    assert store.load("eth1.10", "blue").table == 1025
    assert store.load("eth1.10").table == 1024
    assert [r.netns for _p, r in store.all()] == [None, "blue"]
    store.remove("eth1.10", "blue")
    assert store.load("eth1.10", "blue") is None
    assert store.load("eth1.10") is not None


def test_missing_record_and_remove_twice(tmp_path):
    store = state.Store(tmp_path / "nothing-here")
    assert store.load("eth9") is None
    store.remove("eth9")
    store.remove("eth9")
    assert list(store.all()) == []


@pytest.mark.parametrize("text", ["{not json", '{"version": 1}', "",
                                  '{"version": 1, "iface": "x", "objects": [{"kind": "rule"}]}'])
def test_unreadable_record_is_a_state_error(tmp_path, text):
    store = state.Store(tmp_path)
    Path(store.path("eth1.10")).write_text(text)
    with pytest.raises(StateError, match="unreadable record|is not"):
        store.load("eth1.10")


@pytest.mark.parametrize("text", ["[]", "null", "1"])
def test_record_that_is_not_an_object_is_a_state_error(tmp_path, text):
    # Valid JSON that is not an object is an unreadable record too, from
    # load (stop, down) and from all (show, sync --all) alike.
    store = state.Store(tmp_path)
    Path(store.path("eth1.10")).write_text(text)
    with pytest.raises(StateError, match="unreadable record"):
        store.load("eth1.10")
    with pytest.raises(StateError, match="unreadable record"):
        list(store.all())


def test_other_version_is_refused(tmp_path):
    store = state.Store(tmp_path)
    store.save(record())
    p = Path(store.path("eth1.10"))
    p.write_text(p.read_text().replace('"version":1', '"version":99'))
    with pytest.raises(StateError, match=r"eth1.10.json: unreadable record \(version is not 1\)"):
        store.load("eth1.10")
    with pytest.raises(StateError):           # all() never skips what it cannot read
        list(store.all())


def test_save_is_atomic(tmp_path, monkeypatch):
    store = state.Store(tmp_path)
    store.save(record())
    good = Path(store.path("eth1.10")).read_text()

    def crash(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tables.os, "replace", crash)
    with pytest.raises(OSError):
        store.save(record(table=2048, objects=[]))
    # the old record is whole; a crash mid-write never leaves half a record
    assert Path(store.path("eth1.10")).read_text() == good
    assert same(store.load("eth1.10"), record())
    monkeypatch.undo()
    store.save(record(table=2048, objects=[]))
    assert store.load("eth1.10").table == 2048
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eth1.10.json"]


# ---------------------------------------------------------------- memory (issue 12)

def many_objects(n):
    """n/2 addresses' stage-1 and stage-3 rules and the guard, as plan lays
    them out."""
    sources = [f"2001:db8:{i >> 8:x}::{i & 0xff:x}/128" for i in range(1, n // 2 + 1)]
    return plan.auto_rules(sources, 6, 1024, guard=True)


def test_record_text_is_what_json_writes():
    # words JSON must escape too: a quote, a backslash, a control
    # character, beyond ASCII, and a byte that is not UTF-8 (surrogateescape)
    odd = plan.Obj("rule", 4, ("iif", 'a"b\\c\x01é\udcff', "priority", "20000", "lookup", "main"))
    rec = record(objects=many_objects(6) + [odd], inputs={"table": "e1v10"},
                 moved=[["192.0.2.18/32", "eth2"]])
    d = {"version": state.VERSION, "iface": "eth1.10", "netns": None, "table": 1024,
         "table_name": "e1v10",
         "objects": [{"kind": o.kind, "family": o.family, "args": list(o.args)}
                     for o in rec.objects],
         "sysctls": rec.sysctls, "inputs": {"table": "e1v10"},
         "moved": [["192.0.2.18/32", "eth2"]]}
    assert rec.to_json() == json.dumps(d, separators=(",", ":")) + "\n"
    assert record(objects=[]).to_json() == json.dumps(
        dict(d, objects=[], inputs={}, moved=[]), separators=(",", ":")) + "\n"


def test_record_words_are_shared_once_read():
    objs = many_objects(400)
    back = state.Record.from_json(record(objects=objs).to_json())
    assert back.objects == objs
    stage1, stage3 = back.objects[0], back.objects[201]     # the guard between
    assert stage1.args[1] == stage3.args[1] and stage1.args[1] is stage3.args[1]
    assert {id(o.args[2]) for o in back.objects[:200]} == {id(stage1.args[2])}


def test_a_recorded_object_the_plan_has_made_already_is_that_one(tmp_path):
    """Store.load(same=): compute reads the record after planning, and an
    object both list is held once (20,000 at 10,000 addresses)."""
    store = state.Store(tmp_path / "run")
    store.save(record())
    planned = plan.Obj(OBJS[1].kind, OBJS[1].family, tuple(OBJS[1].args))
    back = store.load("eth1.10", same={planned: planned})
    assert back.objects == OBJS
    assert back.objects[1] is planned and back.objects[0] is not OBJS[0]


def test_a_loaded_record_is_lean():
    """Read and keyed, an object of the record costs a few hundred bytes
    (with a frozenset key, its JSON held whole and an lru_cache entry it
    was over 1,500): at 10,000 addresses the helper stays under 50 MiB."""
    import tracemalloc
    text = record(objects=many_objects(4000)).to_json()
    tracemalloc.start()
    try:
        back = state.Record.from_json(text)
        keys = [o.key for o in back.objects]
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(keys) == 4001
    assert now / 4001 < 600 and peak / 4001 < 800, (now, peak)


# ---------------------------------------------------------------- the follower's reads (issue 12 (d))

@pytest.fixture
def kept(monkeypatch):
    """keep_records() for one test; the parses it still makes, counted."""
    monkeypatch.setattr(state, "_kept", None)
    state.keep_records()
    parsed = []
    real = state.Record.from_json.__func__

    def counted(cls, text, iface=None, netns=None, same=None):
        parsed.append(iface)
        return real(cls, text, iface, netns, same)
    monkeypatch.setattr(state.Record, "from_json", classmethod(counted))
    return parsed


def test_kept_record_is_parsed_again_only_when_its_file_changed(tmp_path, kept):
    store = state.Store(tmp_path)
    store.save(record(netns="blue"))
    store.save(record(iface="eth0.10", netns="blue", objects=[], sysctls=[]))
    assert set(store.in_netns("blue")) == {"eth0.10", "eth1.10"}
    assert kept == []                       # what this process saved is kept as written
    # Another process replaces one whole: a new file.
    atomic_write(store.path("eth1.10", "blue"),
                 record(netns="blue", table=2048, objects=[]).to_json(), 0o644)
    assert store.load("eth1.10", "blue").table == 2048
    assert store.load("eth0.10", "blue").table == 1024
    assert set(store.in_netns("blue")) == {"eth0.10", "eth1.10"}
    assert kept == ["eth1.10"]              # once


def test_a_saved_record_is_kept_as_saved_not_as_changed_after(tmp_path, kept):
    store = state.Store(tmp_path)
    saved = record()
    store.save(saved)
    saved.objects.clear()
    saved.sysctls.clear()
    assert same(store.load("eth1.10"), record())
    assert kept == []


def test_kept_record_is_a_copy_to_change(tmp_path, kept):
    store = state.Store(tmp_path)
    store.save(record(moved=[["192.0.2.18/24", "eth0.10"]]))
    first = store.load("eth1.10")
    first.moved.clear()
    first.sysctls[0][2] = "9"
    first.objects.clear()
    first.inputs["table"] = "x"
    again = store.load("eth1.10")
    assert same(again, record(moved=[["192.0.2.18/24", "eth0.10"]]))
    assert kept == []


def test_kept_record_changed_in_place_is_checked_again(tmp_path, kept):
    store = state.Store(tmp_path)
    store.save(record())
    assert store.load("eth1.10") is not None
    p = Path(store.path("eth1.10"))
    st = p.stat()
    with open(p, "r+") as f:                  # same inode, same size, same times
        text = f.read()
        f.seek(0)
        f.write(text.replace('"version":1', '"version":9'))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    with pytest.raises(StateError, match=r"unreadable record \(version is not 1\)"):
        store.load("eth1.10")
    with pytest.raises(StateError):           # an error is never kept
        store.load("eth1.10")
    p.unlink()
    assert store.load("eth1.10") is None
    store.save(record(table=7, objects=[]))
    assert store.load("eth1.10").table == 7


def test_records_are_parsed_every_time_unless_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "_kept", None)
    store = state.Store(tmp_path)
    store.save(record())
    p = Path(store.path("eth1.10"))
    st = p.stat()
    p.write_text(p.read_text().replace('"version":1', '"version":9'))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(StateError):
        store.load("eth1.10")


@pytest.mark.parametrize("phase", state.PHASES)
def test_an_interface_between_two_hooks_is_recorded_but_not_followed(tmp_path, phase):
    store = state.Store(tmp_path)
    store.save(record(netns="blue", phase=phase))
    store.save(record(iface="eth0.10", netns="blue", objects=[], sysctls=[]))
    back = store.load("eth1.10", "blue")
    assert back.phase == phase and same(back, record(netns="blue", phase=phase))
    assert set(store.in_netns("blue")) == {"eth0.10", "eth1.10"}     # its objects still count
    assert set(store.followed("blue")) == {"eth0.10"}
    assert '"phase"' not in record().to_json()                      # none once started


def test_an_unknown_phase_is_refused(tmp_path):
    text = record().to_json().replace('"moved":[]', '"moved":[],"phase":"halfway"')
    with pytest.raises(ValueError, match="phase is not one of starting, stopping"):
        state.Record.from_json(text)
