"""``show`` and ``report`` on every kind of model and run folder.

Stacked models, run folders given for a model file, the data an interrupted
run was trained on, and options that contradict each other.
"""

import base64
import io
import warnings

import numpy as np
import pytest
from PIL import Image

from sparseae import load, save
from sparseae.cli import main
from sparseae.datasets import load_digits_scaled
from sparseae.models.stacked import StackedAutoencoder
from sparseae.plotting import tile_filters
from sparseae.report import build_report, write_report

from ..report.test_build import Page
from .test_train_encode_show import interrupt_at

pytestmark = pytest.mark.usefixtures("one_blas_thread")

STACK = [
    "--layers",
    "10,5",
    "--pretrain-max-iter",
    "3",
    "--softmax-max-iter",
    "3",
    "--fine-tune-max-iter",
    "3",
]
TRAIN = ["--n-components", "4", "--quiet"]


def picture(uri_or_path):
    """Grey levels of a PNG data URI or file."""
    if isinstance(uri_or_path, str) and uri_or_path.startswith("data:"):
        uri_or_path = io.BytesIO(base64.b64decode(uri_or_path.split(",", 1)[1]))
    with Image.open(uri_or_path) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.fixture(scope="module")
def stack_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stack") / "sk"
    with warnings.catch_warnings(action="ignore"):
        assert main(["stack", "digits", "-o", str(out), *STACK]) == 0
    return out


# Stacked models ---------------------------------------------------------


def test_show_describes_a_stacked_run_and_draws_its_first_layer(stack_run, capsys):
    capsys.readouterr()
    assert main(["show", str(stack_run / "model.safetensors")]) == 0
    text = capsys.readouterr().out
    assert "64 -> 10 -> 5 hidden -> 10 classes" in text
    assert "layer 1:         64 -> 10, pretrained 3 iterations" in text
    assert "layer 2:         10 -> 5, pretrained 3 iterations" in text
    assert "fine-tuning:     3 iterations" in text
    assert "classes:         0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in text
    drawn = stack_run / "model-filters.png"
    assert f"filters:         {drawn} (first layer, fine-tuned)" in text
    # The first layer's fine-tuned weights, 8x enlarged.
    model = load(stack_run / "model.safetensors")
    expected = np.rint(tile_filters(model.weights_[0], image_shape=(8, 8)) * 255)
    np.testing.assert_array_equal(picture(drawn)[::8, ::8], expected)
    assert expected.std() > 20


def test_show_reads_a_model_written_by_stacked_save(tmp_path, capsys):
    X, y = load_digits_scaled()
    model = StackedAutoencoder(
        (6,), pretrain_max_iter=2, softmax_max_iter=2, fine_tune_max_iter=0
    )
    with warnings.catch_warnings(action="ignore"):
        model.fit(X[:200], y[:200])
    path = model.save(tmp_path / "own.safetensors")
    assert main(["show", str(path)]) == 0
    text = capsys.readouterr().out
    assert "64 -> 6 hidden -> 10 classes" in text
    assert "fine-tuning:     none (fine_tune_max_iter=0)" in text
    assert "(first layer)" in text and picture(tmp_path / "own-filters.png").std() > 20


def test_report_on_a_stacked_run(stack_run, capsys):
    capsys.readouterr()
    assert main(["report", str(stack_run)]) == 0
    model = load(stack_run / "model.safetensors")
    X, y = load_digits_scaled()
    out = capsys.readouterr().out
    assert "stacked model 64 -> 10 -> 5 -> 10 classes and 1797 samples" in out
    assert f"accuracy {model.score(X, y):.4f}" in out
    html = (stack_run / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    # A card per first-layer unit, a row per layer.
    assert [a["data-unit"] for a in page.having("article", "data-unit")] == [
        str(j) for j in range(10)
    ]
    assert [a["data-layer"] for a in page.having("tr", "data-layer")] == [
        "1",
        "2",
        "softmax",
    ]
    assert f"{model.score(X, y):.3g}" in html and "accuracy before fine-tuning" in html
    images = page.having("img", "src")
    # Pretraining curves, two filter grids, two pictures a card.
    assert len(images) == 3 + 2 * 10
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,") and attrs["alt"]
        assert picture(attrs["src"]).std() > 5, attrs["alt"]
    assert "http" not in html.replace("http-equiv", "")


def test_report_on_a_stacked_model_file_with_labels_or_without(tmp_path, capsys):
    X, y = load_digits_scaled()
    np.save(tmp_path / "x.npy", X[:300])
    np.save(tmp_path / "y.npy", y[:300])
    model = StackedAutoencoder(
        (9, 4), pretrain_max_iter=3, softmax_max_iter=3, fine_tune_max_iter=3
    )
    with warnings.catch_warnings(action="ignore"):
        model.fit(X[:300], y[:300])
    path = model.save(tmp_path / "m.safetensors")
    data = ["--data", str(tmp_path / "x.npy")]
    assert main(["report", str(path), *data, "--labels", str(tmp_path / "y.npy")]) == 0
    assert f"accuracy {model.score(X[:300], y[:300]):.4f}" in capsys.readouterr().out
    assert main(["report", str(path), *data, "-o", str(tmp_path / "r.html")]) == 0
    assert "accuracy" not in capsys.readouterr().out
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "no labels were given" in html and html.count('class="card') == 9


def test_write_report_takes_a_stacked_model_and_build_report_says_which(
    stack_run, tmp_path
):
    model = load(stack_run / "model.safetensors")
    X, y = load_digits_scaled()
    path = write_report(tmp_path / "r.html", model, X, y=y, top_k=2)
    assert path.read_text(encoding="utf-8").count('class="card') == 10
    with pytest.raises(TypeError, match="use build_stacked_report"):
        build_report(model, X)


def test_labels_are_for_stacked_models_only(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", "-o", str(out), "--max-iter", "2", *TRAIN]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--labels", str(tmp_path / "y.npy")]) == 2
    one_line_error(capsys, "--labels", "sparse autoencoder")


