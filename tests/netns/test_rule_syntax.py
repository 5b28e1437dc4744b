"""Every rule form through the kernel and back (idempotence, brief 5): a
rules_/rules6_ line must start, a second post-start must run no `ip`
command at all (our key of the line equals the key read back from
`ip -json rule show`), and stop must remove it.

Issue 9: the same holds for lines that give their own `protocol` (they are
found through the record, not by protocol 201), for every other form
iproute2 6.1 takes (abbreviations, repeated words, base-0 numbers), and
for netifrc's own lines on an interface without table_ (no action: lookup
main).
"""

import json

import pytest

from netns_checks import started

pytestmark = pytest.mark.usefixtures("clean")

LINES = [
    ("rules", "fwmark 0x10/0xff lookup e1v10 priority 100"),
    ("rules", "fwmark 7 priority 116"),
    ("rules", "iif lo priority 101"),
    ("rules", "oif eth1.10 priority 110"),
    ("rules", "uidrange 1000-2000 priority 102"),
    ("rules", "ipproto tcp dport 80-90 priority 103"),
    ("rules", "sport 53 ipproto udp priority 104"),
    ("rules", "tos 0x08 priority 105"),
    ("rules", "to 198.51.100.0/24 blackhole priority 106"),
    ("rules", "not from 192.0.2.17 lookup main priority 107"),
    ("rules", "priority 108 goto 22001"),
    ("rules", "to 198.51.100.9 nop priority 113"),
    ("rules", "realms 5 priority 114"),
    ("rules", "to 192.0.2.0/24 suppress_prefixlength 8 priority 118"),
    ("rules", "from 192.0.2.17/24"),
    ("rules6", "from 2001:db8:10::17 to 2001:db8:ffff::/48 priority 130"),
    ("rules6", "ipproto ipv6-icmp prohibit priority 131"),
    ("rules6", "to 2001:db8:ffff::1"),
    # iproute2 reads tos in hex: 0x10 must not become "16" (read as 0x16).
    ("rules", "tos 0x10 priority 123"),
    ("rules", "dsfield 10 priority 124"),
    # `ip rule` wants "A-B" even for a single uid.
    ("rules", "uidrange 5-5 priority 122"),
    # issue 9: the line's own protocol, kept and found again by the record
    ("rules", "from 192.0.2.17 priority 140 protocol static"),
    ("rules", "to 198.51.100.0/24 proto 99 priority 141"),
    ("rules6", "from 2001:db8:10::17 protocol boot priority 142"),
    ("rules", "from 192.0.2.17 protocol kernel priority 143"),
    ("rules", "from 192.0.2.17 protocol 0 priority 144"),
    # issue 9: other forms iproute2 takes
    ("rules", "fwmark 0x10/0 priority 150"),
    ("rules", "fwmark 0/0xff priority 151"),
    ("rules", "realms 70000 priority 152"),
    ("rules", "tun_id 0x10 priority 153"),
    ("rules", "from 192.0.2.17 lookup local priority 154"),
    ("rules", "from 192.0.2.17 goto 32766 priority 155"),
    ("rules", "suppress_prefixlength 129 priority 156"),
    ("rules", "to 198.51.100.9 6 priority 157"),
    ("rules", "prio 158 tab e1v10 ds 0x08 dev lo"),
    ("rules", "from 192.0.2.18 from 192.0.2.17 priority 159 priority 0240"),
    ("rules", "to 198.51.100.9 type goto 32766 pref 161"),
]


def kernel_rules(lab, family):
    """``ip -N -json`` so that no rt_protos.d on the host renames a protocol."""
    return json.loads(lab.box.ip("-N", "-json", f"-{family}", "rule", "show").stdout)


def added(before, after):
    return [r for r in after if r not in before]


def round_trip(lab, pr, table, variable, line, expect=1):
    family = 6 if variable == "rules6" else 4
    before = kernel_rules(lab, family)
    started(lab.start(pr, "eth1.10", table, routes=table is not None, **{variable: line}))
    new = [r for r in added(before, kernel_rules(lab, family)) if r["priority"] < 20000]
    assert len(new) == expect, f"the line is missing: {new}"
    first = lab.snapshot()
    again = started(pr.run("post-start", "eth1.10", netns=lab.box.name, table=table,
                           verbose=True, **{variable: line}))
    assert again.stdout == "", "second post-start changed the kernel:\n" + again.stdout
    assert lab.snapshot() == first
    assert lab.stop(pr, "eth1.10").returncode == 0
    assert kernel_rules(lab, family) == before
    return new


@pytest.mark.parametrize("variable,line", LINES)
def test_rule_form_round_trips(lab, pr, variable, line):
    round_trip(lab, pr, "e1v10", variable, line)


@pytest.mark.parametrize("variable,line,table", [
    ("rules", "from 192.0.2.17 priority 100", "254"),
    ("rules", "to 198.51.100.0/24", "254"),
    ("rules6", "from 2001:db8:10::17", "254"),
    ("rules", "from 192.0.2.17 table 100 priority 200 protocol static", "100"),
])
def test_netifrc_line_without_table_looks_up_main(lab, pr, variable, line, table):
    """Issue 9: netifrc's own rules_ on an interface without table_."""
    [rule] = round_trip(lab, pr, None, variable, line)
    assert rule["table"] == table and "suppress_prefixlen" not in rule
