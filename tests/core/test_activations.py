"""ReLU and top-k hidden units: forward, slope, and their gradient (derivation §10)."""

import numpy as np
import pytest

from sparseae import check_gradient, loss_and_grad
from sparseae.cli.gradcheck import problem_away_from_kinks
from sparseae.core.activations import activate_, kink_margin, sigmoid_, slope
from sparseae.core.chunked import evaluate_chunks
from sparseae.core.decoder_norm import decoder_gradient_, unit_decoder
from sparseae.core.objective import encode, evaluate, make_settings


def test_topk_keeps_the_k_largest_of_each_row_after_a_relu():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 9))
    a = activate_(z.copy(), "topk", 4)
    assert ((a != 0).sum(axis=1) <= 4).all()
    for row, codes in zip(z, a, strict=True):
        top = np.argsort(row)[-4:]
        np.testing.assert_array_equal(codes[top], np.maximum(row[top], 0))
        assert (np.delete(codes, top) == 0).all()


def test_topk_keeps_exactly_k_among_ties_and_all_when_k_is_large():
    z = np.ones((3, 5))
    assert ((activate_(z.copy(), "topk", 2) != 0).sum(axis=1) == 2).all()
    z = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_array_equal(
        activate_(z.copy(), "topk", 5), activate_(z.copy(), "relu")
    )


@pytest.mark.parametrize(
    ("unit", "k"), [("relu", None), ("topk", 3), ("sigmoid", None)]
)
def test_slope_from_a2_is_the_derivative(unit, k):
    # (13): away from the kinks, ∂a2_ij/∂z2_ij is the slope computed from a2,
    # and a2_ij does not depend on any other z2_il.
    rng = np.random.default_rng(2)
    z = rng.standard_normal((20, 7))
    assert kink_margin(z, unit, k) > 1e-4
    a2 = activate_(z.copy(), unit, k)
    eps = 1e-7
    for j in range(7):
        step = np.zeros_like(z)
        step[:, j] = eps
        change = (activate_(z + step, unit, k) - activate_(z - step, unit, k)) / (
            2 * eps
        )
        expected = slope(a2, unit, np.empty_like(a2))[:, j]
        np.testing.assert_allclose(change[:, j], expected, atol=1e-7)
        np.testing.assert_allclose(np.delete(change, j, axis=1), 0, atol=1e-7)


def test_a_kept_unit_with_a_negative_preactivation_has_slope_zero():
    z = np.array([[-0.5, -1.0, -2.0, 0.3]])
    a2 = activate_(z.copy(), "topk", 2)  # keeps 0.3 and -0.5
    np.testing.assert_array_equal(a2, [[0, 0, 0, 0.3]])
    np.testing.assert_array_equal(slope(a2, "topk", np.empty_like(a2)), [[0, 0, 0, 1]])


def test_kink_margin():
    z = np.array([[0.3, -0.2, 0.25, 1.0], [2.0, 1.5, -3.0, 0.9]])
    assert kink_margin(z, "sigmoid") == np.inf
    assert kink_margin(z, "relu") == pytest.approx(0.2)
    assert kink_margin(z, "topk", 2) == pytest.approx(0.05)
    assert kink_margin(z, "topk", 4) == pytest.approx(0.2)


def test_sigmoid_is_the_logistic_function():
    z = np.linspace(-30, 30, 61)
    # Exact to a few ulps of 1, as its docstring says (absolute, not relative).
    np.testing.assert_allclose(sigmoid_(z.copy()), 1 / (1 + np.exp(-z)), atol=1e-15)


def test_relu_worked_by_hand():
    # One input x = 1, one unit: z2 = a2 = 1, linear output x̂ = 0.5 a2 = 0.5.
    # δ3 = x̂ − x = −0.5; ∇W2 = δ3 a2 = −0.5; with the L1 penalty s = 1, so
    # δ2 = (δ3 W2 + β) · 1 = −0.25 + 0.1 and ∇W1 = ∇b1 = −0.15 (eqs. 8-10, 13).
    from sparseae import Params

    params = Params(np.ones((1, 1)), np.zeros(1), np.full((1, 1), 0.5), np.zeros(1))
    J, grads = loss_and_grad(
        params,
        np.ones((1, 1)),
        sparsity_target=0.5,
        sparsity_weight=0.1,
        weight_decay=0.0,
        penalty="l1",
        output="linear",
        activation="relu",
    )
    assert J == pytest.approx(0.5 * 0.25 + 0.1)
    assert grads.W2[0, 0] == pytest.approx(-0.5)
    assert grads.W1[0, 0] == pytest.approx(-0.15)
    assert grads.b1[0] == pytest.approx(-0.15)
    assert grads.b2[0] == pytest.approx(-0.5)


TERMS = {
    "reconstruction": dict(sparsity_weight=0.0, weight_decay=0.0),
    "sparsity": dict(sparsity_weight=0.7, weight_decay=0.0),
    "weight_decay": dict(sparsity_weight=0.0, weight_decay=3e-2),
}


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize(
    ("unit", "penalty", "k"),
    [("relu", "l1", None), ("relu", "squared", None), ("topk", "l1", 2)],
)
def test_each_term_of_the_gradient_against_differences(unit, penalty, k, term):
    # Drawn with every pre-activation 0.01 from a kink: ε = 1e-4 differences
    # move each z2 by at most 1e-4 (binary data), so they never cross one.
    X, params = problem_away_from_kinks(np.random.default_rng(5), 12, 6, 5, unit, k)
    hyper = dict(sparsity_target=0.1, penalty=penalty, output="linear") | TERMS[term]
    result = check_gradient(
        lambda p: loss_and_grad(p, X, **hyper, activation=unit, k=k), params
    )
    assert result.passed(1e-9), result.relative_differences


