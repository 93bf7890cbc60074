"""``sparseae stack``: a stacked autoencoder classifier from the command line."""

import json

import numpy as np
import pytest

from sparseae import load
from sparseae.cli import main
from sparseae.datasets import load_digits_scaled
from sparseae.models.stacked import StackedAutoencoder

TINY = [
    "--layers",
    "6,4",
    "--pretrain-max-iter",
    "3",
    "--softmax-max-iter",
    "5",
    "--fine-tune-max-iter",
    "4",
]


def test_stack_on_digits_writes_model_metrics_and_first_layer_filters(tmp_path, capsys):
    out = tmp_path / "stack"
    assert main(["stack", "digits", "-o", str(out), *TINY]) == 0
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "metrics.json",
        "filters.png",
    }
    model = load(out / "model.safetensors")
    assert isinstance(model, StackedAutoencoder)
    assert [w.shape for w in model.weights_] == [(6, 64), (4, 6), (10, 4)]
    X, y = load_digits_scaled()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_accuracy"] == pytest.approx(model.score(X, y))
    assert metrics["layers"] == [6, 4] and metrics["fine_tune_iterations"] == 4
    assert 0.1 < metrics["train_accuracy"] <= 1
    assert "train accuracy:" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".txt"])
def test_stack_reads_labels_from_a_file(tmp_path, suffix):
    X, y = load_digits_scaled()
    X, y = X[:300], y[:300]
    np.save(data := tmp_path / "x.npy", X)
    labels = tmp_path / f"y{suffix}"
    if suffix == ".npy":
        np.save(labels, y)
    else:
        header = "label\n" if suffix == ".csv" else ""
        labels.write_text(header + "\n".join(str(v) for v in y) + "\n")
    out = tmp_path / "stack"
    argv = ["stack", str(data), "--labels", str(labels), "-o", str(out), *TINY]
    assert main(argv) == 0
    model = load(out / "model.safetensors")
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    assert not (out / "filters.png").exists()


def test_stack_needs_labels_for_data_without_them(tmp_path, capsys):
    np.save(data := tmp_path / "x.npy", np.zeros((20, 4)))
    assert main(["stack", str(data), "-o", str(tmp_path / "s"), *TINY]) == 2
    assert "--labels is needed" in capsys.readouterr().err
    (labels := tmp_path / "y.txt").write_text("1\n2\n")
    argv = ["stack", str(data), "--labels", str(labels), "-o", str(tmp_path / "s")]
    assert main([*argv, *TINY]) == 2
    assert "holds 2 labels (shape (2,)) but the data have 20" in capsys.readouterr().err


def test_stack_refuses_bad_layer_sizes(tmp_path, capsys):
    argv = ["stack", "digits", "-o", str(tmp_path), "--layers", "20,x"]
    assert main(argv) == 2
    assert "hidden layer sizes separated by commas" in capsys.readouterr().err


def test_stack_warnings_name_the_options_that_set_each_budget(tmp_path, capsys):
    argv = ["stack", "digits", "-o", str(tmp_path / "s"), *TINY, "--tol", "0"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "pretraining layer 1: L-BFGS reached --pretrain-max-iter=3" in err
    assert "increase --pretrain-max-iter or --tol" in err
    assert "fine-tuning reached --fine-tune-max-iter=4" in err
    assert " max_iter" not in err and "fine_tune" not in err