# The data an interrupted run was trained on -----------------------------


@pytest.fixture
def interrupted_run(tmp_path, monkeypatch, capsys):
    """A run on 300 patches stopped by Ctrl-C: a checkpoint and no metrics.json."""
    out = tmp_path / "ck"
    interrupt_at(monkeypatch, 2)
    argv = ["train", "patches", "--patches", "300", "-o", str(out), *TRAIN]
    assert main([*argv, "--max-iter", "50"]) == 130
    monkeypatch.undo()
    assert {p.name for p in out.iterdir()} == {
        "checkpoint.safetensors",
        "history.csv",
        "report.html",
    }
    capsys.readouterr()
    return out


def test_report_on_an_interrupted_run_asks_for_the_patches_it_does_not_record(
    interrupted_run, capsys
):
    before = (interrupted_run / "report.html").read_bytes()
    assert main(["report", str(interrupted_run)]) == 2
    one_line_error(capsys, "'patches' but not how many", "metrics.json", "--patches N")
    # Other patches than the run's would not replace the run's report.
    assert main(["report", str(interrupted_run), "--patches", "200"]) == 2
    one_line_error(capsys, "(200 patches, seed 0) are not the data the run", "-o FILE")
    assert (interrupted_run / "report.html").read_bytes() == before
    # The run's own patches, checked against the checkpoint's fingerprint.
    assert main(["report", str(interrupted_run), "--patches", "300"]) == 0
    assert "4 units and 300 samples" in capsys.readouterr().out
    html = (interrupted_run / "report.html").read_text(encoding="utf-8")
    assert "measured on 300 samples" in html


def test_a_checkpoint_without_the_data_says_what_is_missing(interrupted_run, capsys):
    # A run killed outright leaves the periodic checkpoint, which has no notes.
    checkpoint = interrupted_run / "checkpoint.safetensors"
    save(load(checkpoint), checkpoint)
    assert main(["report", str(interrupted_run)]) == 2
    one_line_error(capsys, "does not record its data", "interrupted", "--data DATA")


def test_report_uses_the_patches_of_a_finished_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "patches", "--patches", "300", "--seed", "3", "-o", str(out)]
    assert main([*argv, "--max-iter", "2", *TRAIN]) == 0
    capsys.readouterr()
    for target in (out, out / "model.safetensors"):
        assert main(["report", str(target)]) == 0
        assert "4 units and 300 samples" in capsys.readouterr().out
    # Other data, when asked for, as the README has it.
    assert main(["report", str(out), "--data", "digits"]) == 0
    assert f"1797 samples written to {out / 'report.html'}" in capsys.readouterr().out


def test_report_refuses_recorded_data_that_have_changed(tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).uniform(size=(40, 16)))
    out = tmp_path / "run"
    assert main(["train", str(data), "-o", str(out), "--max-iter", "2", *TRAIN]) == 0
    np.save(data, np.random.default_rng(1).uniform(size=(40, 16)))
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    one_line_error(capsys, "is not the data the model was trained on", "--data")


# show: options and targets ----------------------------------------------


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", "digits", "-o", str(out), "--max-iter", "2", *TRAIN]) == 0
    return out


def test_show_refuses_no_filters_with_filters(train_run, tmp_path, capsys):
    picture_path = tmp_path / "q.png"
    argv = ["show", str(train_run / "model.safetensors"), "--no-filters"]
    assert main([*argv, "--filters", str(picture_path)]) == 2
    one_line_error(capsys, "--filters", "not allowed with", "--no-filters")
    assert not picture_path.exists()


def test_show_takes_a_run_folder(train_run, tmp_path, capsys):
    capsys.readouterr()
    assert main(["show", str(train_run), "--no-filters"]) == 0
    assert (
        f"model:           {train_run / 'model.safetensors'}" in capsys.readouterr().out
    )
    # An interrupted run's folder holds its checkpoint only.
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "checkpoint.safetensors").write_bytes(
        (train_run / "model.safetensors").read_bytes()
    )
    assert main(["show", str(folder), "--filters", str(tmp_path / "f.png")]) == 0
    assert str(folder / "checkpoint.safetensors") in capsys.readouterr().out
    assert picture(tmp_path / "f.png").std() > 20
    assert main(["show", str(tmp_path)]) == 2
    one_line_error(capsys, "MODEL", "is a folder that holds no model.safetensors")