def test_gradient_check_fails_across_a_topk_tie():
    # The reason for the margin: where the k-th and (k+1)-th positive
    # pre-activations of a sample swap, J jumps, and a difference across
    # the jump is not a derivative.
    X, params = problem_away_from_kinks(np.random.default_rng(5), 12, 6, 5, "topk", 2)
    z2 = X @ params.W1.T + params.b1
    ordered = np.sort(z2, axis=1)[:, ::-1]
    row = int(np.argmax(ordered[:, 2]))  # the sample whose 3rd largest is largest
    assert ordered[row, 2] > 0
    first, second, third = np.argsort(z2[row])[::-1][:3]
    params.b1[third] += z2[row, second] - z2[row, third] - 2e-5
    assert kink_margin(X @ params.W1.T + params.b1, "topk", 2) < 1e-4
    hyper = dict(sparsity_target=0.1, sparsity_weight=0.0, weight_decay=0.0)
    result = check_gradient(
        lambda p: loss_and_grad(p, X, **hyper, output="linear", activation="topk", k=2),
        params,
    )
    assert result.relative_differences["b1"] > 0.1
    assert result.relative_differences["W2"] < 1e-9  # z2 does not depend on W2


def test_topk_has_no_sparsity_term_and_relu_refuses_kl():
    settings = make_settings(
        sparsity_target=0.1,
        sparsity_weight=3.0,
        weight_decay=0.0,
        activation="topk",
        k=2,
    )
    assert settings.beta == 0.0 and settings.k == 2
    with pytest.raises(ValueError, match="activation='relu' needs penalty='l1'"):
        make_settings(
            sparsity_target=0.1,
            sparsity_weight=3.0,
            weight_decay=0.0,
            activation="relu",
        )
    with pytest.raises(ValueError, match="activation='topk' needs k.*got k=None"):
        make_settings(
            sparsity_target=0.1,
            sparsity_weight=3.0,
            weight_decay=0.0,
            activation="topk",
        )
    with pytest.raises(ValueError, match=r"activation must be one of \['sigmoid'"):
        make_settings(
            sparsity_target=0.1,
            sparsity_weight=3.0,
            weight_decay=0.0,
            activation="tanh",
        )


@pytest.mark.parametrize(("unit", "k"), [("relu", None), ("topk", 3)])
def test_encode_chunks_and_in_memory_agree(unit, k):
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(300, 10))
    from sparseae import Params

    params = Params.initialize(10, 6, rng=rng)
    params.b1[...] = 1.5  # mean activations above 1 for relu
    hyper = dict(
        sparsity_target=0.1,
        sparsity_weight=0.3,
        weight_decay=1e-3,
        penalty="l1",
        output="sigmoid",
        activation=unit,
        k=k,
    )
    whole = evaluate(params, X, **hyper)
    chunked = evaluate_chunks(params, [X[:77], X[77:200], X[200:]], **hyper)
    codes = encode(params, X, unit, k)
    # ρ̂ of the objective is the mean of the codes transform returns.
    np.testing.assert_allclose(whole.mean_activation, codes.mean(axis=0), rtol=1e-12)
    assert chunked.terms.total == pytest.approx(whole.terms.total, rel=1e-12)
    np.testing.assert_allclose(
        chunked.grads.to_vector(), whole.grads.to_vector(), rtol=1e-9, atol=1e-13
    )
    if unit == "topk":
        assert ((codes > 0).sum(axis=1) <= k).all()
    if unit == "topk":
        assert whole.terms.sparsity == 0.0  # no sparsity term
    else:
        # Mean activations past 1, counted unclamped (derivation §10).
        assert whole.mean_activation.max() > 1
        assert whole.terms.sparsity == pytest.approx(0.3 * codes.mean(axis=0).sum())


@pytest.mark.parametrize("unit", ["sigmoid", "relu"])
def test_unit_norm_decoder_gradient_against_differences(unit):
    # Eq. (14): J(V) = J(W2 = V / ‖V‖) and its gradient through the norm.
    X, params = problem_away_from_kinks(np.random.default_rng(4), 12, 6, 5, unit)
    params.W2[...] *= np.random.default_rng(0).uniform(1.0, 3.0, size=5)
    hyper = dict(
        sparsity_target=0.1,
        sparsity_weight=0.5,
        weight_decay=1e-2,
        penalty="l1",
        output="linear",
        activation=unit,
    )

    def objective(p):
        unit_params, norms = unit_decoder(p)
        J, grads = loss_and_grad(unit_params, X, **hyper)
        decoder_gradient_(grads.W2, unit_params.W2, norms)
        return J, grads

    # The normalisation curves J in V: at ε = 1e-4 the truncation error of
    # the differences reaches 2e-9 on W2 (1e-3: 2e-7, 3e-5: 2e-10, falling
    # as ε², derivation §7), so a smaller step.
    result = check_gradient(objective, params, epsilon=3e-5)
    assert result.passed(1e-9), result.relative_differences
    # J does not change along v_j, so neither does the gradient's component.
    _, grads = objective(params)
    np.testing.assert_allclose(
        np.einsum("ij,ij->j", grads.W2, params.W2), 0, atol=1e-14
    )
