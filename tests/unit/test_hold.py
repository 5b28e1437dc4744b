"""pre-start --hold (commands/hold.py): the values end at an empty record,
post-start runs only after its word, and nothing else is taken for it."""

import os

import pytest

from policyroute.commands import hold
from policyroute.errors import UsageError


@pytest.fixture
def stdin(monkeypatch):
    """fd 0 on a pipe; returns its write end."""
    r, w = os.pipe()
    saved = os.dup(0)
    os.dup2(r, 0)
    os.close(r)
    yield w
    os.dup2(saved, 0)
    os.close(saved)
    try:
        os.close(w)
    except OSError:
        pass


def test_values_end_at_the_empty_record_and_go_follows(stdin):
    os.write(stdin, b"table=e1v10\0rules=from 192.0.2.17\0\0")
    assert hold._values() == b"table=e1v10\0rules=from 192.0.2.17\0"
    os.write(stdin, b"post-")
    os.write(stdin, b"start\n")
    assert hold._go(os.getppid()) is True


def test_the_end_of_stdin_is_no_go(stdin):
    os.write(stdin, b"table=e1v10\0\0")
    hold._values()
    os.close(stdin)
    assert hold._go(os.getppid()) is False


def test_values_cut_short_are_refused(stdin):
    os.write(stdin, b"table=e1v10\0")
    os.close(stdin)
    with pytest.raises(UsageError, match="ended without an empty record"):
        hold._values()


def test_another_word_is_refused(stdin):
    os.write(stdin, b"stop\n")
    with pytest.raises(UsageError, match="'stop' where 'post-start' belongs"):
        hold._go(os.getppid())


def test_a_gone_shell_is_no_go(stdin, monkeypatch):
    monkeypatch.setattr(hold, "WATCH", 0.01)
    assert hold._go(os.getppid() + 1) is False      # not our parent: as if it had died


def test_only_the_fifos_and_their_folder_are_removed(tmp_path):
    folder = tmp_path / "hold"
    folder.mkdir()
    os.mkfifo(folder / "in")
    (folder / "out").write_text("not a FIFO")
    hold._remove(str(folder))
    assert not (folder / "in").exists()
    assert (folder / "out").read_text() == "not a FIFO"      # and so the folder stays
    os.unlink(folder / "out")
    os.mkfifo(folder / "out")
    hold._remove(str(folder))
    assert not folder.exists()
