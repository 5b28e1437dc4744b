"""parse.parse_rule / parse_table / parse_interface against the YAML corpus,
plus the cross-line and collected-error behaviour."""

from pathlib import Path

import pytest
import yaml

from policyroute import bands, parse, plan
from policyroute.errors import ConfigError, ConfigErrors

CORPUS = yaml.safe_load((Path(__file__).parent / "rules_corpus.yaml").read_text())
FIRST_LINE = {"rules": "from 192.0.2.17 lookup 100", "rules6": "from 2001:db8::17 lookup 100"}


def _id(case):
    return f"{case.get('var', 'rules')}:{case.get('line', case.get('value'))}"


def _interface(var, text):
    """parse_interface with `text` as line 2 of rules_/rules6_ eth1.10."""
    value = FIRST_LINE[var] + "\n" + text
    return parse.parse_interface("eth1.10", table="e1v10", **{var: value})


# ---------------------------------------------------------------- good lines

@pytest.mark.parametrize("case", CORPUS["good"], ids=_id)
def test_good_line_gives_exact_ip_rule_args(case):
    var = case.get("var", "rules")
    rule = parse.parse_rule(case["line"], parse.Origin(f"{var}_eth1_10", 1),
                            6 if var == "rules6" else None)
    assert rule.family == case["family"]
    args = plan.rule_args(rule, rule.priority or 500)
    assert " ".join(args) == case["args"]


@pytest.mark.parametrize("case", CORPUS["good"], ids=_id)
def test_good_line_through_parse_interface(case):
    var = case.get("var", "rules")
    cfg = _interface(var, case["line"])
    assert len(cfg.rules) == 2
    rule = cfg.rules[1]
    assert rule.origin == parse.Origin(f"{var}_eth1_10", 2)
    assert rule.family == case["family"]


def test_parsed_rule_is_immutable():
    rule = parse.parse_rule("from 192.0.2.17 lookup 100", parse.Origin("rules_x", 1))
    with pytest.raises(AttributeError):
        rule.priority = 5
    assert isinstance(rule.selector, tuple) and isinstance(rule.modifiers, tuple)


def test_synonyms_give_the_same_rule():
    o = parse.Origin("rules_x", 1)
    base = parse.parse_rule("from 192.0.2.17 priority 100 lookup 100 tos 0x10", o)
    for text in ("from 192.0.2.17 pref 100 table 100 dsfield 0x10",
                 "from 192.0.2.17 preference 100 lookup 100 dsfield 0x10",
                 "from 192.0.2.17 order 0x64 table 100 tos 0x10"):
        assert parse.parse_rule(text, o) == base, text


def test_rules_without_address_are_ipv4_in_rules_and_ipv6_in_rules6():
    cfg = parse.parse_interface("eth1.10", table="e1v10",
                                rules="fwmark 7", rules6="fwmark 7")
    assert [r.family for r in cfg.rules] == [4, 6]
    assert [r.origin.variable for r in cfg.rules] == ["rules_eth1_10", "rules6_eth1_10"]


def test_rules_family_inferred_per_line():
    cfg = parse.parse_interface("eth1.10", table="e1v10", rules=(
        "from 192.0.2.17\nfrom 2001:db8::17\nfrom all to 2001:db8::1\nfwmark 3"))
    assert [r.family for r in cfg.rules] == [4, 6, 6, 4]


def test_an_ipv6_prefix_of_length_0_makes_the_line_ipv6():
    """Issue 10: `from ::/0 blackhole` in rules_ was an IPv4 `from all
    blackhole`: every IPv4 packet dropped."""
    cfg = parse.parse_interface("eth1.10", rules="from ::/0 blackhole priority 5\n"
                                                 "to 0.0.0.0/0 prohibit priority 6")
    assert [r.family for r in cfg.rules] == [6, 4]


def test_l3mdev_is_its_own_action():
    rule = parse.parse_rule("l3mdev", parse.Origin("rules_x", 1))
    assert rule.action == ("l3mdev",)
    # no table_ needed: l3mdev picks the table itself
    cfg = parse.parse_interface("eth1.10", rules="l3mdev priority 1000")
    assert cfg.table is None and cfg.rules[0].priority == 1000


# ---------------------------------------------------------------- iproute2's reading
# What we hand to `ip rule add` must mean, to iproute2 6.1, what the user
# wrote. Checked by hand in a throwaway `unshare -n` namespace:
#   ip rule add tos 16 ...          -> "Invalid dsfield (tos): ECN bits must be 0"
#                                      (iproute2 reads tos/dsfield as hex: 0x16)
#   ip rule add tos 0x10 ...        -> kernel shows "tos": "0x10"
#   ip rule add uidrange 1000 ...   -> "invalid UID range" (sscanf "%u-%u")
#   ip rule add l3mdev lookup 100   -> "table can not be specified for l3mdev rules"

