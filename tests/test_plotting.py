import io
import os

import matplotlib
import numpy as np
import pytest
from PIL import Image

from sparseae.datasets import sample_patches
from sparseae.plotting import plot_loss_curve, save_filters, tile_filters


def read_png(path):
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        return image.mode, np.asarray(image)


@pytest.mark.parametrize(
    ("n_filters", "padding", "expected"),
    [
        (1, 1, (10, 10)),
        (10, 1, (3 * 9 + 1, 4 * 9 + 1)),  # 4 columns, 3 rows
        (16, 0, (32, 32)),
        (17, 2, (4 * 10 + 2, 5 * 10 + 2)),  # 5 columns, 4 rows
        (25, 1, (46, 46)),
    ],
)
def test_tile_shape_arithmetic(n_filters, padding, expected):
    W = np.random.default_rng(0).normal(size=(n_filters, 64))
    assert tile_filters(W, padding=padding).shape == expected


def test_each_tile_spans_its_own_range_in_row_major_order():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 12)) * rng.uniform(0.01, 100, size=(5, 1))
    tile = tile_filters(W, image_shape=(3, 4))  # 3 columns, 2 rows
    assert tile.shape == (2 * 4 + 1, 3 * 5 + 1)
    occupied = np.zeros(tile.shape, bool)
    for k in range(5):
        top, left = 1 + (k // 3) * 4, 1 + (k % 3) * 5
        block = tile[top : top + 3, left : left + 4]
        assert block.min() == 0 and block.max() == 1
        expected = (W[k] - W[k].min()) / np.ptp(W[k])
        np.testing.assert_allclose(block, expected.reshape(3, 4))
        occupied[top : top + 3, left : left + 4] = True
    assert np.all(tile[~occupied] == 0)  # padding and the empty sixth cell


def test_constant_filter_is_mid_grey():
    tile = tile_filters(np.vstack([np.full(4, 7.0), np.arange(4.0)]), padding=0)
    np.testing.assert_array_equal(tile[:, :2], 0.5)


def test_colour_tile_matches_sample_patches_layout():
    rng = np.random.default_rng(0)
    image = rng.random((6, 6, 3))
    # A patch as large as the image has one possible position: the image itself.
    patch = sample_patches([image], patch_size=6, n_patches=1, random_state=0)
    tile = tile_filters(patch, n_channels=3, padding=0)
    assert tile.shape == (6, 6, 3)
    np.testing.assert_allclose(tile, (image - image.min()) / np.ptp(image))


@pytest.mark.parametrize(
    ("W", "kwargs", "match"),
    [
        (np.zeros((2, 10)), {}, "10 pixels per channel, not a square.*image_shape"),
        (np.zeros((2, 12)), {"image_shape": (3, 5)}, r"\(3, 5\) has 15 pixels"),
        (np.zeros((2, 10)), {"n_channels": 3}, "not a multiple of n_channels=3"),
        (np.zeros((2, 12)), {"n_channels": 2}, "n_channels must be 1 or 3, got 2"),
        (np.zeros((2, 4)), {"padding": -1}, "padding must be .* got -1"),
        (np.zeros(4), {}, r"2-D .* got shape \(4,\)"),
        (np.zeros((0, 4)), {}, r"n_filters >= 1, got shape \(0, 4\)"),
    ],
)
def test_tile_errors(W, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tile_filters(W, **kwargs)


def test_save_filters_grey_upscaled_nearest(tmp_path):
    W = np.random.default_rng(0).normal(size=(4, 64))
    path = save_filters(tmp_path / "w.png", W, scale=8)
    mode, pixels = read_png(path)
    tile = tile_filters(W)
    assert mode == "L" and pixels.shape == (tile.shape[0] * 8, tile.shape[1] * 8)
    np.testing.assert_array_equal(pixels[::8, ::8], np.rint(tile * 255))
    blocks = pixels.reshape(tile.shape[0], 8, tile.shape[1], 8)
    assert np.all(blocks == blocks[:, :1, :, :1])
    assert os.listdir(tmp_path) == ["w.png"]


def test_save_filters_colour_and_overwrite(tmp_path):
    path = tmp_path / "c.png"
    path.write_bytes(b"old")
    W = np.random.default_rng(1).random((3, 48))
    save_filters(path, W, n_channels=3, scale=2, padding=0)
    mode, pixels = read_png(path)
    assert mode == "RGB" and pixels.shape == (16, 16, 3)  # 2 x 2 grid of 4 x 4
    with pytest.raises(ValueError, match="scale must be a positive int, got 0"):
        save_filters(path, W, scale=0)
    assert sorted(os.listdir(tmp_path)) == ["c.png"]


def test_plot_loss_curve(tmp_path):
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    history = {
        "loss": np.geomspace(1, 0.1, 30),
        "reconstruction": np.geomspace(0.9, 0.05, 30),
        "sparsity": [0.0, *np.geomspace(0.1, 0.05, 29)],
        "weight_decay": [0.0] * 30,  # cannot be log-scaled: left out, no warning
    }
    path = plot_loss_curve(tmp_path / "loss.png", history, title="demo")
    mode, pixels = read_png(path)
    assert pixels.shape[:2] == (400, 600)
    assert pixels.std() > 0
    assert matplotlib.get_backend() == backend and plt.get_fignums() == figures
    assert os.listdir(tmp_path) == ["loss.png"]


def test_the_loss_curve_counts_iterations_from_one(tmp_path, monkeypatch):
    # As history.csv does: the first entry is recorded after iteration 1.
    from matplotlib.axes import Axes

    seen = []
    plot = Axes.plot

    def record(self, x, *args, **kwargs):
        seen.append(np.asarray(x))
        return plot(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", record)
    plot_loss_curve(tmp_path / "loss.png", {"loss": np.geomspace(1, 0.1, 5)})
    assert [list(x) for x in seen] == [[1, 2, 3, 4, 5]]


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ({}, "at least one curve"),
        ({"weight_decay": [0.0, 0.0]}, r"positive value, got keys \['weight_decay'\]"),
        ({"loss": [[1.0, 2.0]]}, r"history\['loss'\] must be a 1-D"),
    ],
)
def test_plot_loss_curve_errors(tmp_path, history, match):
    with pytest.raises(ValueError, match=match):
        plot_loss_curve(tmp_path / "x.png", history)
    assert not list(tmp_path.iterdir())
