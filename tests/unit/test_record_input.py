"""The record is input (issue 10): every way a record can be wrong is one
StateError naming the file and what is wrong, never a traceback, never a
write outside the interface's own sysctls, never an injected ip line."""

import json
from pathlib import Path

import pytest

from policyroute import plan, state
from policyroute.errors import StateError

IFACE = "eth1.10"
ROUTE = ["192.0.2.0/24", "dev", IFACE, "src", "192.0.2.17", "scope", "link",
         "table", "1024", "proto", "201"]
RULE = ["from", "192.0.2.17/32", "priority", "22000", "lookup", "1024", "protocol", "201"]


def good(**kw):
    d = {"version": 1, "iface": IFACE, "netns": None, "table": 1024, "table_name": "e1v10",
         "objects": [{"kind": "route", "family": 4, "args": list(ROUTE)},
                     {"kind": "rule", "family": 4, "args": list(RULE)}],
         "sysctls": [[f"net/ipv4/conf/{IFACE}/arp_ignore", "0", "1"]],
         "inputs": {"table": "e1v10"}, "moved": [["192.0.2.99/24", "eth0.10"]]}
    d.update(kw)
    return d


def with_args(kind, args):
    return good(objects=[{"kind": kind, "family": 4, "args": args}])


# (what, record text, words the error must hold)
BAD = [
    ("empty", "", "Expecting value"),
    ("truncated", json.dumps(good())[:57], "unreadable record"),
    ("not JSON", "policyroute was here\n", "Expecting value"),
    ("a list", "[]", "not a JSON object"),
    ("wrong version", json.dumps(good(version=2)), "version is not 1"),
    ("version a string", json.dumps(good(version="1")), "version is not 1"),
    ("iface a number", json.dumps(good(iface=7)), "iface is not an interface name"),
    ("iface with a slash", json.dumps(good(iface="../eth1")), "iface is not an interface name"),
    ("foreign iface", json.dumps(good(iface="eth0.10")), "iface 'eth0.10' is not the file's own"),
    ("netns of another folder", json.dumps(good(netns="blue")), "netns is not the folder's own"),
    ("netns with ../", json.dumps(good(netns="../x")), "netns is not a namespace name"),
    ("table a string", json.dumps(good(table="1024")), "table is not a table number"),
    ("table huge", json.dumps(good(table=2**40)), "table is not a table number"),
    ("table 5000 digits", json.dumps(good())[:-1] + ',"table":' + "9" * 5000 + "}",
     "unreadable record"),
    ("table a bool", json.dumps(good(table=True)), "table is not a table number"),
    ("objects a map", json.dumps(good(objects={})), "objects is not a list"),
    ("object kind", json.dumps(good(objects=[{"kind": "addr", "family": 4, "args": ["x"]}])),
     "object 1 is not {kind, family, args}"),
    ("family a string", json.dumps(good(objects=[{"kind": "rule", "family": "4",
                                                  "args": RULE}])), "object 1 is not"),
    ("newline in an argument", json.dumps(with_args("rule", RULE[:-1] + ["201\nrule add "
                                                                         "lookup 1"])),
     "args are not plain printable words"),
    ("space in an argument", json.dumps(with_args("rule", ["from 192.0.2.1"] + RULE[2:])),
     "args are not plain printable words"),
    ("# in an argument", json.dumps(with_args("rule", RULE[:-1] + ["201#"])),
     "args are not plain printable words"),
    ("control char", json.dumps(with_args("rule", RULE[:-1] + ["2\x0101"])),
     "args are not plain printable words"),
    ("no arguments", json.dumps(with_args("rule", [])), "args are not plain printable words"),
    ("odd word count", json.dumps(with_args("rule", RULE + ["tos"])), "is not a rule"),
    ("not a prefix", json.dumps(with_args("route", ["nowhere"] + ROUTE[1:])), "is not a route"),
    ("route of another interface", json.dumps(with_args(
        "route", ROUTE[:2] + ["eth0.10"] + ROUTE[3:])), "a route not of eth1.10's table"),
    ("route of another table", json.dumps(with_args(
        "route", ROUTE[:-3] + ["1025", "proto", "201"])), "a route not of eth1.10's table"),
    ("automatic rule of another table", json.dumps(with_args(
        "rule", RULE[:5] + ["1025"] + RULE[6:])), "an automatic rule not of eth1.10's"),
    ("../ sysctl key", json.dumps(good(sysctls=[[f"net/ipv4/conf/{IFACE}/../../../../etc/x",
                                                 "0", "1"]])), "sysctl key"),
    ("other interface's sysctl", json.dumps(good(sysctls=[["net/ipv4/conf/eth0.10/arp_ignore",
                                                           "0", "1"]])), "is not one"),
    ("all's sysctl", json.dumps(good(sysctls=[["net/ipv4/conf/all/rp_filter", "1", "2"]])),
     "is not one policyroute sets"),
    ("sysctl twice", json.dumps(good(sysctls=[[f"net/ipv4/conf/{IFACE}/arp_ignore", "0", "1"]] * 2)),
     "is not one policyroute sets"),
    ("sysctl value text", json.dumps(good(sysctls=[[f"net/ipv4/conf/{IFACE}/arp_ignore",
                                                    "0\n1", "1"]])), "values are not numbers"),
    ("sysctl value huge", json.dumps(good(sysctls=[[f"net/ipv4/conf/{IFACE}/arp_ignore",
                                                    "9" * 40, "1"]])), "values are not numbers"),
    ("sysctls pairs", json.dumps(good(sysctls=[["a", "b"]])), "not [key, old, new] triples"),
    ("inputs unknown name", json.dumps(good(inputs={"evil": "x"})), "inputs is not a map"),
    ("inputs a number", json.dumps(good(inputs={"table": 5})), "inputs is not a map"),
    ("moved no prefix", json.dumps(good(moved=[["192.0.2.99", "eth0.10"]])), "moved is not"),
    ("moved bad address", json.dumps(good(moved=[["192.0.2.999/24", "eth0.10"]])),
     "is not an address"),
    ("moved bad name", json.dumps(good(moved=[["192.0.2.99/24", "eth0/10"]])), "moved is not"),
]


