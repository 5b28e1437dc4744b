"""trial.py without a kernel: which lines are tried, what the trial runs,
and how a refusal is reported. The trial itself (a namespace and ``ip``)
is tests/netns/test_trial_kernel.py."""

import os

import pytest

from policyroute import parse, trial
from policyroute.errors import ConfigError, StateError


def rules(text, family=4):
    cfg = parse.parse_interface("eth1", table="e1", **{"rules" if family == 4 else "rules6": text})
    return list(cfg.rules)


@pytest.fixture
def no_fork(monkeypatch):
    def refuse():
        raise AssertionError("the trial forked for lines that need none")
    monkeypatch.setattr(os, "fork", refuse)


def test_only_version_dependent_words_are_tried():
    tried = [trial.needs_trial(r) for r in rules(
        "from 192.0.2.1 lookup main\ndscp 10 lookup main\nfwmark 7\n"
        "tos 0x10 lookup e1\nipproto tcp dport 80 lookup main")]
    assert tried == [False, True, False, False, False]
    assert [trial.needs_trial(r) for r in rules("flowlabel 0x5 lookup main", 6)] == [True]


def test_lines_without_those_words_cost_no_process(no_fork):
    assert trial.refusals(rules("from 192.0.2.1 lookup main\nfwmark 7 priority 100")) == []
    assert trial.refusals([]) == []


def test_the_trial_line_is_the_start_s_with_main_for_a_name():
    dscp, with_prio = rules("dscp 10 lookup e1\nfrom 192.0.2.0/24 dscp 3 priority 500 lookup 1030")
    assert " ".join(trial._trial_args(dscp, 0)) == \
        "dscp 10 priority 10000 lookup main protocol 201"
    assert " ".join(trial._trial_args(with_prio, 1)) == \
        "from 192.0.2.0/24 dscp 3 priority 500 lookup 1030 protocol 201"


def test_a_refusal_names_variable_line_word_and_iproute2_s_words(monkeypatch):
    runs = []

    def fake_try(family, lines):
        runs.append((family, lines))
        refused = [args for args in lines if "dscp 10" in " ".join(args)]
        return 'Error: argument "dscp" is wrong: Failed to parse rule type' if refused else None

    monkeypatch.setattr(trial, "_try", fake_try)
    found = trial.refusals(rules("fwmark 1\ndscp 10 lookup main\ndscp 11 lookup main"))
    assert [e.message() for e in found] == [
        "rules_eth1 line 2: 'dscp' is refused by this system's ip rule: "
        'Error: argument "dscp" is wrong: Failed to parse rule type']
    # one batch for both lines; iproute2 names no line, so each is tried alone
    assert [len(lines) for _f, lines in runs] == [2, 1, 1]
    runs.clear()
    assert len(trial.refusals(rules("dscp 10 lookup main"))) == 1
    assert [len(lines) for _f, lines in runs] == [1]         # one line: one run says it all
    assert all(isinstance(e, ConfigError) for e in found)


def test_no_namespace_is_a_state_error_naming_the_line(monkeypatch):
    def no_namespace(family, lines):
        raise OSError("cannot make a network namespace: Operation not permitted")

    monkeypatch.setattr(trial, "_try", no_namespace)
    with pytest.raises(StateError) as info:
        trial.refusals(rules("fwmark 1\nflowlabel 3 lookup main", 6))
    assert str(info.value) == ("rules6_eth1 line 2: cannot be tried before the start: "
                               "cannot make a network namespace: Operation not permitted")
