"""check warns where the shared guard could change a decision: a rules_
line with an explicit priority after it, in a namespace where an
interface has the guard on."""

from policyroute import parse
from policyroute.checks import after_the_guard

LATE = "to 198.51.100.0/24 lookup 100 priority 30000"


def configs(**by_ifvar):
    return {ifvar: parse.parse_interface(ifvar, **values) for ifvar, values in by_ifvar.items()}


def test_a_late_line_beside_a_guarded_table_is_warned_about():
    found = after_the_guard(configs(eth0={"rules": LATE}, eth1={"table": "100"}))
    assert [e.message() for e in found] == [
        "rules_eth0 line 1: 'priority 30000' comes after the shared guard (21000): traffic "
        "that no table's rules took and that main routes more specifically than its default "
        "takes main's route before this line; give a priority below 20000 to see it"]


def test_rules6_lines_too():
    found = after_the_guard(configs(eth0={"table": "100",
                                          "rules6": "to 2001:db8::/32 lookup 100 priority 32000"}))
    assert [(e.variable, e.line) for e in found] == [("rules6_eth0", 1)]


def test_no_warning_without_a_guard_early_lines_or_in_another_namespace():
    assert after_the_guard(configs(eth0={"rules": LATE}, eth1={"table": "100", "guard": "no"})) == []
    assert after_the_guard(configs(eth0={"rules": LATE})) == []
    assert after_the_guard(configs(eth0={"rules": "to 198.51.100.0/24 lookup 100 priority 900"},
                                   eth1={"table": "100"})) == []
    assert after_the_guard(configs(eth0={"rules": LATE, "netns": "blue"},
                                   eth1={"table": "100"})) == []


def test_check_prints_the_warning_and_still_passes(tmp_path, iproute2_dir, monkeypatch):
    import subprocess
    import sys
    monkeypatch.setenv("POLICYROUTE_IP", str(tmp_path / "no-such-ip"))
    conf = tmp_path / "net"
    conf.write_text(f'table_eth1="hundred"\nrules_eth0="{LATE}"\n')
    proc = subprocess.run([sys.executable, "-m", "policyroute", "check", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("policyroute: warning: rules_eth0 line 1: 'priority 30000' "
                                  "comes after the shared guard (21000)")
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stdout == f"{conf}: 2 interfaces, no problems\n"
