"""Record layer: what one start added, kept under /run so stop can undo
exactly that, whatever the configuration says by then."""

import fcntl
import json
import os
from contextlib import contextmanager

from .errors import StateError
from .parse import NETNS_RE, shown
from .plan import Obj
from .files import atomic_write

VERSION = 1


class Record:
    """objects: plan.Obj added; sysctls: [key, old, new] set; inputs: the
    variables the interface was started with ({name: value}, as the module
    passed them), so runtime events and by-hand commands plan with what
    netifrc resolved (per-MAC keys included); moved: [ADDR/PLEN, IFACE]
    for each address failover moved away from this interface."""

    def __init__(self, iface, netns=None, table=None, table_name=None,
                 objects=None, sysctls=None, inputs=None, moved=None):
        self.iface, self.netns = iface, netns
        self.table, self.table_name = table, table_name
        self.objects = list(objects or [])
        self.sysctls = list(sysctls or [])
        self.inputs = dict(inputs or {})
        self.moved = [list(m) for m in moved or []]

    def to_json(self):
        return json.dumps({
            "version": VERSION, "iface": self.iface, "netns": self.netns,
            "table": self.table, "table_name": self.table_name,
            "objects": [{"kind": o.kind, "family": o.family, "args": list(o.args)}
                        for o in self.objects],
            "sysctls": self.sysctls, "inputs": self.inputs, "moved": self.moved},
            separators=(",", ":")) + "\n"     # indent= takes the slow encoder

    @classmethod
    def from_json(cls, text):
        """The record, or ValueError naming what is wrong with it: a record
        is input, checked like configuration."""
        d = json.loads(text)
        _check(isinstance(d, dict), "not a JSON object")
        if d.get("version") != VERSION:
            raise StateError(f"record version {d.get('version')} is not {VERSION}")
        _check(isinstance(d["iface"], str), "iface is not a string")
        for k in ("netns", "table_name"):
            _check(d.get(k) is None or isinstance(d[k], str), f"{k} is not a string")
        _check(d.get("table") is None or type(d["table"]) is int, "table is not a number")
        objects, sysctls = d["objects"], d.get("sysctls", [])
        _check(isinstance(objects, list) and all(
            isinstance(o, dict) and o.get("kind") in ("rule", "route")
            and str(o.get("family")) in ("4", "6") and _strings(o.get("args"))
            for o in objects), "objects are not [{kind, family, args}]")
        _check(isinstance(sysctls, list) and all(_strings(s, 3) for s in sysctls),
               "sysctls are not [key, old, new] triples")
        inputs, moved = d.get("inputs", {}), d.get("moved", [])
        _check(isinstance(inputs, dict) and _strings(list(inputs) + list(inputs.values())),
               "inputs is not a map of strings")
        _check(isinstance(moved, list) and all(_strings(m, 2) for m in moved),
               "moved is not a list of [address, interface]")
        objs = [Obj(o["kind"], int(o["family"]), tuple(o["args"])) for o in objects]
        return cls(d["iface"], d.get("netns"), d.get("table"), d.get("table_name"),
                   objs, [list(s) for s in sysctls], inputs, moved)


def _check(ok, what):
    if not ok:
        raise ValueError(what)


def _strings(value, length=None):
    """A list of strings (of that length, if given)."""
    return isinstance(value, list) and all(isinstance(x, str) for x in value) \
        and (length is None or len(value) == length)


class Store:
    def __init__(self, state_dir):
        self.root = state_dir

    def path(self, iface, netns=None):
        return os.path.join(self.folder(netns), f"{iface}.json")

    def load(self, iface, netns=None):
        p = self.path(iface, netns)
        try:
            with open(p) as f:
                return Record.from_json(f.read())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            raise StateError(f"{p}: unreadable record ({e})") from None

    def save(self, record):
        p = self.path(record.iface, record.netns)
        atomic_write(p, record.to_json(), 0o644)

    def folder(self, netns=None):
        if netns and not NETNS_RE.match(netns):
            raise StateError(f"'{shown(netns)}' is not a network namespace name")
        return os.path.join(self.root, "netns", netns) if netns else self.root

    @contextmanager
    def locked(self, netns=None):
        """One writer per namespace: a start, a stop, the follower and a
        move never plan on each other's half-done work (a move and
        failover touch two interfaces at once)."""
        folder = self.folder(netns)
        os.makedirs(folder, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(folder, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def in_netns(self, netns=None, problems=None):
        """The records of one namespace's interfaces, by interface name.
        With a ``problems`` list, an unreadable record is reported there
        and left out instead of raising (the follower keeps following the
        others)."""
        out = {}
        folder = self.folder(netns)
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        except FileNotFoundError:
            return out
        for name in names:
            try:
                record = self.load(name[:-len(".json")], netns)
            except StateError as e:
                if problems is None:
                    raise
                problems.append(str(e))
                continue
            if record is not None:
                out[record.iface] = record
        return out

    def followed(self, netns=None, problems=None):
        """The records of a namespace's interfaces that have a table: what
        the follower keeps right and failover and move may use (rules_
        lines alone do not change with addresses or carrier)."""
        return {name: r for name, r in self.in_netns(netns, problems).items()
                if r.table is not None}

    def remove(self, iface, netns=None):
        try:
            os.unlink(self.path(iface, netns))
        except FileNotFoundError:
            pass

    def all(self):
        """Every record: (path, Record) for show and sync --all. A record
        that cannot be read is an error, never silently skipped."""
        for folder, _dirs, files in sorted(os.walk(self.root)):
            for name in sorted(f for f in files if f.endswith(".json")):
                p = os.path.join(folder, name)
                try:
                    with open(p) as f:
                        yield p, Record.from_json(f.read())
                except (OSError, ValueError, KeyError, TypeError) as e:
                    raise StateError(f"{p}: unreadable record ({e})") from None

    def elsewhere(self, iface, netns=None):
        """Namespaces (None: the host) holding a record of iface other than
        netns: an interface name means nothing outside its namespace."""
        return [r.netns for _p, r in self.all() if r.iface == iface and r.netns != netns]
