import io
import json
import signal

import numpy as np
import pytest
from PIL import Image

from sparseae import load
from sparseae.cli import main
from sparseae.cli.progress import ProgressBar
from sparseae.core.objective import LossTerms
from sparseae.training.progress import Progress

FAST = ["--n-components", "6", "--max-iter", "3", "--quiet"]


@pytest.fixture
def array_file(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, np.random.default_rng(0).uniform(size=(80, 16)))
    return path


def test_train_digits_writes_model_pictures_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", "-o", str(out), "--solver", "adam", *FAST]) == 0
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "metrics.json",
        "history.csv",
        "loss.png",
        "filters.png",
        "report.html",
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_iter"] == 3 and metrics["data"]["n_samples"] == 1797
    assert metrics["objective"] == pytest.approx(
        metrics["reconstruction"] + metrics["weight_decay"] + metrics["sparsity"]
    )
    config = metrics["config"]
    assert config["hyperparameters"]["n_components"] == 6
    assert config["hyperparameters"]["solver"] == "adam"
    assert config["seed"] == 0 and config["library_version"]
    assert config["command_line"].startswith("sparseae train digits -o ")
    assert config["threads"] and all(t["threads"] >= 1 for t in config["threads"])
    assert config["data"]["source"] == "digits"
    assert config["data"]["image_shape"] == [8, 8]
    assert len(config["data"]["fingerprint"]) == 32
    units = metrics["units"]
    assert len(units["rho_hat"]) == 6 and 0 <= units["l0"] <= 6
    assert units["mean_activation"] == pytest.approx(metrics["mean_activation"])
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == (
        "iteration,loss,reconstruction,weight_decay,sparsity,mean_activation,time"
    )
    assert len(history) == 1 + 3 and history[1].startswith("1,")
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count("data-unit=") == 6 and "http://" not in report
    captured = capsys.readouterr()
    assert "written to" in captured.out
    assert "warning: adam reached max_iter=3" in captured.err
    assert load(out / "model.safetensors").n_components == 6


@pytest.mark.parametrize("kind", ["npy", "npz", "csv", "csv-header", "images"])
def test_train_reads_every_kind_of_input(tmp_path, kind):
    X = np.random.default_rng(0).uniform(size=(30, 16))
    if kind == "npy":
        np.save(data := tmp_path / "x.npy", X)
    elif kind == "npz":
        np.savez(data := tmp_path / "x.npz", X=X, y=np.zeros(30))
    elif kind.startswith("csv"):
        header = ",".join(f"p{i}" for i in range(16)) if kind == "csv-header" else ""
        np.savetxt(
            data := tmp_path / "x.csv", X, delimiter=",", header=header, comments=""
        )
    else:
        data = tmp_path / "images"
        data.mkdir()
        for i, row in enumerate(X):
            Image.fromarray((row.reshape(4, 4) * 255).astype(np.uint8)).save(
                data / f"{i:02}.png"
            )
    out = tmp_path / "run"
    assert main(["train", str(data), "-o", str(out), "--tol", "1e-2", *FAST]) == 0
    assert (out / "filters.png").exists() == (kind == "images")
    model = load(out / "model.safetensors")
    assert model.n_features_in_ == 16


def test_image_shape_draws_filters_for_an_array_file(tmp_path, array_file):
    out = tmp_path / "run"
    argv = ["train", str(array_file), "-o", str(out), "--image-shape", "2", "8"]
    assert main([*argv, "--tol", "1e-2", *FAST]) == 0
    assert (out / "filters.png").exists()


@pytest.mark.parametrize("command", ["train", "stack"])
def test_image_shape_of_a_third_of_the_features_draws_colour(tmp_path, command):
    # 3 channels of 2 x 4 pixels, one channel after the other.
    rng = np.random.default_rng(0)
    path = tmp_path / "rgb.npy"
    np.save(path, rng.uniform(size=(60, 24)))
    out = tmp_path / "run"
    argv = [command, str(path), "-o", str(out), "--image-shape", "2", "4"]
    if command == "stack":
        np.save(tmp_path / "y.npy", rng.integers(0, 2, 60))
        argv += ["--labels", str(tmp_path / "y.npy"), "--layers", "3"]
        argv += ["--pretrain-max-iter", "2", "--softmax-max-iter", "2"]
        argv += ["--fine-tune-max-iter", "2"]
    else:
        argv += FAST
    assert main(argv) == 0
    with Image.open(out / "filters.png") as picture:
        assert picture.mode == "RGB"
        pixels = np.asarray(picture)
    # Colour filters: the channels differ somewhere.
    assert (pixels[..., 0] != pixels[..., 1]).any()


