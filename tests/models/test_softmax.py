"""Softmax regression: kernel gradient, independent agreement, the classifier."""

import warnings

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.sparse as sp
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparseae import SoftmaxClassifier, check_gradient
from sparseae.core.softmax import softmax_cross_entropy, softmax_loss_and_grad

from ..conftest import examples

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def tiny(seed=0, m=12, n=5, k=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    y = rng.integers(k, size=m)
    blocks = {"W": 0.5 * rng.standard_normal((k, n)), "b": rng.standard_normal(k)}
    return X, y, blocks


def as_dict(lam, X, y):
    def fun(p):
        loss, gW, gb = softmax_loss_and_grad(p["W"], p["b"], X, y, weight_decay=lam)
        return loss, {"W": gW, "b": gb}

    return fun


@pytest.mark.parametrize("lam", [0.0, 1e-4, 0.3])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_finite_differences(lam, seed):
    X, y, blocks = tiny(seed)
    result = check_gradient(as_dict(lam, X, y), blocks)
    assert result.passed(1e-9), result.relative_differences


def test_weight_decay_term_alone_has_gradient_lambda_W():
    X, y, blocks = tiny()
    lam = 0.7
    with_decay = softmax_loss_and_grad(blocks["W"], blocks["b"], X, y, weight_decay=lam)
    without = softmax_loss_and_grad(blocks["W"], blocks["b"], X, y, weight_decay=0.0)
    assert with_decay[0] - without[0] == pytest.approx(
        0.5 * lam * np.sum(blocks["W"] ** 2), rel=1e-12
    )
    np.testing.assert_allclose(with_decay[1] - without[1], lam * blocks["W"])
    np.testing.assert_array_equal(with_decay[2], without[2])


def test_checker_catches_a_softmax_gradient_wrong_by_a_thousandth():
    X, y, blocks = tiny()
    exact = as_dict(1e-3, X, y)

    def wrong(p):
        loss, grads = exact(p)
        return loss, {"W": grads["W"] * 1.001, "b": grads["b"]}

    result = check_gradient(wrong, blocks)
    assert not result.passed(1e-9)
    assert result.relative_differences["W"] == pytest.approx(5e-4, rel=1e-3)


def independent_objective(theta, X, y, k, lam):
    n = X.shape[1]
    W, b = anp.reshape(theta[: k * n], (k, n)), theta[k * n :]
    Z = anp.dot(X, W.T) + b
    log_p = Z - anp.log(anp.sum(anp.exp(Z), axis=1, keepdims=True))
    one_hot = np.eye(k)[y]
    return -anp.sum(one_hot * log_p) / X.shape[0] + lam / 2 * anp.sum(W**2)


def test_value_and_gradient_agree_with_autograd():
    X, y, blocks = tiny(seed=3, m=20, n=6, k=3)
    loss, gW, gb = softmax_loss_and_grad(
        blocks["W"], blocks["b"], X, y, weight_decay=0.01
    )
    theta = np.concatenate([blocks["W"].ravel(), blocks["b"]])
    assert loss == pytest.approx(independent_objective(theta, X, y, 3, 0.01), rel=1e-12)
    expected = grad(independent_objective)(theta, X, y, 3, 0.01)
    np.testing.assert_allclose(np.concatenate([gW.ravel(), gb]), expected, rtol=1e-10)


def test_hand_worked_case():
    # One sample, scores (0, log 3): P = (1/4, 3/4); label 1 costs log(4/3).
    loss, delta = softmax_cross_entropy(np.array([[0.0, np.log(3)]]), np.array([1]))
    assert loss == pytest.approx(np.log(4 / 3), rel=1e-14)
    np.testing.assert_allclose(delta, [[0.25, -0.25]])


def test_huge_scores_stay_finite():
    scores = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    loss, delta = softmax_cross_entropy(scores, np.array([2, 1]))
    # Sample 1 puts its label 2e4 below the best score; sample 2 ties two classes.
    assert loss == pytest.approx((2e4 + np.log(2)) / 2, rel=1e-12)
    assert np.isfinite(delta).all()


@settings(max_examples=examples(30), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-50, 50))
def test_properties_of_the_loss(seed, shift):
    X, y, blocks = tiny(seed)
    W, b = blocks["W"], blocks["b"]
    loss, _, gb = softmax_loss_and_grad(W, b, X, y, weight_decay=0.1)
    assert loss >= 0.5 * 0.1 * np.sum(W**2)
    # Adding one constant to every score changes no probability.
    shifted = softmax_loss_and_grad(W, b + shift, X, y, weight_decay=0.1)[0]
    assert shifted == pytest.approx(loss, rel=1e-9, abs=1e-12)
    # Probabilities sum to one, so the bias gradient sums to zero.
    assert abs(gb.sum()) < 1e-12
    order = np.random.default_rng(seed).permutation(len(y))
    permuted = softmax_loss_and_grad(W, b, X[order], y[order], weight_decay=0.1)[0]
    assert permuted == pytest.approx(loss, rel=1e-12)


