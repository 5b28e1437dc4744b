"""How policyroute creates files and folders as root: whole or not at all,
with fixed modes whatever the umask, and never through a symbolic link
someone planted in its place."""

import errno
import os
import stat

from .errors import StateError

FOLDER_MODE = 0o755
LOCK_MODE = 0o600
NEW = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def atomic_write(path, text, mode=0o644):
    """Write to a new temporary file of an unpredictable name in the same
    folder, fsync, rename over ``path``."""
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{os.urandom(8).hex()}.tmp")
    fd = _open(tmp, os.O_WRONLY | NEW, 0o600)
    try:
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode("utf-8", "surrogateescape"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# Lock descriptors this process holds (state.Store.locked). Every ip it
# runs inherits them (kernel.Runner): a helper killed mid-apply leaves its
# namespace locked until its ip is done too, so nobody plans on a kernel
# that an orphaned ip still changes.
HELD = set()


def open_lock(path):
    """A lock file's descriptor (for flock): 0600, never a symlink's target."""
    fd = _open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, LOCK_MODE)
    try:
        os.fchmod(fd, LOCK_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_ours(path):
    """A file we wrote, open to read as bytes; OSError ELOOP for a symlink
    in its place."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


def read_text(path):
    """A file we wrote, as text (open_ours); UnicodeDecodeError for bytes
    that are not UTF-8."""
    with open_ours(path) as f:
        return f.read().decode("utf-8")


def make_folders(root, *names, mode=FOLDER_MODE):
    """root, root/names[0], ... made with ``mode`` whatever the umask;
    a symlink or a file in the place of one is refused, and one that lets
    others write gets ``mode`` back. The last path."""
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)   # /run: not ours
    path = root
    for part in ("", *names):
        path = os.path.join(path, part) if part else path
        try:
            os.mkdir(path, 0o700)       # mkdir's mode goes through the umask: chmod below
        except FileExistsError:
            pass
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise StateError(f"{path}: is a symbolic link, not a folder; refusing to use it")
        if not stat.S_ISDIR(info.st_mode):
            raise StateError(f"{path}: is not a folder")
        if stat.S_IMODE(info.st_mode) != mode:
            os.chmod(path, mode)
    return path


def _open(path, flags, mode=0o600):
    try:
        return os.open(path, flags, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise StateError(f"{path}: is a symbolic link; refusing to follow it") from None
        raise
