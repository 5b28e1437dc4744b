"""Record layer: what one start added, kept under /run so stop can undo
exactly that, whatever the configuration says by then."""

import errno
import fcntl
import ipaddress
import json
import os
import re
from contextlib import contextmanager
from functools import lru_cache, partial
from json.encoder import encode_basestring_ascii

from . import bands, sysctl
from .errors import StateError
from .files import HELD, atomic_write, make_folders, open_lock, open_ours, read_text
from .parse import IFNAME_RE, INPUTS, NETNS_RE, shown
from .plan import Obj

VERSION = 1
# Where a held hook (commands/hold.py) leaves an interface: its rules are
# in before netifrc adds its addresses, and out after netifrc flushes them.
PHASES = ("starting", "stopping")
SUFFIX, BAD_SUFFIX = ".json", ".json.bad"
# A word of a recorded object: printable ASCII without what ip -batch
# reads as a separator, a comment or a quote.
WORD = r"[!$-&(-\[\]-~]+"
WORD_RE = re.compile(rf"^{WORD}\Z")
LINE_RE = re.compile(rf"^{WORD}(?: {WORD})*\Z")       # words joined by one space
NUMBER_RE = re.compile(r"^-?[0-9]{1,10}\Z")

# {path: (identity of the file, Record read from it)} once keep_records()
# is called; None: every read parses and checks the file.
_kept = None


def keep_records():
    """From now on in this process, a record whose file is the very one
    read before (same device, inode, size, mtime and ctime) is not parsed
    and checked again: the follower's worker reads every record of its
    namespace on every pass, and most have not changed since the last.
    Records are only ever replaced whole, under a new inode
    (files.atomic_write); a file changed in place changes its mtime. A
    record this process saves is kept as written."""
    global _kept
    if _kept is None:
        _kept = {}


class Record:
    """objects: plan.Obj added; sysctls: [key, old, new] set; inputs: the
    variables the interface was started with ({name: value}, as the module
    passed them), so runtime events and by-hand commands plan with what
    netifrc resolved (per-MAC keys included); moved: [ADDR/PLEN, IFACE]
    for each address failover moved away from this interface; phase:
    None once started, else the hook the interface is between (PHASES):
    the follower leaves it alone while netifrc adds or flushes its
    addresses."""

    def __init__(self, iface, netns=None, table=None, table_name=None,
                 objects=None, sysctls=None, inputs=None, moved=None, phase=None):
        self.iface, self.netns = iface, netns
        self.table, self.table_name = table, table_name
        self.objects = list(objects or [])
        self.sysctls = list(sysctls or [])
        self.inputs = dict(inputs or {})
        self.moved = [list(m) for m in moved or []]
        self.phase = phase

    def copy(self):
        """A record to change freely: the lists are its own, the objects
        (immutable) shared."""
        return Record(self.iface, self.netns, self.table, self.table_name, self.objects,
                      [list(s) for s in self.sysctls], self.inputs, self.moved, self.phase)

    def to_json(self):
        """The record as one line of JSON. The objects are written one by
        one into the text: at 10,000 addresses a dict and a list for each
        of 20,000 objects, held all at once, cost more than the text."""
        head = _dumps({
            "version": VERSION, "iface": self.iface, "netns": self.netns,
            "table": self.table, "table_name": self.table_name, "objects": []})
        tail = _dumps({"sysctls": self.sysctls, "inputs": self.inputs, "moved": self.moved,
                       **({"phase": self.phase} if self.phase else {})})
        objects = ",".join([f'{_head(o.kind, o.family)}[{",".join(map(_word, o.args))}]}}'
                            for o in self.objects])
        return f"{head[:-3]}[{objects}],{tail[1:]}\n"

    @classmethod
    def from_json(cls, text, iface=None, netns=None, same=None):
        """The record, or ValueError naming what is wrong with it: a record
        is input, checked like configuration. ``iface``/``netns``: what
        the file's name and folder say it must be about."""
        d = json.loads(text, object_hook=partial(_lean, {}))
        _check(isinstance(d, dict), "not a JSON object")
        _check(type(d.get("version")) is int and d["version"] == VERSION,
               f"version is not {VERSION}")
        name, ns = d.get("iface"), d.get("netns")
        _check(isinstance(name, str) and IFNAME_RE.match(name), "iface is not an interface name")
        _check(iface is None or name == iface, f"iface '{shown(name)}' is not the file's own")
        _check(ns is None or isinstance(ns, str) and NETNS_RE.match(ns),
               "netns is not a namespace name")
        _check(iface is None or ns == netns, "netns is not the folder's own")
        table, table_name = d.get("table"), d.get("table_name")
        _check(table is None or type(table) is int and 0 < table <= bands.TABLE_MAX,
               "table is not a table number")
        _check(table_name is None or isinstance(table_name, str) and WORD_RE.match(table_name),
               "table_name is not a word")
        objs = [_obj(o, i, name, table, same or {}) for i, o in enumerate(_list(d, "objects"))]
        sysctls = _sysctls(_list(d, "sysctls"), name)
        inputs = d.get("inputs", {})
        _check(isinstance(inputs, dict) and set(inputs) <= set(INPUTS)
               and all(isinstance(v, str) for v in inputs.values()),
               "inputs is not a map of the module's values")
        moved = [_moved(m) for m in _list(d, "moved")]
        phase = d.get("phase")
        _check(phase is None or phase in PHASES, f"phase is not one of {', '.join(PHASES)}")
        return cls(name, ns, table, table_name, objs, sysctls, inputs, moved, phase)


