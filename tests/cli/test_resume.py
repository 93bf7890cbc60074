"""``sparseae train``: Ctrl-C during L-BFGS, --resume, --overwrite, run folders."""

import json
import signal

import numpy as np
import pytest

from sparseae import load
from sparseae.cli import main

from .test_train_encode_show import interrupt_at

LBFGS = ["digits", "--n-components", "5", "--tol", "0", "--quiet"]


def same_model(a, b):
    for name in ("components_", "intercept_hidden_", "decoder_weights_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.intercept_visible_, b.intercept_visible_)
    assert a.loss_curve_ == b.loss_curve_ and a.n_iter_ == b.n_iter_


def test_ctrl_c_during_lbfgs_keeps_the_run_and_resume_is_bit_identical(
    tmp_path, monkeypatch, capsys
):
    argv = [*LBFGS, "--max-iter", "12"]
    assert main(["train", *argv, "-o", str(tmp_path / "whole")]) == 0
    capsys.readouterr()
    interrupt_at(monkeypatch, 5)
    assert main(["train", *argv, "-o", str(tmp_path / "cut")]) == 130
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("interrupted after 5 iterations; checkpoint saved to")
    assert "--resume" in lines[0] and "cannot resume" not in lines[0]
    checkpoint = load(tmp_path / "cut" / "checkpoint.safetensors")
    assert checkpoint.n_iter_ == 5 and checkpoint._training_state.fitting
    assert len(checkpoint._training_state.solver.s) == 5
    monkeypatch.undo()
    assert main(["train", *argv, "-o", str(tmp_path / "cut"), "--resume"]) == 0
    assert not (tmp_path / "cut" / "checkpoint.safetensors").exists()
    same_model(
        load(tmp_path / "cut" / "model.safetensors"),
        load(tmp_path / "whole" / "model.safetensors"),
    )
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert metrics["n_iter"] == 12
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    "solver",
    [["--max-iter"], ["--solver", "adam", "--batch-size", "300", "--max-iter"]],
)
def test_resume_with_a_larger_max_iter_equals_one_longer_run(tmp_path, solver, capsys):
    argv = [*LBFGS, *solver]
    assert main(["train", *argv, "6", "-o", str(tmp_path / "long")]) == 0
    assert main(["train", *argv, "3", "-o", str(tmp_path / "short")]) == 0
    assert main(["train", *argv, "6", "-o", str(tmp_path / "short"), "--resume"]) == 0
    same_model(
        load(tmp_path / "short" / "model.safetensors"),
        load(tmp_path / "long" / "model.safetensors"),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--n-components", "7"], "--n-components 7 differs from the run's 5"),
        (["--dtype", "float32"], "--dtype float32 differs from the run's 'float64'"),
        (["--solver", "sgd"], "--solver sgd differs from the run's 'lbfgs'"),
        (["--sparsity-weight", "2"], "--sparsity-weight 2.0 differs from the run's"),
    ],
)
def test_resume_refuses_a_changed_option_naming_both_values(
    tmp_path, change, message, capsys
):
    out = str(tmp_path / "run")
    assert main(["train", *LBFGS, "--max-iter", "2", "-o", out]) == 0
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert (
        main(["train", *LBFGS, "--max-iter", "4", *change, "-o", out, "--resume"]) == 2
    )
    err = capsys.readouterr().err
    assert message in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before


def test_resume_refuses_other_data(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", *LBFGS, "--max-iter", "2", "-o", out]) == 0
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).uniform(size=(20, 64)))
    argv = ["train", str(data), "--max-iter", "4", "-o", out, "--resume", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"DATA is {str(data)!r} but the run in" in err and "'digits'" in err


def test_train_refuses_a_folder_holding_a_run_unless_told(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *LBFGS, "--max-iter", "2", "-o", str(out)]) == 0
    before = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", *LBFGS, "--max-iter", "3", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert f"{out} already holds a run" in err
    assert "--resume" in err and "--overwrite" in err
    assert (out / "model.safetensors").read_bytes() == before
    (out / "checkpoint.safetensors").write_bytes(b"stale")
    assert (
        main(["train", *LBFGS, "--max-iter", "3", "-o", str(out), "--overwrite"]) == 0
    )
    assert load(out / "model.safetensors").n_iter_ == 3
    assert not (out / "checkpoint.safetensors").exists()


def test_train_into_an_empty_or_unrelated_folder_is_fine(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train", *LBFGS, "--max-iter", "2", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    argv = ["train", "digits", "-o", str(tmp_path), "--resume", "--overwrite"]
    assert main(argv) == 2
    assert "not allowed with argument" in capsys.readouterr().err
