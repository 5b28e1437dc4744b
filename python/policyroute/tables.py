"""Table names: what iproute2 knows, and registering the names it does not.

iproute2 resolves names from rt_tables and rt_tables.d/*.conf under its
configuration folder (and its data folder). We add names only to a file of
our own, rt_tables.d/policyroute.conf, under an exclusive lock so parallel
interface starts never hand one number out twice or tear the file.
"""

import fcntl
import os
import re
from contextlib import contextmanager
import glob

from . import bands
from .files import atomic_write
from .parse import c_value

OWN_FILE = "policyroute.conf"
LOCK_FILE = ".policyroute.lock"


class Registry:
    """Name <-> number maps read from every rt_tables file iproute2 reads."""

    def __init__(self, confdir, datadirs=()):
        self.confdir = confdir
        self.datadirs = list(datadirs)
        self.by_name, self.by_id = {}, {}
        self.reload()

    def files(self):
        """As iproute2 reads them: rt_tables from the configuration folder,
        or the data folder's when it has none; every rt_tables.d/*.conf."""
        tables = [os.path.join(b, "rt_tables") for b in [self.confdir, *self.datadirs]]
        yield next((t for t in tables if os.path.exists(t)), tables[0])
        for base in [self.confdir, *self.datadirs]:
            yield from sorted(glob.glob(os.path.join(base, "rt_tables.d", "*.conf")))

    def reload(self):
        self.by_name = dict(bands.RESERVED_TABLES)
        seen, self.conflicts = {}, {}
        for path in self.files():
            for number, name in read_table_file(path):
                self.by_name.setdefault(name, number)
                seen.setdefault(name, {}).setdefault(number, path)
        for name, where in seen.items():
            if len(where) > 1:
                self.conflicts[name] = sorted(where.items())
        self.by_id = {}
        for name, number in self.by_name.items():
            self.by_id.setdefault(number, name)

    def lookup(self, text):
        """A table as written -> its number, or None when the name is unknown."""
        number = c_value(text)
        return self.by_name.get(text) if number is None else number

    @property
    def own_path(self):
        return os.path.join(self.confdir, "rt_tables.d", OWN_FILE)

    def register(self, names):
        """Give every unknown name a number; returns {name: number}.

        Names are numbered in sorted order, lowest free number first, so a
        configuration registered at once gets the same numbers every time.
        """
        wanted = sorted(set(names))
        with self._locked():
            self.reload()
            missing = [n for n in wanted if n not in self.by_name]
            if missing:
                own = read_table_file(self.own_path)
                for name in missing:
                    number = self._free_number()
                    own.append((number, name))
                    self.by_name[name], self.by_id[number] = number, name
                write_table_file(self.own_path, own)
        return {n: self.by_name[n] for n in wanted}

    def preview(self, name):
        """The number register() would give name now; registers nothing."""
        number = self.by_name.get(name)
        return self._free_number() if number is None else number

    def previewed(self, names):
        """A copy in which unknown names have the numbers register() would
        give them, for plans; nothing is written."""
        copy = Registry.__new__(Registry)
        copy.confdir, copy.datadirs = self.confdir, self.datadirs
        copy.by_name, copy.by_id = dict(self.by_name), dict(self.by_id)
        copy.conflicts = self.conflicts
        for name in sorted(set(names)):
            if name not in copy.by_name:
                number = copy._free_number()
                copy.by_name[name], copy.by_id[number] = number, name
        return copy

    def _free_number(self):
        for number in range(bands.TABLE_FIRST, bands.TABLE_LAST + 1):
            if number not in self.by_id:
                return number
        raise OverflowError(f"no free table number in {bands.TABLE_FIRST}-{bands.TABLE_LAST}")

    @contextmanager
    def _locked(self):
        folder = os.path.dirname(self.own_path)
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def read_table_file(path):
    """[(number, name)] as iproute2 reads the file (lib/rt_names.c).

    iproute2 reads bytes, line by line: blank and '#' lines are skipped, a
    line is "NUMBER NAME" (NUMBER decimal or 0x hex; anything after NAME
    is ignored), numbers an int cannot hold are skipped, and the first line
    it cannot parse ends the file ("Database ... is corrupted"). Names
    that are not UTF-8 keep their bytes (surrogateescape), so they match
    nothing in conf.d/net, as with iproute2, and are written back unchanged.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
        return []
    out = []
    for line in data.split(b"\n"):
        entry = _table_line(line.split(b"\0", 1)[0])   # C strings end at NUL
        if entry is None:
            break
        if entry is not SKIP:
            out.append(entry)
    return out


SKIP = object()
# iproute2 tries "0x%x %s" first, then "%d %s"
NUMBER_RES = (re.compile(rb"0x([0-9a-fA-F]+)"), re.compile(rb"([+-]?[0-9]+)"))
ID_MAX = 2**31 - 1          # iproute2 keeps the number in an int


def _table_line(line):
    """(number, name), SKIP, or None when iproute2 would call it corrupt."""
    text = line.lstrip(b" \t")
    if not text.strip() or text.startswith(b"#"):
        return SKIP
    for number_re, base in zip(NUMBER_RES, (16, 10)):
        m = number_re.match(text)
        name = text[m.end():].split(None, 1)[:1] if m else []
        if name:
            break
    else:
        return None
    digits = m.group(1)
    if len(digits.lstrip(b"+-0")) > 10:                 # far past ID_MAX
        return SKIP
    if not 0 <= int(digits, base) <= ID_MAX:
        return SKIP
    return int(digits, base), name[0].decode("utf-8", "surrogateescape")


def write_table_file(path, entries):
    body = "# Table names registered by policyroute(8); numbers stay as given.\n"
    body += "".join(f"{number}\t{name}\n" for number, name in sorted(entries))
    atomic_write(path, body)
