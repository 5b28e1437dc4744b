"""confd.read_config: /etc/conf.d/net is shell and /bin/sh reads it."""

import pytest

from policyroute import confd, parse
from policyroute.errors import ConfigError

CONF = r"""# conf.d/net as netifrc users write it
config_eth1_10="192.0.2.17/24
192.0.2.18/24"
table_eth1_10="e1v10"
table_eth2=' isp '
table_eth3="1030"
table_eth4="0x500"
rules_eth1_10="from 192.0.2.17 lookup e1v10
	fwmark 7   priority 100
"
rules6_eth1_10='from 2001:db8::17'
rules_eth2='from $(touch PWNED) lookup `id`'
policyroute_guard_eth1_10=no
policyroute_arp_eth1_10="yes"
netns_eth2="blue"
unrelated_eth1_10="not ours"
name="with \"quotes\" and 'single' ones"
rules_eth5="to 203.0.113.0/24 lookup \"main\""
preup() {
	return 0
}
"""


@pytest.fixture
def conf(tmp_path):
    p = tmp_path / "net"
    p.write_text(CONF)
    return p


def test_reads_values_as_the_shell_does(conf, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = confd.read_config(conf)
    assert v["table_eth1_10"] == "e1v10"
    assert v["table_eth2"] == " isp "
    assert v["rules_eth1_10"] == "from 192.0.2.17 lookup e1v10\n\tfwmark 7   priority 100\n"
    assert v["rules6_eth1_10"] == "from 2001:db8::17"
    assert v["config_eth1_10"] == "192.0.2.17/24\n192.0.2.18/24"
    assert v["policyroute_guard_eth1_10"] == "no"
    assert v["netns_eth2"] == "blue"
    assert v["rules_eth5"] == 'to 203.0.113.0/24 lookup "main"'
    # only our prefixes come back
    assert "unrelated_eth1_10" not in v and "name" not in v and "PATH" not in v


def test_single_quoted_command_substitution_stays_literal(conf, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = confd.read_config(conf)
    assert v["rules_eth2"] == "from $(touch PWNED) lookup `id`"
    assert not (tmp_path / "PWNED").exists()
    # ...and the parser refuses it, naming the token
    with pytest.raises(parse.ConfigErrors) as info:
        parse.parse_interface("eth2", **confd.interface_values(v, "eth2"))
    assert info.value.lines()[0] == "rules_eth2 line 1: '$(touch' is not an address or prefix"


def test_interface_values(conf):
    v = confd.read_config(conf)
    assert confd.interface_values(v, "eth1_10") == dict(
        table="e1v10", rules="from 192.0.2.17 lookup e1v10\n\tfwmark 7   priority 100\n",
        rules6="from 2001:db8::17", guard="no", arp="yes", netns=None)
    assert confd.interface_values(v, "eth9") == dict(
        table=None, rules=None, rules6=None, guard=None, arp=None, netns=None)
    cfg = parse.parse_interface("eth1.10", **confd.interface_values(v, "eth1_10"))
    assert (cfg.table.name, cfg.guard, cfg.arp, len(cfg.rules)) == ("e1v10", False, True, 3)
    assert [r.priority for r in cfg.rules] == [None, 100, None]


def test_table_names_are_names_only(conf):
    assert sorted(confd.table_names(confd.read_config(conf))) == ["e1v10", "isp"]


def test_broken_shell_is_a_config_error_naming_the_file(tmp_path):
    p = tmp_path / "net"
    p.write_text('rules_eth1="from 192.0.2.17\n')          # unterminated quote
    with pytest.raises(ConfigError) as info:
        confd.read_config(p)
    assert info.value.variable == str(p)
    assert "is not valid shell" in info.value.reason


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        confd.read_config(tmp_path / "nope")
    assert info.value.variable == str(tmp_path / "nope")


def test_missing_shell_is_a_config_error(conf, tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        confd.read_config(conf, shell=str(tmp_path / "no-shell"))


def test_relative_path_is_read_from_the_current_folder(conf, tmp_path, monkeypatch):
    # Was a bug in python/policyroute/confd.py:15-17 (read_config): the file is read
    # with `. "$1"`; POSIX `.` searches PATH for a name without a slash, so
    # `policyroute up eth1 --config net` fails under dash ("net: not found")
    # although ./net exists. Fix: pass os.path.abspath(path) to the shell.
    monkeypatch.chdir(tmp_path)
    assert confd.read_config("net")["table_eth1_10"] == "e1v10"
