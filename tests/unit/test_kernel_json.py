"""kernel._split_json: ``ip -json -batch`` answers, one list per command
back to back, read an element at a time (what runner.query's ``each``
makes of each), and bad output as one StateError, never a traceback."""

import json

import pytest

from policyroute import observe
from policyroute.errors import StateError
from policyroute.kernel import _split_json

RULES = [{"priority": 0, "src": "all", "table": "255"},
         {"priority": 20001, "src": "2001:db8:1::1", "srclen": 128, "table": "1025",
          "protocol": "201"}]
ADDRS = [{"ifindex": 3, "ifname": "eth1.10", "addr_info": [
    {"family": "inet6", "local": "2001:db8:1::1", "prefixlen": 128, "scope": "global"}]}]


def test_answers_back_to_back_as_ip_prints_them():
    text = json.dumps(ADDRS) + "\n" + json.dumps(RULES) + "\n[]\n  [ ]\n"
    assert _split_json(text, [None] * 4) == [ADDRS, RULES, [], []]


def test_each_makes_the_elements_of_its_answer_only():
    text = json.dumps(ADDRS, indent=2) + json.dumps(RULES, indent=1)
    made = []

    def key(j):
        made.append(j)
        return j["priority"]
    assert _split_json(text, [None, key]) == [ADDRS, [0, 20001]]
    assert made == RULES


def test_rule_show_is_read_into_keys():
    text = json.dumps(ADDRS) + json.dumps(RULES)
    addrs, keys = _split_json(text, observe.readers(6, ["addr show", "rule show"]))
    assert addrs == ADDRS
    assert keys == [(6, observe.rule_key(j, 6)) for j in RULES]


@pytest.mark.parametrize("text,words", [
    ("[]", "gave 1 answers to 2 queries"),
    ("", "gave 0 answers to 2 queries"),
    ('{"a": 1}[]', "a dict where a list belongs"),
    ('[{"a": 1} {"b": 2}][]', "no ',' or ']'"),
    ('[{"a": 1},][]', "not JSON"),
    ('[{"a": 1}', "not JSON"),
    ("[1, 2", "not JSON"),
])
def test_bad_output_is_a_state_error(text, words):
    with pytest.raises(StateError) as e:
        _split_json(text, [None, None])
    assert words in str(e.value)


def test_ip_output_is_read_whole_from_a_file(tmp_path, monkeypatch):
    """Runner._run gives ip's stdout (read from a memfd) and stderr as
    text, with its exit code; a big answer arrives whole."""
    from policyroute import kernel
    rules = [{"priority": 20001 + i, "src": "2001:db8:1::1", "table": "1025"}
             for i in range(20000)]
    (tmp_path / "answer.json").write_text(json.dumps(rules))
    ip = tmp_path / "ip"
    ip.write_text(f"#!/bin/sh\ncat > {tmp_path}/stdin\ncat {tmp_path}/answer.json\n"
                  "echo 'Error: nope.' >&2\nexit 3\n")
    ip.chmod(0o755)
    monkeypatch.setattr(kernel, "IP", str(ip))
    proc = kernel.Runner()._run(["-6", "-json", "-batch", "-"], "rule show\n")
    assert (proc.returncode, proc.stderr) == (3, "Error: nope.\n")
    assert json.loads(proc.stdout) == rules
    assert (tmp_path / "stdin").read_text() == "rule show\n"