@pytest.mark.parametrize("text,value", [("tos 0x10", 0x10), ("dsfield 0x10", 0x10),
                                        ("tos 0x08", 0x08), ("tos 4", 4), ("tos 0", 0)])
def test_tos_value_means_the_same_to_iproute2(text, value):
    # Was a bug in python/policyroute/parse.py:142 (SELECTORS["tos"]) emits the TOS
    # in decimal ("tos 0x10" -> "tos 16"), but iproute2's rtnl_dsfield_a2n
    # reads it with strtoul(..., 16): the kernel gets 0x16 (refused, ECN
    # bits) and "tos 10" (0x10 to iproute2) is keyed as decimal 10.
    # Fix: parse tos as iproute2 does (hex, with or without 0x) and emit
    # f"{v:#04x}"; observe.rule_key already reads "0x10" as 16, so compare
    # with the same hex form there.
    rule = parse.parse_rule(f"{text} lookup 100", parse.Origin("rules_x", 1))
    args = plan.rule_args(rule, 500)
    emitted = args[args.index("tos") + 1]
    assert int(emitted, 16) == value, f"ip rule add ... tos {emitted} means {int(emitted, 16):#x}"


def test_single_uid_is_given_to_iproute2_as_a_range():
    # Was a bug in python/policyroute/parse.py:146 (SELECTORS["uidrange"] via
    # parse_range, line 102) collapses N-N to "N", but `ip rule add uidrange
    # 1000` fails: "invalid UID range" (iproute2 wants START-END). Fix: emit
    # f"{a}-{b}" always for uidrange, and in observe.rule_key (observe.py:99-101)
    # build f"{a}-{b}" always too.
    rule = parse.parse_rule("uidrange 1000-1000 lookup 100", parse.Origin("rules_x", 1))
    args = plan.rule_args(rule, 500)
    assert args[args.index("uidrange") + 1] == "1000-1000"


def test_single_uid_is_refused_as_iproute2_refuses_it():
    # `ip rule add uidrange 1000` fails ("invalid UID range"), so netifrc's own
    # rules_ never added such a line: refuse it before any change.
    with pytest.raises(ConfigError, match="START-END"):
        parse.parse_rule("uidrange 1000 lookup 100", parse.Origin("rules_x", 1))


def test_l3mdev_with_a_table_is_refused():
    # Was a bug in python/policyroute/parse.py:239: "l3mdev lookup 100" is accepted,
    # but iproute2 refuses it ("table can not be specified for l3mdev
    # rules"), so it only fails at apply time. Fix: in parse_rule, when
    # ("l3mdev", "") is in the selector and an action is already set, raise
    # origin.error("l3mdev", "takes no lookup, goto or type: l3mdev picks the table").
    with pytest.raises(ConfigError) as info:
        parse.parse_rule("l3mdev lookup 100", parse.Origin("rules_x", 1))
    assert info.value.token in ("l3mdev", "lookup")


# ---------------------------------------------------------------- bad lines

@pytest.mark.parametrize("case", CORPUS["bad"], ids=_id)
def test_bad_line_names_variable_line_and_token(case):
    var = case.get("var", "rules")
    with pytest.raises(ConfigErrors) as info:
        _interface(var, case["line"])
    errors = info.value.errors
    assert len(errors) == 1, info.value.lines()
    e = errors[0]
    assert (e.variable, e.line, e.token) == (f"{var}_eth1_10", 2, case["token"])
    assert case["reason"] in e.reason
    assert info.value.lines() == [f"{var}_eth1_10 line 2: '{case['token']}' {e.reason}"]


@pytest.mark.parametrize("case", CORPUS["bad"], ids=_id)
def test_bad_line_raises_config_error_from_parse_rule(case):
    var = case.get("var", "rules")
    origin = parse.Origin(f"{var}_eth0", 7)
    with pytest.raises(ConfigError) as info:
        parse.parse_rule(case["line"], origin, 6 if var == "rules6" else None)
    assert info.value.token == case["token"]
    assert str(info.value).startswith(f"{var}_eth0 line 7: '{case['token']}' ")


def test_empty_line_is_an_error_but_blank_lines_are_dropped():
    with pytest.raises(ConfigError, match="is empty"):
        parse.parse_rule("   ", parse.Origin("rules_x", 1))
    cfg = parse.parse_interface("eth1.10", table="e1v10",
                                rules="\n  \nfrom 192.0.2.17\n\n\tfwmark 7  \n")
    assert [r.origin.line for r in cfg.rules] == [1, 2]
    assert [r.selector[0][0] for r in cfg.rules] == ["from", "fwmark"]