@pytest.mark.parametrize("shape", [["3", "3"], ["2", "5"]])
def test_image_shape_of_neither_1_nor_3_channels_is_refused(tmp_path, shape, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).uniform(size=(20, 24)))
    argv = ["train", str(path), "-o", str(tmp_path / "r"), "--image-shape", *shape]
    assert main([*argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert "24 features: neither 1 (grey) nor 3 (colour)" in err
    assert not (tmp_path / "r").exists()


def test_data_that_do_not_vary_have_an_undefined_fvu(tmp_path, capsys):
    path = tmp_path / "c.npy"
    np.save(path, np.full((50, 16), 0.3))
    out = tmp_path / "run"
    assert main(["train", str(path), "-o", str(out), *FAST]) == 0
    assert "FVU undefined" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["units"]["fvu"] is None


def test_encode_writes_the_activations(tmp_path, array_file):
    out = tmp_path / "run"
    assert main(["train", str(array_file), "-o", str(out), "--tol", "1e-2", *FAST]) == 0
    codes_path = tmp_path / "codes.npy"
    model_path = str(out / "model.safetensors")
    assert main(["encode", model_path, str(array_file), "-o", str(codes_path)]) == 0
    codes = np.load(codes_path)
    expected = load(model_path).transform(np.load(array_file))
    np.testing.assert_array_equal(codes, expected)


def test_encode_refuses_data_of_another_width(tmp_path, array_file, capsys):
    out = tmp_path / "run"
    main(["train", str(array_file), "-o", str(out), "--tol", "1e-2", *FAST])
    argv = ["encode", str(out / "model.safetensors"), "digits", "-o", "c.npy"]
    assert main(argv) == 2
    assert "64 features per sample but the model" in capsys.readouterr().err


def test_show_prints_a_summary_and_draws_filters(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "digits", "-o", str(out), "--solver", "sgd", *FAST])
    capsys.readouterr()
    assert main(["show", str(out / "model.safetensors")]) == 0
    text = capsys.readouterr().out
    assert "64 -> 6 hidden" in text and "sgd, 3 iterations" in text
    assert (out / "model-filters.png").exists()


def test_errors_name_the_parameter_the_value_and_what_is_valid(tmp_path, capsys):
    argv = ["train", "digits", "-o", str(tmp_path), "--solver", "newton"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--solver must be a str among" in err
    assert "'newton'" in err and "'adam'" in err
    assert main(["train", "nothing-here", "-o", str(tmp_path)]) == 2
    assert "neither 'patches', 'digits'" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "absent.safetensors")]) == 2
    assert "no model file at" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "encode", "show"])
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "example" in capsys.readouterr().out


def interrupt_at(monkeypatch, n_calls, signum=signal.SIGINT):
    """Make the n-th progress update send this process ``signum`` (Ctrl-C)."""
    real_call = ProgressBar.__call__
    calls = []

    def call(self, model, progress):
        calls.append(1)
        if len(calls) == n_calls:
            signal.raise_signal(signum)
        return real_call(self, model, progress)

    monkeypatch.setattr(ProgressBar, "__call__", call)


def test_ctrl_c_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(
    tmp_path, monkeypatch, capsys
):
    argv = ["digits", "--solver", "adam", "--batch-size", "200", *FAST]
    assert main(["train", *argv, "-o", str(tmp_path / "whole")]) == 0
    interrupt_at(monkeypatch, 13)
    assert main(["train", *argv, "-o", str(tmp_path / "cut")]) == 130
    checkpoint = tmp_path / "cut" / "checkpoint.safetensors"
    assert "--resume" in capsys.readouterr().out
    assert load(checkpoint).n_iter_ == 1
    # What was learned so far is there to see.
    assert {p.name for p in (tmp_path / "cut").iterdir()} == {
        "checkpoint.safetensors",
        "history.csv",
        "report.html",
    }
    monkeypatch.undo()
    assert main(["train", *argv, "-o", str(tmp_path / "cut"), "--resume"]) == 0
    assert not checkpoint.exists()
    whole = load(tmp_path / "whole" / "model.safetensors")
    resumed = load(tmp_path / "cut" / "model.safetensors")
    np.testing.assert_array_equal(resumed.components_, whole.components_)
    np.testing.assert_array_equal(resumed.decoder_weights_, whole.decoder_weights_)
    assert resumed.loss_curve_ == whole.loss_curve_
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_on_a_terminal_only():
    progress = Progress(0, 4, 1, 2, LossTerms(1.0, 0.5, 0.25), 0.1, 2.0)
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar(stream)
        assert bar(None, progress) is False
        bar.close()
    assert terminal.getvalue().startswith("\repoch 1/4 [#")
    assert "left 0:14" in terminal.getvalue() and terminal.getvalue().endswith("\n")
    assert pipe.getvalue() == ""
    quiet = Terminal()
    ProgressBar(quiet, enabled=False)(None, progress)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ([], ["dead", "quiet (never above 0.5)", "saturated"]),
        (["--hidden-activation", "relu", "--penalty", "l1"], ["dead", "always on"]),
    ],
)
def test_the_unit_counts_printed_are_the_reports(tmp_path, capsys, options, words):
    # A sigmoid unit never above 0.5 is quiet, not dead, as report.html says.
    from sparseae.metrics import summarize
    from sparseae.report.units import notions

    out = tmp_path / "run"
    assert main(["train", "digits", "-o", str(out), *FAST, *options]) == 0
    line = next(
        line for line in capsys.readouterr().out.splitlines() if "units:" in line
    )
    for word in words:
        assert word in line, line
    assert ("quiet" in line) == (not options)
    from sparseae.datasets import load_digits_scaled

    model = load(out / "model.safetensors")
    facts = notions(summarize(model, load_digits_scaled()[0], top_k=9))
    assert f" {facts['dead']['count']} dead" in line
