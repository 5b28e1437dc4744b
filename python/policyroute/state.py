"""Record layer: what one start added, kept under /run so stop can undo
exactly that, whatever the configuration says by then."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StateError
from .plan import Obj
from .tables import atomic_write

VERSION = 1


@dataclass
class Record:
    iface: str
    netns: str | None = None
    table: int | None = None
    table_name: str | None = None
    objects: list = field(default_factory=list)     # plan.Obj
    sysctls: list = field(default_factory=list)     # [key, old, new]

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
        if d.get("version") != VERSION:
            raise StateError(f"record version {d.get('version')} is not {VERSION}")
        objs = [Obj(o["kind"], int(o["family"]), tuple(o["args"])) for o in d["objects"]]
        return cls(d["iface"], d.get("netns"), d.get("table"), d.get("table_name"),
                   objs, [list(s) for s in d.get("sysctls", [])])


class Store:
    def __init__(self, state_dir):
        self.root = Path(state_dir)

    def path(self, iface, netns=None):
        base = self.root / "netns" / netns if netns else self.root
        return base / f"{iface}.json"

    def load(self, iface, netns=None):
        p = self.path(iface, netns)
        try:
            return Record.from_json(p.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            raise StateError(f"{p}: unreadable record ({e})") from None

    def save(self, record):
        p = self.path(record.iface, record.netns)
        os.makedirs(p.parent, mode=0o755, exist_ok=True)
        atomic_write(p, record.to_json(), 0o644)

    def remove(self, iface, netns=None):
        try:
            self.path(iface, netns).unlink()
        except FileNotFoundError:
            pass

    def all(self):
        """Every record: (path, Record) for show and sync --all."""
        for p in sorted(self.root.rglob("*.json")):
            try:
                yield p, Record.from_json(p.read_text())
            except (OSError, ValueError, KeyError, TypeError, StateError):
                continue
