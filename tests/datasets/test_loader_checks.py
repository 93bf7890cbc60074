"""The loaders refuse a dtype that would round the data, and take Generators."""

import numpy as np
import pytest

from sparseae.datasets import (
    load_digits_scaled,
    load_mnist,
    load_patches,
    sample_patches,
    write_idx,
)

IMAGE = np.arange(100.0).reshape(10, 10) / 100

BAD = [np.int32, int, np.uint8, "int16", bool, np.complex128, None, "nonsense"]


@pytest.fixture
def mnist(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((2, 4, 4), 255, np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([3, 7], np.uint8))
    return tmp_path


@pytest.mark.parametrize("dtype", BAD)
def test_a_dtype_other_than_float_is_refused(dtype, mnist):
    match = r"^dtype must be float32 or float64 \(a name or a type\), got "
    with pytest.raises(ValueError, match=match):
        load_patches(10, dtype=dtype)
    with pytest.raises(ValueError, match=match):
        load_digits_scaled(dtype=dtype)
    with pytest.raises(ValueError, match=match):
        sample_patches([IMAGE], patch_size=2, n_patches=3, dtype=dtype)
    with pytest.raises(ValueError, match=match):
        load_mnist(mnist, "t10k", dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.float64, float])
def test_float_dtypes_by_name_or_type(dtype, mnist):
    want = np.dtype(dtype)
    assert load_digits_scaled(dtype=dtype)[0].dtype == want
    assert sample_patches([IMAGE], patch_size=2, n_patches=3, dtype=dtype).dtype == want
    X, _ = load_mnist(mnist, "t10k", dtype=dtype)
    assert X.dtype == want and float(X.max()) == 1.0


def test_a_generator_is_a_random_state():
    a = sample_patches(
        [IMAGE], patch_size=2, n_patches=20, random_state=np.random.default_rng(5)
    )
    b = sample_patches(
        [IMAGE], patch_size=2, n_patches=20, random_state=np.random.default_rng(5)
    )
    np.testing.assert_array_equal(a, b)
    assert load_patches(10, random_state=np.random.default_rng(0)).shape == (10, 64)


@pytest.mark.parametrize("random_state", [-1, "foo", 2**40, 1.5])
def test_a_bad_random_state_says_what_is_accepted(random_state):
    with pytest.raises(ValueError, match="random_state must be None, an int in"):
        sample_patches([IMAGE], patch_size=2, n_patches=3, random_state=random_state)
