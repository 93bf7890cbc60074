"""ZCA whitening."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparseae import ZCAWhitening

from ..conftest import examples

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def correlated(seed=0, m=2000, n=6):
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n, n))
    return rng.standard_normal((m, n)) @ mixing + rng.standard_normal(n)


def covariance(X):
    centred = X - X.mean(axis=0)
    return centred.T @ centred / len(X)


def test_tiny_epsilon_gives_identity_covariance():
    X = correlated()
    whitened = ZCAWhitening(epsilon=1e-10).fit_transform(X)
    np.testing.assert_allclose(covariance(whitened), np.eye(6), atol=1e-6)
    np.testing.assert_allclose(whitened.mean(axis=0), 0, atol=1e-12)


def test_epsilon_shrinks_each_direction_by_s_over_s_plus_epsilon():
    X = correlated(1)
    zca = ZCAWhitening(epsilon=0.5).fit(X)
    s, U = zca.explained_variance_, zca.components_
    expected = U.T @ np.diag(s / (s + 0.5)) @ U
    np.testing.assert_allclose(covariance(zca.transform(X)), expected, atol=1e-10)
    assert np.all(np.diff(s) <= 0)


def test_zca_is_symmetric_and_the_whitening_closest_to_the_data():
    X = correlated(2)
    zca = ZCAWhitening(epsilon=1e-8).fit(X)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-12)
    # Among whitenings R W (R orthogonal), ZCA maximises the trace of the
    # cross-covariance with the input: here it beats the PCA rotation.
    centred = X - X.mean(axis=0)
    zca_trace = np.trace(centred.T @ zca.transform(X))
    pca = centred @ zca.components_.T / np.sqrt(zca.explained_variance_ + 1e-8)
    assert zca_trace > np.trace(centred.T @ pca)


@settings(max_examples=examples(20), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), epsilon=st.floats(1e-6, 10.0))
def test_inverse_transform_round_trips(seed, epsilon):
    X = correlated(seed, m=50, n=4)
    zca = ZCAWhitening(epsilon=epsilon).fit(X)
    np.testing.assert_allclose(
        zca.inverse_transform(zca.transform(X)), X, rtol=1e-8, atol=1e-8
    )


def test_rank_deficient_data_stays_finite():
    X = correlated(3, n=4)
    X = np.hstack([X, X[:, :1]])  # a repeated column: one zero eigenvalue
    whitened = ZCAWhitening(epsilon=1e-3).fit_transform(X)
    assert np.isfinite(whitened).all()


def test_epsilon_must_be_positive():
    with pytest.raises(ValueError, match="epsilon"):
        ZCAWhitening(epsilon=0).fit(np.ones((3, 2)))


@parametrize_with_checks([ZCAWhitening()])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