# Issue 9: a rules_ line means what `ip rule add LINE` means. Without an
# action iproute2 fills in table main, and so did netifrc's rules_ for
# ever; it used to be an error here without table_ ("has no action ...
# and table_X is not set"), which stopped net.X on boxes whose conf.d/net
# predates the package, and looked up table_ with it.

@pytest.mark.parametrize("table", [None, "e1v10"])
def test_rule_without_action_looks_up_main(table):
    cfg = parse.parse_interface("eth1.10", table=table,
                                rules="from 192.0.2.17 lookup 100\nfrom 192.0.2.18 priority 100",
                                rules6="from 2001:db8::17")
    assert [r.action for r in cfg.rules] == [("lookup", "100"), ("lookup", "main"),
                                             ("lookup", "main")]


def test_netifrc_example_without_table_parses():
    cfg = parse.parse_interface("eth0.10", rules="from 192.0.2.16 priority 100")
    [rule] = cfg.rules
    assert cfg.table is None
    assert plan.rule_args(rule, rule.priority) == (
        "from", "192.0.2.16/32", "priority", "100", "lookup", "main", "protocol", "201")


def test_protocol_of_the_line_is_kept():
    o = parse.Origin("rules_x", 1)
    assert parse.parse_rule("from 192.0.2.17", o).protocol is None
    for text, number in (("protocol static", "4"), ("proto 4", "4"), ("protocol 0x4", "4"),
                         ("prot boot", "3"), ("protocol policyroute", "201")):
        rule = parse.parse_rule(f"from 192.0.2.17 {text}", o)
        assert rule.protocol == number, text
        assert plan.rule_args(rule, 7)[-2:] == ("protocol", number)


def test_every_ip_rule_keyword_of_iproute2_is_read():
    """The words iprule_modify() knows (iproute2 6.16), each with a value."""
    o = parse.Origin("rules_x", 1)
    line = ("not from 192.0.2.0/24 to 198.51.100.0/24 priority 100 tos 0x10 fwmark 7/0xff "
            "realms 3/4 protocol static tun_id 9 lookup 100 suppress_prefixlength 0 "
            "suppress_ifgroup 1 iif lo oif eth0 uidrange 1-2 ipproto udp sport 53 "
            "dport 1000-2000 dscp 3 flowlabel 0x5")
    rule = parse.parse_rule(line, o)
    words = {k for k, _v in rule.selector} | {k for k, _v in rule.modifiers}
    assert words == {"not", "from", "to", "tos", "fwmark", "realms", "tun_id",
                     "suppress_prefixlength", "suppress_ifgroup", "iif", "oif", "uidrange",
                     "ipproto", "sport", "dport", "dscp", "flowlabel"}
    assert (rule.priority, rule.action, rule.protocol) == (100, ("lookup", "100"), "4")
    for action in ("goto 20000", "nop", "blackhole", "unreachable", "prohibit", "type blackhole"):
        assert parse.parse_rule(f"from 2001:db8::1 {action}", o, 6).action[0] in action


@pytest.mark.parametrize("word,keyword", [
    ("p", "priority"), ("pref", "priority"), ("prio", "priority"), ("o", "priority"),
    ("pro", "protocol"), ("t", "tun_id"), ("ta", "lookup"), ("tab", "lookup"),
    ("d", "tos"), ("dsf", "tos"), ("dev", "iif"), ("r", "realms"),
    ("s", "suppress_prefixlength"), ("suppress_i", "suppress_ifgroup"),
    ("sup_pl", "suppress_prefixlength"), ("sup_group", "suppress_ifgroup"),
    ("m", "nat"), ("fr", None), ("lo", None), ("de", None), ("src", None)])
def test_words_are_matched_in_iproute2s_order(word, keyword):
    assert parse.word_of(word, parse.KEYWORDS) == keyword


@pytest.mark.parametrize("word,kind", [
    ("g", "goto"), ("n", "nop"), ("bl", "blackhole"), ("b", "broadcast"),
    ("u", "unreachable"), ("uni", "unicast"), ("proh", "prohibit"), ("h", "help"),
    ("throw", "throw"), ("thr", None)])
def test_action_words_are_matched_in_iproute2s_order(word, kind):
    assert parse.word_of(word, parse.TYPES) == kind


