import itertools

import numpy as np
import pytest

from sparseae import Params, check_gradient, evaluate, loss_and_grad, loss_terms
from sparseae.core.objective import check_hyperparameters

from ..conftest import COMBINATIONS, tiny_problem

HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)


@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
def test_gradient_matches_finite_differences(penalty, output, loss):
    X, params = tiny_problem()
    kwargs = dict(HYPER, penalty=penalty, output=output, loss=loss)
    result = check_gradient(lambda p: loss_and_grad(p, X, **kwargs), params)
    assert result.relative_differences["all"] < 1e-9, result.relative_differences
    assert result.worst < 1e-8, result.relative_differences


TERMS = ("reconstruction", "weight_decay", "sparsity")


def _term_gradient(params, X, term, kwargs):
    """Gradient of one term, as the difference of two full gradients."""
    on = dict(kwargs)
    off = dict(kwargs)
    if term == "reconstruction":
        on.update(sparsity_weight=0.0, weight_decay=0.0)
        return loss_and_grad(params, X, **on)[1]
    weight = {"weight_decay": "weight_decay", "sparsity": "sparsity_weight"}[term]
    off[weight] = 0.0
    with_term, without = (
        loss_and_grad(params, X, **on)[1],
        loss_and_grad(params, X, **off)[1],
    )
    return Params.from_vector(
        with_term.vector - without.vector, params.n_features, params.n_hidden
    )


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
def test_each_term_matches_finite_differences(term, penalty, output, loss):
    X, params = tiny_problem(seed=1)
    kwargs = dict(HYPER, penalty=penalty, output=output, loss=loss)

    def one_term(p):
        value = getattr(loss_terms(p, X, **kwargs), term)
        return value, _term_gradient(p, X, term, kwargs)

    result = check_gradient(one_term, params)
    assert result.relative_differences["all"] < 1e-9, result.relative_differences


def test_worked_by_hand():
    # n = h = 1, all weights and biases zero: a2 = x̂ = 1/2 for both samples.
    params = Params.zeros(1, 1)
    X = np.array([[1.0], [0.0]])
    J, grads = loss_and_grad(
        params, X, sparsity_target=0.1, sparsity_weight=1.0, weight_decay=0.5
    )
    terms = loss_terms(
        params, X, sparsity_target=0.1, sparsity_weight=1.0, weight_decay=0.5
    )
    # ½[(½ − 1)² + (½ − 0)²] / 2 = 1/8
    assert terms.reconstruction == pytest.approx(0.125, abs=1e-15)
    assert terms.weight_decay == 0.0
    # 0.1 ln(0.1/0.5) + 0.9 ln(0.9/0.5)
    assert terms.sparsity == pytest.approx(0.36806421, abs=1e-8)
    assert pytest.approx(0.125 + 0.36806421, abs=1e-8) == J
    # δ3 = (x̂ − x) x̂ (1 − x̂) = ∓1/8 cancel in ∇b2 and ∇W2 (a2 equal for both).
    assert grads.b2[0] == pytest.approx(0.0, abs=1e-15)
    assert grads.W2[0, 0] == pytest.approx(0.0, abs=1e-15)
    # s = −0.1/0.5 + 0.9/0.5 = 1.6; δ2 = (0 + 1.6)·¼ = 0.4 for both samples.
    assert grads.b1[0] == pytest.approx(0.4, abs=1e-15)
    # ∇W1 = (0.4·1 + 0.4·0) / 2: the 1/m appears once, from the outer mean.
    assert grads.W1[0, 0] == pytest.approx(0.2, abs=1e-15)


def test_weight_decay_term_by_hand():
    params = Params.zeros(2, 1)
    params.W1[...] = [[1.0, -2.0]]
    params.W2[...] = [[3.0], [0.5]]
    X = np.full((4, 2), 0.5)
    terms = loss_terms(
        params, X, sparsity_target=0.2, sparsity_weight=0.0, weight_decay=0.1
    )
    assert terms.weight_decay == pytest.approx(0.05 * (1 + 4 + 9 + 0.25))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_result_follows_data_dtype(dtype):
    X, params = tiny_problem()
    J, grads = loss_and_grad(params, X.astype(dtype), **HYPER)
    assert all(block.dtype == dtype for block in grads)
    assert isinstance(J, float)
    J64, grads64 = loss_and_grad(params, X, **HYPER)
    assert J == pytest.approx(J64, rel=1e-5)
    np.testing.assert_allclose(grads.vector, grads64.vector, rtol=1e-3, atol=1e-6)


