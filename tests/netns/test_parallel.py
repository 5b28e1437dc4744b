"""Parallel registration (brief 7): sixteen interfaces in one namespace,
each with its own table name, started all at once (pre-start then
post-start per interface, every interface concurrently), as OpenRC does
with parallel starts. Table numbers must be unique, the rt_tables.d file
intact, and no rule doubled; stopping them all at once returns the
namespace to its start.
"""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

import topology
from netns_checks import records

COUNT = 16


@pytest.fixture(scope="module")
def fan():
    with topology.Fanout(COUNT, "prt") as fan:
        yield fan


def table_name(n):
    return f"fan{n}"


def start_one(fan, pr, n):
    link = fan.links()[n]
    pre = pr.run("pre-start", link, table=table_name(n))
    if pre.returncode != 0:
        return ("pre-start", link, pre)
    return ("post-start", link, pr.run("post-start", link, netns=fan.ns.name, table=table_name(n)))


def stop_one(fan, pr, n):
    link = fan.links()[n]
    return ("stop", link, pr.run("stop", link, netns=fan.ns.name))


def all_at_once(fn, fan, pr):
    with ThreadPoolExecutor(max_workers=COUNT) as pool:
        results = list(pool.map(lambda n: fn(fan, pr, n), range(COUNT)))
    failed = [f"{step} {link}: rc={p.returncode} {p.stderr.strip()}"
              for step, link, p in results if p.returncode != 0]
    assert not failed, "\n".join(failed)


def rule_lines(ns, family):
    return ns.ip("-N", f"-{family}", "rule", "show").stdout.splitlines()


def test_sixteen_interfaces_started_at_once(fan, tmp_path):
    pr = topology.Helper(tmp_path)
    ns = fan.ns
    before = {fam: ns.ip("-N", f"-{fam}", "rule", "show").stdout for fam in (4, 6)}

    all_at_once(start_one, fan, pr)

    # Unique numbers, every name, and a file iproute2 can read line by line.
    tables = pr.tables()
    assert sorted(tables) == sorted(table_name(n) for n in range(COUNT))
    assert len(set(tables.values())) == COUNT
    assert all(1024 <= t <= 1279 for t in tables.values()), tables
    body = [line for line in pr.tables_file.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert len(body) == COUNT
    assert all(re.fullmatch(r"\d+\t\S+", line) for line in body), body
    assert not list(pr.tables_file.parent.glob(".*.tmp")), "a temporary file was left"

    for fam in (4, 6):
        lines = rule_lines(ns, fam)
        assert len(lines) == len(set(lines)), "a rule is doubled"
        ours = [json for json in ns.ip_json(f"-{fam}", "rule", "show")
                if json.get("protocol") == "201"]
        assert len(ours) == 2 * COUNT + 1           # stage 1 and 3 each, one shared guard
        assert len({r["priority"] for r in ours}) == 2 * COUNT + 1
    for n in range(COUNT):
        slot = tables[table_name(n)] % 256
        want = fan.address(n)
        rule = [r for r in ns.ip_json("rule", "show")
                if r.get("src") == want and r["priority"] == 22000 + slot]
        assert [r["table"] for r in rule] == [str(tables[table_name(n)])]
        got = ns.ip_json("route", "get", "203.0.113.1", "from", want)[0]
        assert (got["dev"], got.get("table")) == (fan.links()[n], str(tables[table_name(n)]))
    assert len(records(pr)) == COUNT

    all_at_once(stop_one, fan, pr)
    assert {fam: ns.ip("-N", f"-{fam}", "rule", "show").stdout for fam in (4, 6)} == before
    assert ns.ip("-N", "route", "show", "table", "all", "proto", "201").stdout == ""
    assert ns.ip("-N", "-6", "route", "show", "table", "all", "proto", "201").stdout == ""
    assert records(pr) == []
