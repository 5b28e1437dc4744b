"""A trial of rules_ lines whose words depend on the iproute2 and kernel
versions, in a throwaway network namespace.

The parser knows every ``ip rule`` word of current iproute2, but an older
``ip`` (6.1 has no ``dscp`` nor ``flowlabel``) or kernel refuses some of
them, and only at post-start, after netifrc added the addresses. So at
pre-start (and in ``check``) a line with such a word is added, as the start
would add it, in a new network namespace that only this trial sees and that
vanishes with it; a refusal names the variable, the line and iproute2's
words. The rules are read back there too: an ``ip`` that takes a word but
drops it (iproute2 before 6.15 reads ``sport 22/0xff00`` as ``sport 22``)
would select other traffic than the line says. Lines without those words
are not tried: a start pays nothing.
"""

import os

from . import plan
from .errors import ConfigError, KernelError, PolicyRouteError, StateError

# ip rule words iproute2 or the kernel learnt lately (iproute2 6.13, 6.15).
VERSION_DEPENDENT = ("dscp", "flowlabel")
CLONE_NEWUSER = 0x10000000
TRIAL_PRIORITY = 10000          # any priority will do in an empty namespace


MASKABLE = ("sport", "dport")     # PORT/MASK: iproute2 6.15; older ones drop the mask


def _trial_words(rule):
    """The words of a line that make it need a trial."""
    return [k for k, v in (*rule.selector, *rule.modifiers)
            if k in VERSION_DEPENDENT or (k in MASKABLE and "/" in v)]


def needs_trial(rule):
    return bool(_trial_words(rule))


def refusals(rules):
    """One ConfigError per line the trial's ``ip`` refuses; [] when no
    line needs a trial. A namespace that cannot be made is a StateError:
    a line that may be refused is not let through untried."""
    tried = [r for r in rules if needs_trial(r)]
    try:
        return [e for family in (4, 6) for e in _family_refusals(
            family, [r for r in tried if (r.family or 4) == family])]
    except OSError as e:
        first = tried[0].origin
        raise StateError(f"{first.variable} line {first.line}: cannot be tried before "
                         f"the start: {e}") from None


def _family_refusals(family, lines):
    if not lines:
        return []
    answer = _try(family, [_trial_args(r, n) for n, r in enumerate(lines)])
    if answer is None:
        return []
    if isinstance(answer, list):                # taken, but these lines not as written
        return [_changed(lines[i]) for i in answer]
    if len(lines) == 1:
        return [_refused(lines[0], answer)]
    # iproute2 names no line when it cannot parse one: try each alone.
    out = []
    for n, rule in enumerate(lines):
        answer = _try(family, [_trial_args(rule, n)])
        if isinstance(answer, list):
            out.append(_changed(rule))
        elif answer is not None:
            out.append(_refused(rule, answer))
    return out


def _trial_args(rule, n):
    """``rule add`` arguments as the start would give them; a table name
    becomes main, as it may not be registered yet (the trial is about the
    other words)."""
    if rule.action[0] == "lookup" and not rule.action[1].isdigit():
        rule = rule._replace(action=("lookup", "main"))
    priority = rule.priority if rule.priority is not None else TRIAL_PRIORITY + n
    return plan.rule_args(rule, priority)


def _refused(rule, words):
    return ConfigError(rule.origin.variable, rule.origin.line, _trial_words(rule)[0],
                       f"is refused by this system's ip rule: {words}")


def _changed(rule):
    word = _trial_words(rule)[0]
    value = dict((*rule.selector, *rule.modifiers))[word]
    return ConfigError(rule.origin.variable, rule.origin.line, f"{word} {value}",
                       "is not kept as written by this system's ip rule (iproute2 before "
                       "6.15 drops a port mask): the rule would select other traffic")


def _try(family, lines):
    """Add rules (argument tuples) with ``ip -batch`` in a new network
    namespace, in a child process: None; iproute2's words when it refused
    one; or the indexes of the lines the kernel, read back, lacks."""
    import json
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                # pragma: no cover (child)
        os.close(read_end)
        os.write(write_end, json.dumps(_child(family, lines)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        answer = f.read()
    os.waitpid(pid, 0)
    if not answer:
        raise OSError("the trial's child process died")
    kind, words = json.loads(answer)
    if kind == "os":
        raise OSError(words)
    return words


def _child(family, rules):
    from .kernel import Runner          # only a start with such a line pays for it
    from .observe import rule_key
    try:
        _unshare()
        runner = Runner()
        runner.batch(family, ["rule add " + " ".join(args) for args in rules])
        have = {rule_key(j, family) for j in runner.query(family, ["rule show"])[0]}
        lacking = [i for i, args in enumerate(rules)
                   if plan.key_of_args("rule", family, tuple(args)) not in have]
        return ["changed", lacking] if lacking else ["ok", None]
    except OSError as e:
        return ["os", f"cannot make a network namespace: {e.strerror or e}"]
    except KernelError as e:
        return ["refused", e.stderr]
    except PolicyRouteError as e:
        return ["os", str(e)]


def _unshare():
    """A new network namespace for this process and what it runs. Not
    root: inside a new user namespace too, where it is mapped to root,
    so the ip it runs keeps the rights over that namespace."""
    import ctypes
    from .kernel import CLONE_NEWNET
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET | (CLONE_NEWUSER if uid != 0 else 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    if uid != 0:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
