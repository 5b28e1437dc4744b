"""The bad-input corpus: values every policyroute variable must refuse, at
pre-start and in `policyroute check` alike. Shared by the unit tier
(test_bad_input.py) and the OpenRC tier (tests/openrc/test_bad_input.py).

Each case is (variable, value as bytes, what the value needs besides, id).
The variable is NAME_eth1 (IFVAR eth1); ``extra`` is more conf.d/net text.
"""

IFVAR = "eth1"
GOOD = {
    "table": b"e1",
    "rules": b"from 192.0.2.17 lookup e1 priority 700",
    "rules6": b"from 2001:db8::17 lookup e1 priority 700",
    "policyroute_guard": b"yes",
    "policyroute_arp": b"no",
    "failover": b"eth0",
    "netns": b"",
}
# Characters that split or cut a line in some readers and not others, or
# that are not plain ASCII; backslash sequences dash's echo interprets.
ODD = [b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\x01", b"\x07",
       b"\x1b", b"\x7f", "\u0085".encode(), "\u2028".encode(), "\u2029".encode(),
       "\u00a0".encode(), "\u200b".encode(), "\ufeff".encode(), "\u3000".encode(),
       b"\xa0", b"\xff", b"\xc3", "\u00e9".encode("latin-1"),
       b"\\n", b"\\c", b"\\0", b"\\t", b"\\\\", b"\\x41", b"\\r"]

TABLE = [b"main", b"MAIN", b"local", b"default", b"unspec", b"254", b"0xfe", b"0xFE", b"255",
         b"253", b"0", b"0x0", b"0254", b"4294967296", b"-1", b"-e1v10", b"--", b"-",
         b"e1 v10", b"1e", b"a" * 65, b"e1#x", b"e1;reboot", b"$x", b"e1/x", b"../x",
         b"e1\ne2", b"9" * 5000, b"mainalias", b"twonums"]
RULES = [b"from 0.0.0.0/0 to ::1 lookup main priority 900",
         b"tos 0x01 lookup main priority 900", b"tos 0x02 lookup main priority 900",
         b"tos 0x03 lookup main priority 900", b"tos 0x20 lookup main priority 900",
         b"tos 0xfc lookup main priority 900", b"dsfield 0x1e lookup main priority 900",
         b"priority 200 goto 100", b"priority 200 goto 200", b"goto 300",
         b"from 192.0.2.17 goto 14095", b"frmo 192.0.2.17", b"from 192.0.2.17 lookup",
         b"from 192.0.2.999", b"from 192.0.2.17/33", b"fwmark 0x100000000",
         b"priority 0", b"priority 32766", b"priority 21000 lookup main", b"priority 0900",
         b"uidrange 1000", b"uidrange 2-1", b"ipproto 256", b"sport 0x50", b"dport 70000",
         b"lookup unspec", b"lookup nosuch", b"from 192.0.2.17 nat 10.0.0.1",
         b"to 192.0.2.1 local", b"to 192.0.2.1 unicast", b"to 192.0.2.1 blackhole lookup main",
         b"l3mdev lookup main", b"protocol mydaemon", b"protocol 256", b"realms 256/1",
         b"suppress_ifgroup mygroup", b"iif abcdefghijklmnopq", b"from 192.0.2.17 help",
         b"type", b"from 192.0.2.17 priority", b"from fe80::1%eth0 lookup main priority 900",
         b"from 2001:db8::1#x lookup main priority 900", b"#from 192.0.2.17",
         b"-e1v10", b"--", b"from 192.0.2.17 lookup main priority 700 ;reboot",
         b"$(reboot)", b"`reboot`", b"from 192.0.2.17 lookup main\nfrmo x",
         b"\n".join(b"to 203.0.113.%d lookup main" % i for i in range(1, 18)),
         b"from 192.0.2.17 lookup main priority 700 " + b"x" * 140000]
RULES6 = [b"from 192.0.2.17 lookup main priority 900", b"to 0.0.0.0/0 blackhole",
          b"realms 3 lookup main priority 900", b"realms 1/2 lookup main priority 900",
          b"tos 0x01 lookup main priority 900", b"tos 0xff lookup main priority 900",
          b"from fe80::1%eth0 lookup main priority 900", b"from fe80::1%lo#x blackhole",
          b"priority 200 goto 100", b"from 2001:db8::/129", b"from 2001:db8:::1",
          b"flowlabel 0x100000 lookup main", b"priority 32767", b"-6", b"from all help"]
FLAG = [b"maybe", b"yes no", b"2", b"-1", b"y", b"n", b"enable", b"ja", b"--", b"-yes"]
FAILOVER = [b"eth1", b"eth0 eth2", b"abcdefghijklmnopq", b"eth0#", b"-eth0", b"../eth0",
            b"eth0/1", b"noteth", b"eth0;reboot"]
NETNS = [b"../x", b"a/b", b".", b"..", b"x y", b"-x", b"/run/netns/x", b"x" * 300, b"$(x)",
         b"x#y"]

# The other interface: a table for failover_eth1=eth0 and for the clashes.
SIBLING = b'config_eth0="192.0.2.16/24"\ntable_eth0="e0"\n'
# rt_tables.d files the "mainalias" and "twonums" cases need.
RT_TABLES_D = {"alias.conf": b"254 mainalias\n7 twonums\n", "other.conf": b"8 twonums\n"}
CLASHES = [
    ("table", b"e0", b"", "same table by name"),
    ("table", b"1024", b"", "the other's registered number"),
    ("table", b"0x400", b"", "the other's registered number in hex"),
    ("rules", b"from 192.0.2.17 lookup main priority 800",
     b'rules_eth0="fwmark 3 lookup main priority 800"\n', "a priority of the other's"),
]


def _cases():
    for name, good in GOOD.items():
        for odd in ODD:
            for where, value in (("end", good + odd), ("start", odd + good),
                                 ("alone", odd)):
                if name == "netns" and where != "alone":
                    value = b"ns1" + odd if where == "end" else odd + b"ns1"
                yield name, value, b"", f"{name}-{odd!r}-{where}"
    for name, values in (("table", TABLE), ("rules", RULES), ("rules6", RULES6),
                         ("policyroute_guard", FLAG), ("policyroute_arp", FLAG),
                         ("failover", FAILOVER), ("netns", NETNS)):
        for value in values:
            yield name, value, b"", f"{name}-{value[:40]!r}"
    for name, value, extra, why in CLASHES:
        yield name, value, extra, f"{name}-{why}"


CASES = list(_cases())


def sh_quote(value):
    """value as a single-quoted sh word (bytes kept as they are)."""
    return b"'" + value.replace(b"'", b"'\\''") + b"'"


def conf_text(name, value, extra=b""):
    """A conf.d/net for eth1 with NAME_eth1=value and the rest good."""
    lines = [SIBLING, b'config_eth1="192.0.2.17/24"\n']
    values = {**GOOD, name: value}
    if name != "table" or True:
        values.setdefault("table", GOOD["table"])
    for key, v in values.items():
        if v:
            lines.append(f"{key}_{IFVAR}=".encode() + sh_quote(v) + b"\n")
    return b"".join(lines) + extra
