"""Table names: what iproute2 knows, and registering the names it does not.

iproute2 resolves names from rt_tables and rt_tables.d/*.conf under its
configuration folder (and its data folder). We add names only to a file of
our own, rt_tables.d/policyroute.conf, under an exclusive lock (kept in the
state folder, /run/policyroute, so a read-only /etc/iproute2 only matters
when a name must really be written) so parallel interface starts never hand
one number out twice or tear the file.
"""

import fcntl
import os
from collections import namedtuple
from contextlib import contextmanager

from . import bands
from .files import atomic_write
from .parse import c_value

OWN_FILE = "policyroute.conf"
LOCK_FILE = ".tables.lock"
BUILT_IN = "iproute2's built-in names"


class Entry(namedtuple("Entry", "number written name path line")):
    """One "NUMBER NAME" line: ``number`` is the int iproute2 stores
    (negative: it skips the line), ``written`` the number as written."""
    __slots__ = ()

    @property
    def where(self):
        return self.path if self.line is None else f"{self.path} line {self.line}"


class CannotRegister(Exception):
    """A name is unknown to iproute2 and its file cannot be written."""

    def __init__(self, names, path, reason):
        self.names, self.path, self.reason = names, path, reason
        super().__init__(f"{path}: {reason}")


class Registry:
    """Name <-> number maps read from every rt_tables file iproute2 reads."""

    def __init__(self, confdir, datadirs=(), lock_dir=None):
        self.confdir = str(confdir)
        self.datadirs = [str(d) for d in datadirs]
        self.lock_dir = lock_dir
        self.reload()

    def files(self):
        """As iproute2 reads them: rt_tables from the configuration folder,
        or the data folder's when it has none; then the data folders'
        rt_tables.d/*.conf that the configuration folder does not have,
        then its own, each folder in directory order (readdir)."""
        tables = [os.path.join(b, "rt_tables") for b in [self.confdir, *self.datadirs]]
        yield next((t for t in tables if os.path.exists(t)), tables[0])
        mine = set(_conf_names(self.confdir))
        for base in self.datadirs:
            yield from (os.path.join(base, "rt_tables.d", n) for n in _conf_names(base)
                        if n not in mine)
        yield from (os.path.join(self.confdir, "rt_tables.d", n) for n in _conf_names(self.confdir))

    def reload(self):
        self.entries = [Entry(n, n, name, BUILT_IN, None)
                        for name, n in bands.RESERVED_TABLES.items()]
        for path in self.files():
            self.entries += read_table_file(path)
        self._index()

    def _index(self):
        """by_name/by_id as iproute2's hash answers them: a name is looked up
        bucket by bucket (number & 255), newest line first in a bucket."""
        taken = [e for e in self.entries if e.number >= 0]
        self.by_name, self.by_id = {}, {}
        for e in sorted(reversed(taken), key=lambda e: e.number & 255):
            self.by_name.setdefault(e.name, e.number)
        for e in reversed(taken):
            self.by_id.setdefault(e.number, e.name)
        numbers = {}
        for e in taken:
            numbers.setdefault(e.name, {}).setdefault(e.number, e.where)
        self.conflicts = {name: sorted(where.items()) for name, where in numbers.items()
                          if len(where) > 1}

    def lookup(self, text):
        """A table as written -> its number, or None when iproute2 knows no
        such name: names first, then a number (strtoul, base 0)."""
        return self.by_name[text] if text in self.by_name else c_value(text)

    def refusal(self, name):
        """Why policyroute must not use this table, or None: two files give
        the name different numbers (iproute2 would pick by hash bucket), a
        line gives it a number an int does not hold, or it is a number
        whose decimal form rt_tables makes the name of another table
        (iproute2 looks names up first)."""
        number = c_value(name)
        shadow = self.by_name.get(str(number)) if number is not None else None
        if shadow is not None and shadow != number:
            e = next(e for e in reversed(self.entries) if e.name == str(number))
            return (f"is table {number}, but {e.where} names table {shadow} \"{number}\", "
                    "and iproute2 reads names first")
        if name in self.conflicts:
            return "has two numbers in rt_tables files: " + ", ".join(
                f"{n} in {where}" for n, where in self.conflicts[name])
        for e in self.entries:
            if e.name == name and not 0 <= e.written <= ID_MAX:
                shown = e.written if len(str(e.written)) <= 20 else "a huge number"
                return (f"has number {shown} in {e.where}, out of range 0-{ID_MAX}"
                        + (f" (iproute2 reads {e.number})" if e.number >= 0 else
                           " (iproute2 skips the line)"))
        return None

    @property
    def own_path(self):
        return os.path.join(self.confdir, "rt_tables.d", OWN_FILE)

    def register(self, names):
        """Give every unknown name a number; returns {name: number}.

        Names are numbered in sorted order, lowest free number first, so a
        configuration registered at once gets the same numbers every time.
        Nothing is opened for writing unless a name is missing.
        """
        wanted = sorted(set(names))
        self.reload()
        missing = [n for n in wanted if n not in self.by_name]
        if missing:
            with self._locked(missing):
                self.reload()
                self._add([n for n in wanted if n not in self.by_name])
        return {n: self.by_name[n] for n in wanted}

    def _add(self, missing):
        if not missing:
            return
        own = [(e.number, e.name) for e in read_table_file(self.own_path)]
        for name in missing:
            number = self._free_number()
            own.append((number, name))
            self.by_name[name], self.by_id[number] = number, name
        try:
            write_table_file(self.own_path, own)
        except OSError as e:
            self.reload()
            raise CannotRegister(missing, self.own_path, e.strerror) from None

    def preview(self, name):
        """The number register() would give name now; registers nothing."""
        number = self.by_name.get(name)
        return self._free_number() if number is None else number

    def previewed(self, names):
        """A copy in which unknown names have the numbers register() would
        give them, for plans; nothing is written."""
        copy = Registry.__new__(Registry)
        copy.__dict__.update(self.__dict__)
        copy.by_name, copy.by_id = dict(self.by_name), dict(self.by_id)
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
    def _locked(self, missing):
        folder = self.lock_dir
        if folder is None:
            from .paths import Paths          # paths imports this module
            folder = Paths.from_env().state_dir
        path = os.path.join(folder, LOCK_FILE)
        try:
            os.makedirs(folder, mode=0o755, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise CannotRegister(missing, path, e.strerror) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _conf_names(base):
    """rt_tables.d/*.conf as iproute2 lists them: directory order, no
    dot files, a name longer than ".conf"."""
    try:
        names = os.listdir(os.path.join(base, "rt_tables.d"))
    except OSError:
        return []
    return [n for n in names if not n.startswith(".") and len(n) > 5 and n.endswith(".conf")]


# ------------------------------------------------------------ reading

LINE_MAX = 511              # iproute2 reads lines with fgets into char[512]
ID_MAX = 2**31 - 1          # and keeps the number in an int
SPACES = b" \t\n\v\f\r"     # what scanf skips and what ends a %s


def read_table_file(path):
    """[Entry] as iproute2 reads the file (lib/rt_names.c).

    Bytes, in pieces of at most 511 (a longer line is read as several);
    a NUL ends a piece; blank and '#' pieces are skipped; a piece is
    "NUMBER NAME" as sscanf reads "0x%x %s" or "%d %s" (anything after
    NAME is ignored), the number cut to an int as C does; and the first
    piece that is neither ends the file ("Database ... is corrupted").
    Names that are not UTF-8 keep their bytes (surrogateescape), so they
    match nothing in conf.d/net, as with iproute2, and are written back
    unchanged. A file that cannot be read is a file iproute2 skips.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    out = []
    for piece, line in _pieces(data):
        entry = _table_line(piece.split(b"\0", 1)[0])
        if entry is None:
            break
        if entry is not SKIP:
            out.append(Entry(*entry, path, line))
    return out


def _pieces(data):
    """(piece, line number) as fgets into char[512] hands them out."""
    line, start = 1, 0
    while start < len(data):
        end = data.find(b"\n", start, start + LINE_MAX)
        end = min(start + LINE_MAX, len(data)) if end < 0 else end + 1
        yield data[start:end], line
        line += data.count(b"\n", start, end)
        start = end


SKIP = object()


def _table_line(piece):
    """(number, written, name), SKIP, or None when iproute2 calls it corrupt."""
    text = piece.lstrip(b" \t")
    if text[:1] in (b"", b"#", b"\n"):
        return SKIP
    for prefix, base in ((b"0x", 16), (b"", 10)):
        if not text.startswith(prefix):
            continue
        scanned = _scan_number(text, len(prefix), base)
        name = _scan_word(text, scanned[2]) if scanned else None
        if name:
            number, written = scanned[:2]
            return number, written, name.decode("utf-8", "surrogateescape")
    return None


def _skip_spaces(text, i):
    while i < len(text) and text[i] in SPACES:
        i += 1
    return i


def _scan_number(text, i, base):
    """sscanf's %d (base 10) or %x (base 16) at i: (int, written, end)."""
    i = _skip_spaces(text, i)
    sign = -1 if text[i:i + 1] == b"-" else 1
    i += text[i:i + 1] in (b"-", b"+")
    digits = b"0123456789abcdefABCDEF" if base == 16 else b"0123456789"
    if base == 16 and text[i:i + 2] in (b"0x", b"0X") and text[i + 2:i + 3] and \
            text[i + 2] in digits:
        i += 2
    end = i
    while end < len(text) and text[end] in digits:
        end += 1
    if end == i:
        return None
    written = sign * int(text[i:end], base)     # at most 511 digits
    return _as_c_int(written, base), written, end


def _as_c_int(value, base):
    """What scanf stores: strtol/strtoul's long (clamped on overflow),
    then cut to 32 bits and read as a signed int."""
    if base == 10:
        value = max(-2**63, min(2**63 - 1, value))
    else:
        value = 2**64 - 1 if abs(value) > 2**64 - 1 else value % 2**64
    value %= 2**32
    return value - 2**32 if value > ID_MAX else value


def _scan_word(text, i):
    i = _skip_spaces(text, i)
    end = i
    while end < len(text) and text[end] not in SPACES:
        end += 1
    return text[i:end]


def write_table_file(path, entries):
    body = "# Table names registered by policyroute(8); numbers stay as given.\n"
    body += "".join(f"{number}\t{name}\n" for number, name in sorted(entries))
    atomic_write(path, body)