def _check(ok, what):
    if not ok:
        raise ValueError(what)


def _list(d, name):
    value = d.get(name, [])
    _check(isinstance(value, list), f"{name} is not a list")
    return value


_dumps = json.JSONEncoder(separators=(",", ":")).encode    # indent= takes the slow encoder
# A word as _dumps writes it: an object's args this way cost a third of
# _dumps(args), which makes an encoder at each call (2,001 objects: 1.2 ms).
_word = encode_basestring_ascii


@lru_cache(maxsize=None)            # rule or route, 4 or 6
def _head(kind, family):
    """An object's JSON up to its args' value."""
    return f'{{"kind":{_dumps(kind)},"family":{_dumps(family)},"args":'


class _Raw(tuple):
    """An object of the record as read, before _obj checks it: (kind,
    family, args as a tuple of shared words)."""
    __slots__ = ()


def _lean(words, d):
    """json's object_hook: each {kind, family, args} with words for args
    becomes a _Raw as soon as it is read, each word one string for the
    whole record, so the 20,000 objects at 10,000 addresses are never held
    as dicts and lists of strings all at once (``words``: those read so
    far). Anything else stays as read for _obj to refuse."""
    args = d.get("args")
    if len(d) == 3 and "kind" in d and "family" in d and type(args) is list \
            and all(type(w) is str for w in args):
        return _Raw((d["kind"], d["family"], tuple([words.setdefault(w, w) for w in args])))
    return d


def _obj(o, i, iface, table, same):
    """One recorded object: words ip -batch reads as written, a key plan
    can build, and a route or automatic rule only of this interface's
    table; ``same``'s object when it has an equal one. (20,000 of them at
    10,000 addresses: kept lean.)"""
    what = f"object {i + 1}"
    try:
        kind, family, args = o if type(o) is _Raw else (o["kind"], o["family"], o["args"])
        line = " ".join(args) if type(args) in (list, tuple) else None
    except (TypeError, KeyError):
        raise ValueError(f"{what} is not {{kind, family, args}}") from None
    _check(kind in ("rule", "route") and type(family) is int and family in (4, 6)
           and line is not None, f"{what} is not {{kind, family, args}}")
    _check(LINE_RE.match(line) and line.count(" ") == len(args) - 1,
           f"{what}: args are not plain printable words")
    obj = Obj(kind, family, tuple(args))
    obj = same.get(obj, obj)
    try:
        key = obj.key
    except (ValueError, IndexError, KeyError):
        raise ValueError(f"{what}: '{shown(line)[:80]}' is not a {kind}") from None
    if kind == "route":
        _check(("dev", iface) in key and ("table", str(table)) in key,
               f"{what}: a route not of {iface}'s table")
    elif ("action", f"lookup {table}") not in key and ("action", "lookup 254") not in key:
        _check(not bands.in_auto_band(int(dict(key).get("priority", "0"))),
               f"{what}: an automatic rule not of {iface}'s table")
    return obj


def _sysctls(entries, iface):
    """[key, old, new] triples, each key one sysctl.py writes for iface."""
    allowed, seen = sysctl.keys(iface), set()
    for e in entries:
        _check(isinstance(e, list) and len(e) == 3 and all(isinstance(x, str) for x in e),
               "sysctls are not [key, old, new] triples")
        _check(e[0] in allowed and e[0] not in seen,
               f"sysctl key '{shown(e[0])[:80]}' is not one policyroute sets for {iface}")
        _check(all(NUMBER_RE.match(x) for x in e[1:]), f"sysctl {e[0]}: values are not numbers")
        seen.add(e[0])
    return [list(e) for e in entries]


def _moved(m):
    _check(isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m)
           and "/" in m[0] and IFNAME_RE.match(m[1]), "moved is not a list of [address, interface]")
    try:
        ipaddress.ip_interface(m[0])
    except ValueError:
        raise ValueError(f"moved: '{shown(m[0])[:80]}' is not an address") from None
    return list(m)


