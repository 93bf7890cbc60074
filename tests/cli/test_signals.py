"""SIGTERM stops a command as Ctrl-C does: a run keeps what it learned.

``kill``, a batch system at the end of a job's time, ``docker stop`` and
systemd send SIGTERM.  Each test installs its own SIGTERM handler first, so
that a command that left SIGTERM to that handler (as Python's default would
end the process) fails the test rather than ending pytest.
"""

import signal

import pytest

import sparseae.plotting
from sparseae import load
from sparseae.cli import main
from sparseae.cli.signals import deferred

from .test_resume import LBFGS, same_model
from .test_run_safety import snapshot
from .test_train_encode_show import interrupt_at


class ReachedTheTest(Exception):
    """SIGTERM got past the command to the test's own handler."""


@pytest.fixture(autouse=True)
def sigterm_reaches_the_test():
    def handler(signum, frame):
        raise ReachedTheTest

    previous = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_during_training_saves_a_checkpoint_and_resume_is_bit_identical(
    tmp_path, monkeypatch, capsys, sigterm_reaches_the_test
):
    argv = [*LBFGS, "--max-iter", "12"]
    assert main(["train", *argv, "-o", str(tmp_path / "whole")]) == 0
    capsys.readouterr()
    interrupt_at(monkeypatch, 5, signal.SIGTERM)
    assert main(["train", *argv, "-o", str(tmp_path / "cut")]) == 143
    assert capsys.readouterr().out.startswith("interrupted after 5 iterations")
    checkpoint = load(tmp_path / "cut" / "checkpoint.safetensors")
    assert checkpoint.n_iter_ == 5 and checkpoint._training_state.fitting
    # The command gives SIGTERM back to whoever had it before.
    assert signal.getsignal(signal.SIGTERM) is sigterm_reaches_the_test
    monkeypatch.undo()
    resume = ["train", *argv, "-o", str(tmp_path / "cut"), "--resume"]
    assert main(resume) == 0
    same_model(
        load(tmp_path / "cut" / "model.safetensors"),
        load(tmp_path / "whole" / "model.safetensors"),
    )


def test_sigterm_while_an_overwrite_writes_its_results_keeps_the_old_run(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["train", *LBFGS, "--max-iter", "2", "-o", str(out)]
    assert main(argv) == 0
    before = snapshot(out)

    def terminated(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(sparseae.plotting, "plot_loss_curve", terminated)
    assert main([*argv[:-3], "3", "-o", str(out), "--overwrite"]) == 143
    assert capsys.readouterr().err.splitlines()[-1] == "terminated"
    assert snapshot(out) == before


def test_sigterm_waits_for_renames_that_must_not_be_cut(tmp_path):
    done = []
    with pytest.raises(ReachedTheTest):
        with deferred():
            signal.raise_signal(signal.SIGTERM)
            done.append("renamed")
    assert done == ["renamed"]