def test_params_are_not_modified():
    X, params = tiny_problem()
    before = params.to_vector()
    loss_and_grad(params, X, **HYPER)
    np.testing.assert_array_equal(params.to_vector(), before)


def test_no_overflow_with_huge_preactivations():
    X, params = tiny_problem()
    params.W1[...] *= 1e4
    params.W2[...] *= 1e4
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        evaluation = evaluate(params, X, **HYPER, loss="cross_entropy")
    assert np.isfinite(evaluation.terms.total)
    assert np.isfinite(evaluation.grads.vector).all()


@pytest.mark.parametrize("saturation", [-50.0, 50.0])
def test_mean_activation_at_zero_or_one_is_clamped(saturation):
    X, params = tiny_problem()
    params.b1[...] = saturation  # every hidden unit at 0 or at 1
    evaluation = evaluate(params, X, **HYPER)
    assert np.isfinite(evaluation.terms.sparsity)
    assert np.isfinite(evaluation.grads.vector).all()


def test_vectorised_equals_per_sample_loop():
    X, params = tiny_problem(m=7)
    J, grads = loss_and_grad(params, X, **HYPER)
    rho_hat = np.mean(
        [1 / (1 + np.exp(-(params.W1 @ x + params.b1))) for x in X], axis=0
    )
    s = HYPER["sparsity_weight"] * (-0.1 / rho_hat + 0.9 / (1 - rho_hat))
    gW1 = np.zeros_like(params.W1)
    for x in X:
        a2 = 1 / (1 + np.exp(-(params.W1 @ x + params.b1)))
        x_hat = 1 / (1 + np.exp(-(params.W2 @ a2 + params.b2)))
        delta3 = (x_hat - x) * x_hat * (1 - x_hat)
        delta2 = (params.W2.T @ delta3 + s) * a2 * (1 - a2)
        gW1 += np.outer(delta2, x) / len(X)
    np.testing.assert_allclose(grads.W1, gW1 + 1e-3 * params.W1, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(sparsity_target=0.0), "sparsity_target must be in \\(0, 1\\), got 0.0"),
        (dict(sparsity_target=1.5), "sparsity_target must be in \\(0, 1\\), got 1.5"),
        (dict(sparsity_weight=-1.0), "sparsity_weight must be a finite number >= 0"),
        (dict(weight_decay=float("nan")), "weight_decay must be a finite number"),
        (dict(sparsity_target="a"), "sparsity_target must be a real number"),
        (dict(penalty="l2"), "penalty must be one of \\['kl', 'l1', 'squared'\\]"),
        (dict(output="tanh"), "output must be one of"),
        (dict(loss="hinge"), "loss must be one of"),
        (dict(output="linear", loss="cross_entropy"), "needs output='sigmoid'"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, message):
    full = dict(HYPER, **kwargs)
    with pytest.raises(ValueError, match=message):
        check_hyperparameters(**full)
    X, params = tiny_problem()
    with pytest.raises(ValueError, match=message):
        loss_and_grad(params, X, **full)


def test_wrong_data_shape_prints_both_shapes():
    _, params = tiny_problem()
    with pytest.raises(ValueError, match=r"\(n_samples >= 1, 8\).*\(5, 8\).*\(3, 7\)"):
        loss_and_grad(params, np.zeros((3, 7)), **HYPER)


def test_kl_is_zero_exactly_at_target():
    # Hidden biases that make every unit's mean activation equal ρ = 1/2.
    params = Params.zeros(3, 2)
    X = np.full((5, 3), 0.5)
    terms = loss_terms(
        params, X, sparsity_target=0.5, sparsity_weight=3.0, weight_decay=0.0
    )
    assert terms.sparsity == pytest.approx(0.0, abs=1e-15)
    shifted = loss_terms(
        params, X, sparsity_target=0.4, sparsity_weight=3.0, weight_decay=0.0
    )
    assert shifted.sparsity > 0


