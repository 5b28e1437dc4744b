"""Record layer: what one start added, kept under /run so stop can undo
exactly that, whatever the configuration says by then."""

import json
import os

from .errors import StateError
from .plan import Obj
from .tables import atomic_write

VERSION = 1


class Record:
    """objects: plan.Obj added; sysctls: [key, old, new] set."""

    def __init__(self, iface, netns=None, table=None, table_name=None,
                 objects=None, sysctls=None):
        self.iface, self.netns = iface, netns
        self.table, self.table_name = table, table_name
        self.objects = list(objects or [])
        self.sysctls = list(sysctls or [])

    def to_json(self):
        return json.dumps({
            "version": VERSION, "iface": self.iface, "netns": self.netns,
            "table": self.table, "table_name": self.table_name,
            "objects": [{"kind": o.kind, "family": o.family, "args": list(o.args)}
                        for o in self.objects],
            "sysctls": self.sysctls}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text):
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        if d.get("version") != VERSION:
            raise StateError(f"record version {d.get('version')} is not {VERSION}")
        objs = [Obj(o["kind"], int(o["family"]), tuple(o["args"])) for o in d["objects"]]
        return cls(d["iface"], d.get("netns"), d.get("table"), d.get("table_name"),
                   objs, [list(s) for s in d.get("sysctls", [])])


class Store:
    def __init__(self, state_dir):
        self.root = state_dir

    def path(self, iface, netns=None):
        base = os.path.join(self.root, "netns", netns) if netns else self.root
        return os.path.join(base, f"{iface}.json")

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
