"""The MNIST reproduction end to end, reduced to scikit-learn's 8×8 digits.

``benchmarks/reproduce.py`` runs the classic experiments on real MNIST for tens of
minutes; here the same code runs on the digits that ship with scikit-learn, with
few units and iterations, and the assertions check that each stage does its job.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sparseae import StackedAutoencoder
from sparseae.core.stacked import stack_forward
from sparseae.datasets import load_digits_scaled, write_idx

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce.py"
pytestmark = [
    pytest.mark.usefixtures("one_blas_thread"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_scaled()
    return (X[:1200], y[:1200]), (X[1200:], y[1200:])


def test_reduced_reproduction_runs_every_stage(reproduce, digits, tmp_path):
    budget = reproduce.Budget(
        feature_images=500,
        feature_units=25,
        self_taught_units=36,
        stacked_units=(48, 48),
        max_iter=40,
        softmax_max_iter=40,
    )
    rows = reproduce.run(*digits, budget, image_dir=tmp_path)
    by_name = {row.experiment: row for row in rows}
    assert list(by_name) == [
        "MNIST features",
        "self-taught, raw pixels",
        "self-taught, learned features",
        "stacked, before fine-tuning",
        "stacked, after fine-tuning",
    ]
    # Five classes: chance is 20%; features learned from other digits do far better.
    assert by_name["self-taught, raw pixels"].accuracy > 0.9
    assert by_name["self-taught, learned features"].accuracy > 0.6
    before = by_name["stacked, before fine-tuning"].accuracy
    after = by_name["stacked, after fine-tuning"].accuracy
    assert after > 0.85 and after > before + 0.05
    assert all(row.seconds >= 0 for row in rows)
    # 25 filters of 8×8 on a 5×5 grid with 1-pixel borders, enlarged 3 times.
    with Image.open(tmp_path / "mnist_features.png") as picture:
        assert picture.size == (3 * (5 * 9 + 1),) * 2
    table = reproduce.format_table(rows)
    assert table.count("\n") == len(rows) + 1 and "| 87.7% |" in table


def test_fine_tuning_improves_a_pretrained_stack(digits):
    # With the classic λ = 3e-3 the second layer of so small a stack collapses to
    # constant features (the "before" above); a lighter decay keeps it useful,
    # and fine-tuning still improves on it.
    (X, y), (X_test, y_test) = digits
    model = StackedAutoencoder(
        (64, 32),
        weight_decay=1e-4,
        pretrain_max_iter=50,
        softmax_max_iter=50,
        fine_tune_max_iter=50,
        random_state=0,
    ).fit(X, y)
    _, scores = stack_forward(
        model.pretrained_weights_, model.pretrained_intercepts_, X_test
    )
    before = np.mean(model.classes_[scores.argmax(axis=1)] == y_test)
    after = model.score(X_test, y_test)
    assert before > 0.75
    assert after > before + 0.03


def test_command_runs_on_idx_files(reproduce, digits, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for kind, (X, y) in zip(("train", "t10k"), digits, strict=True):
        images = np.rint(X * 255).astype(np.uint8).reshape(-1, 8, 8)
        write_idx(data / f"{kind}-images-idx3-ubyte.gz", images)
        write_idx(data / f"{kind}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    results = tmp_path / "results"
    argv = ["--quick", "--max-iter", "15", "--data", str(data)]
    assert reproduce.main([*argv, "--results", str(results)]) == 0
    assert "| stacked, after fine-tuning |" in capsys.readouterr().out
    record = json.loads((results / "reproduce-quick-float64.json").read_text())
    assert len(record["rows"]) == 5 and record["budget"]["max_iter"] == 15
    assert (results / "mnist_features.png").is_file()


def test_command_without_data_says_how_to_get_it(reproduce, tmp_path, capsys):
    assert reproduce.main(["--data", str(tmp_path), "--results", str(tmp_path)]) == 2
    assert "prepare_mnist.py" in capsys.readouterr().err