class Store:
    def __init__(self, state_dir):
        self.root = state_dir

    def path(self, iface, netns=None):
        return os.path.join(self.folder(netns), f"{iface}{SUFFIX}")

    def load(self, iface, netns=None, same=None):
        """The record, None without one; StateError naming the file and
        what is wrong when it cannot be used. ``same``: {Obj: Obj} of
        objects made already; a recorded one equal to one of them is that
        one (the plan's, when the record is read after it)."""
        p = self.path(iface, netns)
        try:
            if _kept is None:
                return Record.from_json(read_text(p), iface, netns, same)
            return _read_kept(p, iface, netns, same)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise StateError(f"{p}: unreadable record ({_why(e)})") from None

    def set_aside(self, iface, netns=None):
        """Rename an unusable record to IFACE.json.bad (for a look by
        hand; an older one is replaced); its new path."""
        p = self.path(iface, netns)
        bad = p[:-len(SUFFIX)] + BAD_SUFFIX
        if os.path.isdir(bad) and not os.path.islink(bad):
            import shutil               # rare: not worth its import at every start
            shutil.rmtree(bad)          # a folder is in the way of any rename
        elif os.path.isdir(p) and os.path.lexists(bad):
            os.unlink(bad)
        os.replace(p, bad)
        return bad

    def save(self, record):
        self.make_folder(record.netns)
        path = self.path(record.iface, record.netns)
        atomic_write(path, record.to_json(), 0o644)
        if _kept is not None:           # what we wrote needs no reading back
            _kept[path] = (_identity(os.stat(path)), record.copy())

    def folder(self, netns=None):
        if netns and not NETNS_RE.match(netns):
            raise StateError(f"'{shown(netns)}' is not a network namespace name")
        return os.path.join(self.root, "netns", netns) if netns else self.root

    def make_folder(self, netns=None):
        """The namespace's folder, 0755 whatever the umask; never a symlink."""
        self.folder(netns)
        return make_folders(self.root, *(("netns", netns) if netns else ()))

    @contextmanager
    def locked(self, netns=None):
        """One writer per namespace: a start, a stop, the follower and a
        move never plan on each other's half-done work (a move and
        failover touch two interfaces at once)."""
        fd = open_lock(os.path.join(self.make_folder(netns), ".lock"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            HELD.add(fd)
            yield
        finally:
            HELD.discard(fd)
            os.close(fd)

    def names(self, netns=None):
        """Interfaces with a record file (readable or not) in a namespace."""
        try:
            found = os.listdir(self.folder(netns))
        except FileNotFoundError:
            return []
        return sorted(n[:-len(SUFFIX)] for n in found if n.endswith(SUFFIX))

    def in_netns(self, netns=None, problems=None, but=None):
        """The records of one namespace's interfaces, by interface name.
        With a ``problems`` list, an unreadable record is reported there
        and left out instead of raising (the follower keeps following the
        others). ``but``: an interface whose record is not read (a stop
        has its own in hand: at 10,000 addresses a second copy is ~10 MiB)."""
        out = {}
        for name in self.names(netns):
            if name == but:
                continue
            try:
                record = self.load(name, netns)
            except StateError as e:
                if problems is None:
                    raise
                problems.append(str(e))
                continue
            if record is not None:
                out[record.iface] = record
        return out

    def followed(self, netns=None, problems=None):
        """The records of a namespace's interfaces that have a table and
        are not between two hooks of netifrc: what the follower keeps right
        and failover and move may use (rules_ lines alone do not change
        with addresses or carrier; netifrc is adding or flushing the
        addresses of an interface in a phase)."""
        return {name: r for name, r in self.in_netns(netns, problems).items()
                if r.table is not None and r.phase is None}

    def remove(self, iface, netns=None):
        try:
            os.unlink(self.path(iface, netns))
        except FileNotFoundError:
            pass

    def all(self):
        """Every record: (path, Record) for show and sync --all. A record
        that cannot be read is an error, never silently skipped."""
        for netns in [None] + self.namespaces():
            for name in self.names(netns):
                record = self.load(name, netns)
                if record is not None:
                    yield self.path(name, netns), record

    def namespaces(self):
        """Namespaces with a folder of records."""
        try:
            return sorted(n for n in os.listdir(os.path.join(self.root, "netns"))
                          if NETNS_RE.match(n))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def elsewhere(self, iface, netns=None):
        """Namespaces (None: the host) holding a record of iface other than
        netns: an interface name means nothing outside its namespace."""
        return [ns for ns in [None] + self.namespaces() if ns != netns and iface in self.names(ns)]


def _read_kept(path, iface, netns, same=None):
    """Store.load's Record.from_json(read_text(path)), parsed only when the
    file is not the one read last time (keep_records)."""
    identity, record = _kept.pop(path, (None, None))   # gone or unreadable: forgotten
    with open_ours(path) as f:
        now = _identity(os.fstat(f.fileno()))
        if now != identity:
            record = Record.from_json(f.read().decode("utf-8"), iface, netns, same)
    _kept[path] = (now, record)
    return record.copy()


def _identity(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _why(e):
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 at byte {e.start}"
    if isinstance(e, OSError):
        return "a symbolic link" if e.errno == errno.ELOOP else e.strerror or str(e)
    return str(e)
