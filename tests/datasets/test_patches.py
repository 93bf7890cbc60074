import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparseae.datasets import load_patches, normalize_patches, sample_patches


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [rng.random((20, 30)), rng.random((15, 12))]


def test_shape_and_dtype(images):
    patches = sample_patches(images, patch_size=5, n_patches=7, random_state=0)
    assert patches.shape == (7, 25) and patches.dtype == np.float64
    single = sample_patches(images, n_patches=3, random_state=0, dtype=np.float32)
    assert single.shape == (3, 64) and single.dtype == np.float32


def test_same_seed_same_patches_different_seed_differs(images):
    a = sample_patches(images, n_patches=50, random_state=1)
    b = sample_patches(images, n_patches=50, random_state=1)
    c = sample_patches(images, n_patches=50, random_state=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng = np.random.RandomState(1)
    np.testing.assert_array_equal(
        a, sample_patches(images, n_patches=50, random_state=rng)
    )


def test_patches_are_row_major_sub_blocks():
    image = np.arange(10 * 12.0).reshape(10, 12)  # value = 12 row + col
    patches = sample_patches([image], patch_size=3, n_patches=200, random_state=0)
    for patch in patches:
        row, col = divmod(int(patch[0]), 12)
        np.testing.assert_array_equal(
            patch, image[row : row + 3, col : col + 3].ravel()
        )


def test_every_corner_reachable_and_images_chosen_uniformly():
    image = np.arange(16.0).reshape(4, 4)
    patches = sample_patches([image], patch_size=2, n_patches=2000, random_state=0)
    corners = np.unique(patches[:, 0])
    np.testing.assert_array_equal(corners, [0, 1, 2, 4, 5, 6, 8, 9, 10])

    both = [np.zeros((8, 8)), np.ones((9, 9))]
    chosen = sample_patches(both, patch_size=8, n_patches=4000, random_state=0)[:, 0]
    assert 0.46 < chosen.mean() < 0.54


def test_colour_patches_are_channel_planar():
    rng = np.random.default_rng(0)
    image = rng.random((10, 11, 3))
    patches = sample_patches([image], patch_size=4, n_patches=50, random_state=0)
    assert patches.shape == (50, 4 * 4 * 3)
    windows = np.lib.stride_tricks.sliding_window_view(image, (4, 4, 3))[:, :, 0]
    for patch in patches:
        planes = patch.reshape(3, 4, 4)  # [R..., G..., B...], each row-major
        hits = np.all(windows == planes.transpose(1, 2, 0), axis=(2, 3, 4))
        assert hits.sum() == 1


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        ([np.zeros((10, 10))], {"patch_size": 11}, r"no larger .*\(here 10\), got 11"),
        ([np.zeros((10, 10))], {"patch_size": 0}, "patch_size must be .* got 0"),
        ([np.zeros((10, 10))], {"patch_size": 2.0}, "patch_size must be .* got 2.0"),
        ([np.zeros((10, 10))], {"n_patches": 0}, "n_patches must be .* got 0"),
        ([], {}, "at least one image"),
        ([np.zeros((9, 9)), np.zeros((9, 9, 3))], {}, "same c"),
        ([np.zeros(9)], {}, r"shapes \[\(9,\)\]"),
    ],
)
def test_sample_patches_errors(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_patches(images, **kwargs)


def test_normalize_matches_the_classic_formula():
    rng = np.random.default_rng(0)
    patches = rng.standard_t(3, size=(500, 16)) + rng.normal(size=(500, 1)) * 5
    centred = patches - patches.mean(axis=1, keepdims=True)
    sigma = centred.std()
    expected = (np.clip(centred, -3 * sigma, 3 * sigma) / (3 * sigma) + 1) * 0.4 + 0.1
    out = normalize_patches(patches)
    np.testing.assert_allclose(out, expected)
    assert out.min() == pytest.approx(0.1) and out.max() == pytest.approx(0.9)
    # Heavy tails must actually be clipped for this test to mean anything.
    assert np.mean(out == 0.1) > 0 and np.mean(out == 0.9) > 0


def test_normalize_ignores_each_patch_offset():
    rng = np.random.default_rng(1)
    patches = rng.normal(size=(50, 9))
    shifted = patches + rng.normal(size=(50, 1)) * 100
    np.testing.assert_allclose(normalize_patches(patches), normalize_patches(shifted))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_normalize_refuses_a_non_finite_value(bad):
    # σ is shared by all patches, so one NaN turned every patch into NaN.
    patches = np.random.default_rng(0).random((4, 3))
    patches[2, 1] = bad
    with pytest.raises(ValueError, match=rf"finite, got {bad} at row 2, column 1"):
        normalize_patches(patches)


def test_normalize_refuses_no_patches():
    # It returned an empty array with NumPy's RuntimeWarnings.
    with pytest.raises(ValueError, match=r"at least one patch .* \(0, 4\)"):
        normalize_patches(np.zeros((0, 4)))


def test_normalize_dtypes_and_constant_input():
    assert normalize_patches(np.ones((2, 3), np.float32)).dtype == np.float32
    np.testing.assert_array_equal(normalize_patches(np.ones((2, 3), int)), 0.5)
    with pytest.raises(ValueError, match=r"2-D .* got shape \(3,\)"):
        normalize_patches(np.ones(3))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (6, 4), elements=st.floats(-1e6, 1e6)))
def test_normalize_range_property(patches):
    out = normalize_patches(patches)
    assert np.all((out >= 0.1 - 1e-12) & (out <= 0.9 + 1e-12))
    # A monotone map within each patch: clipping may tie values, never swap them.
    order = np.argsort(patches, axis=1, kind="stable")
    assert np.all(np.diff(np.take_along_axis(out, order, axis=1), axis=1) >= -1e-12)


def test_load_patches_is_the_classic_demo_data():
    X = load_patches(2000, random_state=0)
    assert X.shape == (2000, 64) and X.dtype == np.float64
    assert X.min() >= 0.1 and X.max() <= 0.9
    assert X.mean() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_array_equal(X, load_patches(2000, random_state=0))
    assert load_patches(10, patch_size=4, dtype=np.float32).shape == (10, 16)