def test_classifier_agrees_with_scikit_learn_logistic_regression():
    # (1/m) Σ log-loss + (λ/2)‖W‖² is sklearn's C Σ log-loss + ½‖W‖² with C = 1/(λm).
    X, y = load_iris(return_X_y=True)
    lam = 1e-2
    ours = SoftmaxClassifier(weight_decay=lam, tol=0, max_iter=2000).fit(X, y)
    theirs = LogisticRegression(C=1 / (lam * len(X)), tol=1e-12, max_iter=10000)
    theirs.fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4)
    # Biases are defined up to a common constant, which no probability sees.
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5
    )


def test_any_labels_come_back_as_given():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = SoftmaxClassifier(max_iter=200, tol=1e-6).fit(X, names)
    np.testing.assert_array_equal(model.classes_, names[[0, 50, 100]])
    assert set(model.predict(X)) <= set(names)
    assert model.score(X, names) > 0.95
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize("sparse", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
def test_sparse_input_gives_the_dense_model(sparse):
    # As LogisticRegression and the SparseAutoencoder whose codes it classifies.
    X, y = load_iris(return_X_y=True)
    X = np.where(X > 3, X, 0)  # 60% zeros
    settings = dict(weight_decay=1e-2, tol=0, max_iter=2000)
    dense = SoftmaxClassifier(**settings).fit(X, y)
    model = SoftmaxClassifier(**settings).fit(sparse(X), y)
    np.testing.assert_allclose(model.coef_, dense.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        model.predict_proba(sparse(X)), dense.predict_proba(X), atol=1e-8
    )
    np.testing.assert_array_equal(model.predict(sparse(X)), dense.predict(X))


def test_one_class_is_an_error_naming_it():
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class \\('a'\\)"):
        SoftmaxClassifier().fit(np.ones((3, 2)), ["a", "a", "a"])


def test_bad_parameter_is_named():
    with pytest.raises(ValueError, match="weight_decay"):
        SoftmaxClassifier(weight_decay=-1).fit(np.ones((2, 2)), [0, 1])


@parametrize_with_checks([SoftmaxClassifier(max_iter=100, tol=1e-6)])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)


def test_the_budget_warns_only_while_the_loss_still_falls():
    from sklearn.exceptions import ConvergenceWarning

    X, y = load_iris(return_X_y=True)
    whole = SoftmaxClassifier(weight_decay=1e-2, tol=0, max_iter=2000).fit(X, y)
    # Ended by the budget a little before its own stopping test: flat by then.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        SoftmaxClassifier(weight_decay=1e-2, tol=0, max_iter=whole.n_iter_ - 1).fit(
            X, y
        )
    with pytest.warns(
        ConvergenceWarning, match=r"max_iter=2 .*the loss fell"
    ) as record:
        SoftmaxClassifier(weight_decay=1e-2, tol=0, max_iter=2).fit(X, y)
    assert {w.filename for w in record} == {__file__}
