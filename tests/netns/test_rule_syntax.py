"""Every rule form through the kernel and back (idempotence, brief 5): a
rules_/rules6_ line must start, a second post-start must run no `ip`
command at all (our key of the line equals the key read back from
`ip -json rule show`), and stop must remove it.
"""

import pytest

from netns_checks import our_rules, started

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
]


@pytest.mark.parametrize("variable,line", LINES)
def test_rule_form_round_trips(lab, pr, variable, line):
    started(lab.start(pr, "eth1.10", "e1v10", **{variable: line}))
    family = 6 if variable == "rules6" else 4
    assert [r for r in our_rules(lab, family) if r["priority"] < 20000], "the line is missing"
    first = lab.snapshot()
    again = started(pr.run("post-start", "eth1.10", netns=lab.box.name, table="e1v10",
                           verbose=True, **{variable: line}))
    assert again.stdout == "", "second post-start changed the kernel:\n" + again.stdout
    assert lab.snapshot() == first
    assert lab.stop(pr, "eth1.10").returncode == 0
    assert our_rules(lab, 4) == [] and our_rules(lab, 6) == []
