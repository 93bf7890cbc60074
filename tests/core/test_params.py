import numpy as np
import pytest

from sparseae import Params


def test_initialization_is_uniform_with_zero_biases():
    params = Params.initialize(64, 25, rng=np.random.default_rng(0))
    r = np.sqrt(6 / (64 + 25 + 1))
    assert np.all(params.b1 == 0) and np.all(params.b2 == 0)
    for W in (params.W1, params.W2):
        assert np.abs(W).max() <= r
        # Uniform on [-r, r]: spread close to the edges, mean near zero.
        assert np.abs(W).max() > 0.95 * r
        assert abs(W.mean()) < 0.05 * r


def test_same_generator_seed_same_parameters():
    a = Params.initialize(8, 3, rng=np.random.default_rng(7))
    b = Params.initialize(8, 3, rng=np.random.default_rng(7))
    c = Params.initialize(8, 3, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a.vector, b.vector)
    assert not np.array_equal(a.vector, c.vector)


def test_blocks_are_views_of_the_vector():
    theta = np.arange(Params.vector_size(3, 2), dtype=np.float64)
    params = Params.from_vector(theta, 3, 2)
    assert params.vector is theta
    params.W2[0, 0] = -1.0
    assert theta[2 * 3 + 2] == -1.0  # after W1 (2x3) and b1 (2,)
    np.testing.assert_array_equal(params.to_vector(), theta)


def test_round_trip_and_copy_are_independent():
    params = Params.initialize(5, 4, rng=np.random.default_rng(0))
    copy = params.copy()
    copy.W1[...] = 0
    assert np.any(params.W1 != 0)
    assert params.astype(np.float32).dtype == np.float32


def test_wrong_vector_length_names_the_sizes():
    with pytest.raises(ValueError, match=r"length 17 for n_features=3, n_hidden=2"):
        Params.from_vector(np.zeros(5), 3, 2)


def test_mismatched_blocks_print_both_shapes():
    with pytest.raises(ValueError, match=r"W2 must have shape \(3, 2\).*got \(2, 3\)"):
        Params(np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), np.zeros(3))


def test_vector_of_separate_arrays_is_refused():
    params = Params(np.zeros((2, 3)), np.zeros(2), np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="call to_vector"):
        _ = params.vector
    assert params.to_vector().shape == (Params.vector_size(3, 2),)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="n_hidden must be a positive integer"):
        Params.zeros(3, bad)
