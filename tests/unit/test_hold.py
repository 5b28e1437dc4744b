"""pre-start --hold and stop --hold (commands/hold.py): the values end at
an empty record, the second step runs only after its word, and nothing
else is taken for it; without the word a start is undone and a stop
carried out, and a start whose post-start fails is undone too."""

import os

import pytest

from policyroute import state
from policyroute.commands import hold
from policyroute.errors import KernelError, StateError, UsageError

GO = b"post-start\n"


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
    assert hold._go(os.getppid(), GO) is True


def test_the_end_of_stdin_is_no_go(stdin):
    os.write(stdin, b"table=e1v10\0\0")
    hold._values()
    os.close(stdin)
    assert hold._go(os.getppid(), GO) is False


def test_values_cut_short_are_refused(stdin):
    os.write(stdin, b"table=e1v10\0")
    os.close(stdin)
    with pytest.raises(UsageError, match="ended without an empty record"):
        hold._values()


def test_another_word_is_refused(stdin):
    os.write(stdin, b"stop\n")
    with pytest.raises(UsageError, match="'stop' where 'post-start' belongs"):
        hold._go(os.getppid(), GO)


def test_a_gone_shell_is_no_go(stdin, monkeypatch):
    monkeypatch.setattr(hold, "WATCH", 0.01)
    assert hold._go(os.getppid() + 1, GO) is False      # not our parent: as if it had died


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


def steps(log, fail=(), then_write=None):
    """A Pair whose steps log their names (a line each in the file
    ``log``: the first step runs in a child process); those in ``fail``
    raise. The first step calls ``then_write`` (the shell's next word comes
    after the ready line, never with the values)."""
    def step(name):
        def run(args, ctx):
            with open(log, "a") as f:
                f.write(f"{name}\n")
            if name == "first" and then_write:
                then_write()
            if name in fail:
                raise KernelError(None, f"{name} refused")
            return 0
        return run
    return hold.Pair("ready", GO, lambda args: None, step("first"), step("then"),
                     step("otherwise"))


@pytest.fixture(params=["here", "apart"])
def held(request, stdin, tmp_path, monkeypatch):
    """hold() with the values already written, its first step in this
    process or in a child (as for large values: APART_VALUES); returns
    run(fail, word) and log(): ``word`` is written by the first step
    (None: stdin ends before, as the end of stdin comes any time), and the
    steps' names in the order they ran."""
    monkeypatch.setattr(hold, "APART_VALUES", 0 if request.param == "apart" else 1 << 30)
    monkeypatch.setattr(state, "_kept", state._kept)       # hold() keeps records: not after
    os.write(stdin, b"table=e1v10\0\0")
    monkeypatch.setattr(hold, "_quiet", lambda: None)
    args = type("Args", (), {"hold": str(tmp_path / "gone")})()
    path = tmp_path / "log"

    def run(fail=(), word=GO):
        """``word``: bytes, None, or what the first step does instead."""
        if word is None:
            os.close(stdin)
        then = word if callable(word) else word and (lambda: os.write(stdin, word))
        return hold.hold(args, None, steps(path, fail, then))

    def log():
        return path.read_text().split() if path.exists() else []
    return run, log


def test_go_runs_the_second_step_alone(held, capfd):
    run, log = held
    assert run() == 0
    assert log() == ["first", "then"]
    assert capfd.readouterr().out == "ready\n"


def test_no_go_runs_otherwise(held):
    run, log = held
    assert run(word=None) == 0
    assert log() == ["first", "otherwise"]


def test_a_failed_second_step_is_undone_and_still_an_error(held):
    run, log = held
    with pytest.raises(KernelError, match="then refused"):
        run(fail={"then"})
    assert log() == ["first", "then", "otherwise"]


def test_a_failed_first_step_says_why_and_waits_for_nothing(held, capfd, request):
    run, log = held
    if request.node.callspec.params["held"] == "apart":
        assert run(fail={"first"}) == KernelError.exit_code    # the child said why
        assert capfd.readouterr().err == "policyroute: error: first refused\n"
    else:
        with pytest.raises(KernelError, match="first refused"):
            run(fail={"first"})
    assert log() == ["first"]
    assert "ready" not in capfd.readouterr().out


@pytest.mark.parametrize("held", ["apart"], indirect=True)
def test_a_killed_first_step_is_taken_back_and_an_error(held, capfd):
    """The child ends by a signal midway: what it added may be in, so
    ``otherwise`` runs, and no ready line goes out."""
    run, log = held
    with pytest.raises(StateError, match="ended by signal 9; what it added is removed"):
        run(word=lambda: os.kill(os.getpid(), 9))
    assert log() == ["first", "otherwise"]
    assert "ready" not in capfd.readouterr().out
