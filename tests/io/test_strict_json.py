import json
import math

import numpy as np
import pytest

from sparseae.io import strict_json


def strict_loads(text):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_non_finite_numbers_are_written_as_null(bad):
    value = {"units": {"fvu": bad, "l0": np.float64(1.5)}, "n": (np.int64(2), bad)}
    text = strict_json.dumps(value, indent=2)
    assert strict_loads(text) == {"units": {"fvu": None, "l0": 1.5}, "n": [2, None]}


def test_finite_values_are_unchanged():
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": -0.0}}
    assert strict_json.finite_or_none(value) == value


def test_a_one_sample_run_writes_strict_metrics_that_report_reads(tmp_path, capsys):
    from sparseae.cli import main

    data = tmp_path / "one.npy"
    np.save(data, np.random.default_rng(0).uniform(size=(1, 4)))
    out = tmp_path / "run"
    argv = ["train", str(data), "-o", str(out), "--max-iter", "2", "--quiet"]
    assert main([*argv, "--n-components", "3"]) == 0
    metrics = strict_loads((out / "metrics.json").read_text())
    assert metrics["units"]["fvu"] is None
    assert main(["report", str(out / "model.safetensors")]) == 0
