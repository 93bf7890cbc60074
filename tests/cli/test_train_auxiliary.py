"""``sparseae train`` with the auxiliary loss, unit-norm decoder and tied weights."""

import json

import pytest

from sparseae import load
from sparseae.cli import main

TOPK = [
    "--n-components",
    "16",
    "--hidden-activation",
    "topk",
    "--k",
    "2",
    "--output-activation",
    "linear",
    "--solver",
    "adam",
    "--max-iter",
    "2",
    "--quiet",
]


def test_the_options_reach_the_model_files_and_history(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "digits", "-o", str(out), *TOPK, "--aux-k", "4"]
    argv += ["--aux-weight", "0.5", "--dead-after", "300", "--unit-norm-decoder"]
    assert main(argv) == 0
    model = load(out / "model.safetensors")
    assert (model.aux_k, model.aux_weight, model.dead_after) == (4, 0.5, 300)
    assert model.unit_norm_decoder is True
    assert model.n_samples_since_fired_.shape == (16,)
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert header[header.index("sparsity") + 1] == "auxiliary"
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["hyperparameters"]["aux_k"] == 4
    assert "--unit-norm-decoder" in config["command_line"]


def test_without_them_the_defaults_and_no_auxiliary_column(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", "-o", str(out), *TOPK]) == 0
    model = load(out / "model.safetensors")
    assert (model.aux_k, model.aux_weight, model.dead_after) == (None, 1 / 32, None)
    assert model.unit_norm_decoder is False
    assert "auxiliary" not in (out / "history.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--aux-k", "0"], "--aux-k: must be an integer >= 1, got 0"),
        (["--aux-weight", "0"], "--aux-weight: must be a number > 0, got 0.0"),
        (["--dead-after", "x"], "--dead-after: must be an integer >= 1, got 'x'"),
        (["--unit-norm-decoder", "yes"], "unrecognized arguments: yes"),
    ],
)
def test_bad_values_are_refused_before_loading_data(tmp_path, capsys, option, message):
    assert main(["train", "digits", "-o", str(tmp_path / "run"), *TOPK, *option]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_estimator_names_what_the_auxiliary_loss_needs(tmp_path, capsys):
    argv = ["train", "digits", "-o", str(tmp_path / "run"), "--aux-k", "2"]
    assert main([*argv, "--max-iter", "2", "--quiet"]) == 2
    assert "aux_k=2 needs solver='sgd' or 'adam'" in capsys.readouterr().err


def test_relu_units_are_refused_with_the_reason(tmp_path, capsys):
    argv = ["train", "digits", "-o", str(tmp_path / "run"), *TOPK, "--aux-k", "2"]
    argv += ["--hidden-activation", "relu", "--penalty", "l1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "aux_k=2 needs hidden_activation='topk', got hidden_activation='relu'" in err
    assert "a dead ReLU unit has no positive pre-activation" in err


def test_resume_keeps_the_auxiliary_settings(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "digits", "-o", out, *TOPK, "--aux-k", "4"]) == 0
    argv = ["train", "digits", "-o", out, *TOPK, "--resume", "--aux-k", "5"]
    assert main(argv) == 2
    assert "--aux-k 5 differs from the run's 4" in capsys.readouterr().err


def test_tied_weights_reach_the_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", "-o", str(out), *TOPK, "--tied-weights"]) == 0
    model = load(out / "model.safetensors")
    assert model.tied_weights is True
    assert (model.decoder_weights_ == model.components_.T).all()


def test_tied_weights_with_a_unit_norm_decoder_is_an_error(tmp_path, capsys):
    argv = ["train", "digits", "-o", str(tmp_path / "run"), *TOPK]
    code = main(argv + ["--tied-weights", "--unit-norm-decoder"])
    assert code != 0
    assert "tied_weights=True and unit_norm_decoder=True" in capsys.readouterr().err