def test_total_is_sum_of_terms():
    X, params = tiny_problem()
    for penalty, output, loss in itertools.islice(COMBINATIONS, 3):
        kwargs = dict(HYPER, penalty=penalty, output=output, loss=loss)
        terms = loss_terms(params, X, **kwargs)
        J, _ = loss_and_grad(params, X, **kwargs)
        assert J == pytest.approx(
            terms.reconstruction + terms.weight_decay + terms.sparsity, rel=1e-15
        )


def test_sparse_rows_evaluate_as_their_dense_equal():
    import scipy.sparse as sp

    X, params = tiny_problem(m=30, n=8, h=5, seed=2)
    dense = evaluate(params, X, **HYPER)
    for matrix in (sp.csr_matrix(X), sp.csc_array(X)):
        sparse = evaluate(params, matrix, **HYPER)
        assert sparse.terms.total == pytest.approx(dense.terms.total, rel=1e-14)
        np.testing.assert_allclose(
            sparse.grads.vector, dense.grads.vector, rtol=1e-12, atol=1e-15
        )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_are_refused_not_evaluated(bad):
    X, params = tiny_problem(m=30, n=8, h=5, seed=2)
    X[4, 2] = bad
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite values"):
        evaluate(params, X, **HYPER)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [-20.0, -40.0, -80.0])
def test_the_kl_term_pulls_a_unit_driven_off_back(dtype, bias):
    # ρ̂ ≈ e^z, and β s f'ᵀ1/m ≈ −βρ/ρ̂ · ρ̂: the exact pull on b1 is −βρ however
    # far off the unit is.  With σ exact only to ulps of 1 and ρ̂ clamped at ε
    # it was 0 from z ≈ −17 in float32 (−37 in float64).
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(20, 5)).astype(dtype)
    params = Params.initialize(5, 3, rng=rng)
    params.W1[...] *= 0.1
    params.b1[...] = bias
    result = evaluate(
        params.astype(dtype),
        X,
        sparsity_target=0.05,
        sparsity_weight=3.0,
        weight_decay=0.0,
    )
    np.testing.assert_allclose(result.grads.b1, -3.0 * 0.05, rtol=1e-5)
    # And the term itself: ρ log(ρ/ρ̂) + …, with log ρ̂ ≈ z.
    assert result.terms.sparsity == pytest.approx(
        3 * 3 * (0.05 * (np.log(0.05) - bias) + 0.95 * np.log(0.95)), rel=1e-3
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("margin", [8.0, 12.0, 16.0])
def test_cross_entropy_of_a_good_fit_keeps_its_relative_precision(dtype, margin):
    # Binary data reconstructed with |z3| = margin on the right side: the loss
    # per entry is softplus(−margin), tiny next to softplus(z3) and x z3.  Taken
    # as Σ softplus(z3) − Σ x z3 it cancelled: in float32 it came out 10% off
    # at margin 8 and negative (−0.004 against 7e-6) at 16.
    rng = np.random.default_rng(0)
    n, m = 64, 20_000
    X = (rng.random((m, n)) < 0.3).astype(dtype)
    params = Params.zeros(n, n)
    params.W1[...] = 20 * np.eye(n)  # a2 = σ(±10): a copy of x
    params.b1[...] = -10
    params.W2[...] = 2 * margin * np.eye(n)
    params.b2[...] = -margin
    terms = loss_terms(
        params.astype(dtype),
        X,
        sparsity_target=0.3,
        sparsity_weight=0.0,
        weight_decay=0.0,
        loss="cross_entropy",
    )
    a2 = 1 / (1 + np.exp(-(20 * X.astype(np.float64) - 10)))
    z3 = 2 * margin * a2 - margin
    x = X.astype(np.float64)
    exact = np.sum(np.logaddexp(0, z3) - x * z3) / m  # float64 is enough here
    assert terms.reconstruction == pytest.approx(exact, rel=1e-5)