def test_more_than_sixteen_unnumbered_lines_is_an_error():
    lines = [f"fwmark {n}" for n in range(1, bands.USER_LINES + 1)]
    parse.parse_interface("eth1.10", table="e1v10", rules="\n".join(lines))
    # numbered lines do not count
    parse.parse_interface("eth1.10", table="e1v10",
                          rules="\n".join(lines + ["fwmark 99 priority 99"]))
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface("eth1.10", table="e1v10", rules="\n".join(lines),
                              rules6="fwmark 17")
    assert len(info.value.errors) == 1
    assert info.value.errors[0].variable == "rules6_eth1_10"
    assert "more than 16 lines without priority" in info.value.lines()[0]


# ---------------------------------------------------------------- table_

@pytest.mark.parametrize("case", CORPUS["table_good"], ids=_id)
def test_table_good(case):
    cfg = parse.parse_interface("eth1.10", table=case["value"])
    assert (cfg.table.name, cfg.table.id) == (case["name"], case["id"])
    assert cfg.table.origin == parse.Origin("table_eth1_10")


@pytest.mark.parametrize("case", CORPUS["table_bad"], ids=_id)
def test_table_bad(case):
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface("eth1.10", table=case["value"])
    [e] = info.value.errors
    assert (e.variable, e.line, e.token) == ("table_eth1_10", None, case["token"])
    assert case["reason"] in e.reason
    assert info.value.lines()[0].startswith(f"table_eth1_10: '{case['token']}' ")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_table(value):
    assert parse.parse_interface("eth1.10", table=value).table is None


# ---------------------------------------------------------------- flags, names

@pytest.mark.parametrize("value,expected", [
    (None, True), ("", True), ("yes", True), ("YES", True), ("true", True), ("on", True),
    ("1", True), (" no ", False), ("false", False), ("off", False), ("0", False)])
def test_guard_and_arp_flags(value, expected):
    cfg = parse.parse_interface("eth1.10", guard=value, arp=value)
    assert (cfg.guard, cfg.arp) == (expected, expected)


def test_bad_flag_names_its_variable():
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface("eth1.10", guard="maybe", arp="nope")
    assert info.value.lines() == ["policyroute_guard_eth1_10: 'maybe' is not yes or no",
                                  "policyroute_arp_eth1_10: 'nope' is not yes or no"]


@pytest.mark.parametrize("iface,ifvar", [("eth1.10", "eth1_10"), ("eth0", "eth0"),
                                         ("br-lan", "br_lan"), ("wlan0:1", "wlan0_1")])
def test_ifvar_follows_netifrc(iface, ifvar):
    assert parse.shell_var(iface) == ifvar
    assert parse.parse_interface(iface).ifvar == ifvar


def test_ifvar_override_names_the_variables():
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface("eth1.10", ifvar="uplink", rules="frmo x")
    assert info.value.errors[0].variable == "rules_uplink"


def test_bad_interface_name():
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface("eth1;reboot")
    assert info.value.lines() == ["IFACE: 'eth1;reboot' is not an interface name"]


def test_netns_kept_and_empty_netns_is_none():
    assert parse.parse_interface("eth1.10", netns="blue").netns == "blue"
    assert parse.parse_interface("eth1.10", netns="").netns is None


# ---------------------------------------------------------------- collected errors

def test_parse_interface_reports_every_problem_at_once():
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface(
            "eth1.10", table="main", guard="maybe",
            rules="from 192.0.2.17 lookup 100\nfrmo 192.0.2.17\npriority 0 lookup 100\n"
                  "from 192.0.2.17 lookup 100 ; reboot",
            rules6="from 192.0.2.17 lookup 100\nfrom 2001:db8::17 lookup 100 blackhole")
    assert info.value.lines() == [
        "table_eth1_10: 'main' is a reserved table; give this interface a table of its own",
        "policyroute_guard_eth1_10: 'maybe' is not yes or no",
        "rules_eth1_10 line 2: 'frmo' is not an ip rule selector or action",
        "rules_eth1_10 line 3: '0' priority must be 1-32765",
        "rules_eth1_10 line 4: ';' is not an ip rule selector or action",
        "rules6_eth1_10 line 1: '192.0.2.17' is not an IPv6 address",
        "rules6_eth1_10 line 2: 'blackhole' a rule has only one action",
    ]
    assert info.value.exit_code == 1
    assert str(info.value) == "; ".join(info.value.lines())


def test_one_error_per_line_even_with_several_problems_on_it():
    with pytest.raises(ConfigErrors) as info:
        parse.parse_interface("eth1.10", table="e1v10", rules="frmo x tabel y\nlookup")
    assert [(e.line, e.token) for e in info.value.errors] == [(1, "frmo"), (2, "lookup")]
