"""Files policyroute creates as root (issue 10): fixed modes whatever the
umask, temporary files made exclusively under unpredictable names, and a
symlink planted at a temp, lock, record or folder path never followed."""

import os
import stat
from pathlib import Path

import pytest

from policyroute import files, state
from policyroute.errors import StateError

IFACE = "eth1.10"


@pytest.fixture(params=[0o077, 0o000], ids=["umask077", "umask000"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def record():
    return state.Record(IFACE, "blue", sysctls=[[f"net/ipv4/conf/{IFACE}/arp_ignore", "0", "1"]])


def test_modes_do_not_follow_the_umask(tmp_path, umask):
    store = state.Store(tmp_path / "run")
    store.save(record())
    with store.locked("blue"):
        pass
    assert mode(tmp_path / "run") == 0o755
    assert mode(tmp_path / "run" / "netns") == 0o755
    assert mode(tmp_path / "run" / "netns" / "blue") == 0o755
    assert mode(store.path(IFACE, "blue")) == 0o644
    assert mode(tmp_path / "run" / "netns" / "blue" / ".lock") == 0o600


def test_existing_folder_gets_its_mode_back(tmp_path):
    (tmp_path / "run").mkdir(mode=0o700)
    os.chmod(tmp_path / "run", 0o777)
    state.Store(tmp_path / "run").make_folder()
    assert mode(tmp_path / "run") == 0o755


def test_temporary_names_are_unpredictable_and_exclusive(tmp_path, monkeypatch):
    made = []
    real_open = os.open

    def watch(path, flags, *rest):
        made.append((os.path.basename(path), flags))
        return real_open(path, flags, *rest)

    monkeypatch.setattr(files.os, "open", watch)
    files.atomic_write(str(tmp_path / "a.json"), "1\n")
    files.atomic_write(str(tmp_path / "a.json"), "2\n")
    monkeypatch.undo()
    (first, flags), (second, _flags) = made
    assert first != second and str(os.getpid()) not in first
    want = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    assert flags & want == want
    assert (tmp_path / "a.json").read_text() == "2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_symlink_at_a_temporary_name_is_never_written_through(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    monkeypatch.setattr(files.os, "urandom", lambda n: b"guessed!")
    (tmp_path / f".a.json.{b'guessed!'.hex()}.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        files.atomic_write(str(tmp_path / "a.json"), "evil\n")
    assert victim.read_text() == "keep\n"
    assert not (tmp_path / "a.json").exists()


def test_symlink_at_the_record_path_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    store = state.Store(tmp_path / "run")
    store.make_folder("blue")
    Path(store.path(IFACE, "blue")).symlink_to(victim)
    store.save(record())
    assert victim.read_text() == "keep\n"
    assert not os.path.islink(store.path(IFACE, "blue"))
    assert store.load(IFACE, "blue").sysctls == record().sysctls


def test_symlink_at_the_lock_path_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    victim.chmod(0o644)
    store = state.Store(tmp_path / "run")
    folder = Path(store.make_folder())
    (folder / ".lock").symlink_to(victim)
    with pytest.raises(StateError, match=r"\.lock: is a symbolic link; refusing to follow it"):
        with store.locked():
            pass
    assert victim.read_text() == "keep\n"
    assert mode(victim) == 0o644


@pytest.mark.parametrize("where", ["root", "netns", "blue"])
def test_symlink_in_place_of_a_state_folder_is_refused(tmp_path, where):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "run"
    link = {"root": root, "netns": root / "netns", "blue": root / "netns" / "blue"}[where]
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere)
    store = state.Store(root)
    with pytest.raises(StateError, match=f"{link}: is a symbolic link, not a folder"):
        store.save(record())
    with pytest.raises(StateError, match="is a symbolic link"):
        with store.locked("blue"):
            pass
    assert list(elsewhere.iterdir()) == []


def test_lock_file_is_not_inherited(tmp_path):
    fd = files.open_lock(str(tmp_path / ".lock"))
    try:
        assert not os.get_inheritable(fd)
        assert mode(tmp_path / ".lock") == 0o600
    finally:
        os.close(fd)