def write(path, data):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data if isinstance(data, bytes) else data.encode())


@pytest.mark.parametrize("what,text,words", BAD, ids=[b[0] for b in BAD])
def test_bad_record_is_one_state_error(tmp_path, what, text, words):
    store = state.Store(tmp_path)
    write(store.path(IFACE), text)
    with pytest.raises(StateError) as e:
        store.load(IFACE)
    message = str(e.value)
    assert message.startswith(f"{store.path(IFACE)}: unreadable record ("), message
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("data,words", [(b'{"version": 1, "iface": "eth\xff"}', "not UTF-8"),
                                        (b'{"version": 1,\0 "iface": "x"}', "unreadable")])
def test_bytes_that_are_not_json_text(tmp_path, data, words):
    store = state.Store(tmp_path)
    write(store.path(IFACE), data)
    with pytest.raises(StateError, match=words):
        store.load(IFACE)


def test_symlink_in_place_of_the_record_is_not_followed(tmp_path):
    store = state.Store(tmp_path / "run")
    target = tmp_path / "elsewhere.json"
    target.write_text(state.Record(IFACE, objects=[]).to_json())
    store.make_folder()
    Path(store.path(IFACE)).symlink_to(target)
    with pytest.raises(StateError, match="unreadable record \\(a symbolic link\\)"):
        store.load(IFACE)


def test_good_record_reads_back(tmp_path):
    store = state.Store(tmp_path)
    write(store.path(IFACE), json.dumps(good()))
    rec = store.load(IFACE)
    assert rec.objects == [plan.Obj("route", 4, tuple(ROUTE)), plan.Obj("rule", 4, tuple(RULE))]
    assert rec.moved == [["192.0.2.99/24", "eth0.10"]]


def test_set_aside_keeps_the_bad_file_for_a_look(tmp_path):
    store = state.Store(tmp_path)
    write(store.path(IFACE, "blue"), "{broken")
    bad = store.set_aside(IFACE, "blue")
    assert bad == str(tmp_path / "netns" / "blue" / f"{IFACE}.json.bad")
    assert Path(bad).read_text() == "{broken"
    assert store.load(IFACE, "blue") is None
    assert store.names("blue") == []

