"""Published derivations of the gradient that fail the gradient check.

``docs/derivation.md`` §3 and §4 (anchors ``#one-over-m`` and ``#mistakes``)
explain each one; here every erroneous form is written out and shown to disagree
with central differences, while the library's gradient, on the same problem,
agrees.
"""

import numpy as np
import pytest
from scipy.special import expit

from sparseae import Params, check_gradient, loss_and_grad

from ..conftest import tiny_problem

RHO, BETA, LAM = 0.1, 3.0, 1e-3


def _forward(p, X):
    a2 = expit(X @ p.W1.T + p.b1)
    x_hat = expit(a2 @ p.W2.T + p.b2)
    rho_hat = a2.mean(axis=0)
    s = -RHO / rho_hat + (1 - RHO) / (1 - rho_hat)
    return a2, x_hat, rho_hat, s


def _library(p, X):
    return loss_and_grad(
        p, X, sparsity_target=RHO, sparsity_weight=BETA, weight_decay=LAM
    )


def _with_hidden_error(p, X, hidden_error):
    """Library loss, with a gradient built from a given rule for δ2."""
    J, grads = _library(p, X)
    a2, x_hat, rho_hat, s = _forward(p, X)
    delta3 = (x_hat - X) * x_hat * (1 - x_hat)
    delta2 = hidden_error(delta3, a2, s, X.shape[0])
    W1_grad = delta2.T @ X / X.shape[0] + LAM * p.W1
    b1_grad = delta2.mean(axis=0)
    return J, Params(W1_grad, b1_grad, grads.W2, grads.b2)


def _check(fun):
    X, params = tiny_problem(m=20)
    return check_gradient(lambda p: fun(p, X), params)


def test_library_gradient_is_exact():
    result = _check(_library)
    assert result.relative_differences["all"] < 1e-9


def test_sparsity_term_inside_f_prime_is_exact():
    """δ2 = (δ3 W2 + β s) ⊙ f'(z2), derivation eq. (8), as in the CS294A notes."""
    result = _check(
        lambda p, X: _with_hidden_error(
            p, X, lambda d3, a2, s, m: (d3 @ p.W2 + BETA * s) * a2 * (1 - a2)
        )
    )
    assert result.relative_differences["all"] < 1e-9


def test_sparsity_term_divided_by_m_again_is_wrong():
    """Dividing δ2's sparsity term by m counts the 1/m twice (derivation §3)."""
    result = _check(
        lambda p, X: _with_hidden_error(
            p, X, lambda d3, a2, s, m: (d3 @ p.W2 + BETA * s / m) * a2 * (1 - a2)
        )
    )
    assert result.relative_differences["W1"] > 1e-2
    assert result.relative_differences["b1"] > 1e-2


def test_sparsity_term_outside_f_prime_is_wrong():
    """β s added to δ2 after the factor f'(z2), not inside it."""
    result = _check(
        lambda p, X: _with_hidden_error(
            p, X, lambda d3, a2, s, m: (d3 @ p.W2) * a2 * (1 - a2) + BETA * s
        )
    )
    assert result.relative_differences["W1"] > 0.1
    assert result.relative_differences["b1"] > 0.1


def _unhalved(p, X, decay_gradient):
    """(1/m) Σ ‖x̂ − x‖² + λ Σ ‖W‖² + β Σ KL, the SGD derivation's convention."""
    a2, x_hat, rho_hat, s = _forward(p, X)
    m = X.shape[0]
    kl = RHO * np.log(RHO / rho_hat) + (1 - RHO) * np.log((1 - RHO) / (1 - rho_hat))
    L = (
        np.sum((x_hat - X) ** 2) / m
        + LAM * (np.sum(p.W1**2) + np.sum(p.W2**2))
        + BETA * kl.sum()
    )
    delta3 = 2 * (x_hat - X) * x_hat * (1 - x_hat)
    delta2 = (delta3 @ p.W2 + BETA * s) * a2 * (1 - a2)
    return L, Params(
        delta2.T @ X / m + decay_gradient(p.W1),
        delta2.mean(axis=0),
        delta3.T @ a2 / m + decay_gradient(p.W2),
        delta3.mean(axis=0),
    )


def test_weight_decay_gradient_without_lambda_is_wrong():
    """∂/∂W of λ‖W‖² written as 2·W; it is 2λ·W."""
    right = _check(lambda p, X: _unhalved(p, X, lambda W: 2 * LAM * W))
    wrong = _check(lambda p, X: _unhalved(p, X, lambda W: 2 * W))
    assert right.relative_differences["all"] < 1e-9
    assert wrong.relative_differences["W1"] > 0.1


def _sparsity_only(p, X, rho_hat_gradient):
    """Ω = Σ_l KL(ρ ‖ ρ̂_l) as a function of W1 alone, with a rule for ∂ρ̂/∂W1."""
    a2, _, rho_hat, s = _forward(p, X)
    kl = RHO * np.log(RHO / rho_hat) + (1 - RHO) * np.log((1 - RHO) / (1 - rho_hat))
    fprime = a2 * (1 - a2)  # (m, h)
    # ∂Ω/∂W1_lj = s_l ∂ρ̂_l/∂W1_lj
    W1_grad = s[:, None] * rho_hat_gradient(fprime, X)
    zeros = Params.zeros(p.n_features, p.n_hidden)
    return float(kl.sum()), Params(W1_grad, zeros.b1, zeros.W2, zeros.b2)


def _check_W1(fun):
    X, params = tiny_problem(m=20)
    return check_gradient(
        lambda W1: (lambda r: (r[0], r[1].W1))(
            fun(Params(W1, params.b1, params.W2, params.b2), X)
        ),
        params.W1,
    )


def test_mean_activation_derivative_elementwise_is_exact():
    """∂ρ̂_l/∂W_jl = (1/m) Σ_i g'(z_il) x_ij, the element-wise line of the slides."""
    result = _check_W1(
        lambda p, X: _sparsity_only(p, X, lambda fp, X: fp.T @ X / X.shape[0])
    )
    assert result.worst < 1e-9


def test_mean_activation_derivative_in_matrix_form_without_mean_is_wrong():
    """The matrix line x_i g'(·)ᵀ drops the (1/m) Σ_i of the element-wise line."""
    one_sample = _check_W1(
        lambda p, X: _sparsity_only(p, X, lambda fp, X: np.outer(fp[0], X[0]))
    )
    summed = _check_W1(lambda p, X: _sparsity_only(p, X, lambda fp, X: fp.T @ X))
    assert one_sample.worst > 0.1
    # Summing without the 1/m is m times too large: ‖(m−1)g‖/‖(m+1)g‖ = 19/21.
    assert summed.worst == pytest.approx(19 / 21, rel=1e-6)
