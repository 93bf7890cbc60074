"""Agreement with an independent implementation differentiated by autograd."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from sparseae import Params, loss_and_grad

from ..conftest import COMBINATIONS, tiny_problem


def independent_objective(theta, X, n, h, rho, beta, lam, penalty, output, loss):
    """Derivation eqs. (1)-(5) written directly, with no shared code and no clamping."""
    W1 = anp.reshape(theta[: h * n], (h, n))
    b1 = theta[h * n : h * n + h]
    W2 = anp.reshape(theta[h * n + h : 2 * h * n + h], (n, h))
    b2 = theta[2 * h * n + h :]
    m = X.shape[0]
    hidden = 1 / (1 + anp.exp(-(anp.dot(X, W1.T) + b1)))
    z3 = anp.dot(hidden, W2.T) + b2
    out = 1 / (1 + anp.exp(-z3)) if output == "sigmoid" else z3
    if loss == "squared":
        reconstruction = anp.sum((out - X) ** 2) / (2 * m)
    else:
        reconstruction = -anp.sum(X * anp.log(out) + (1 - X) * anp.log(1 - out)) / m
    rho_hat = anp.mean(hidden, axis=0)
    if penalty == "kl":
        per_unit = rho * anp.log(rho / rho_hat) + (1 - rho) * anp.log(
            (1 - rho) / (1 - rho_hat)
        )
    elif penalty == "squared":
        per_unit = (rho_hat - rho) ** 2
    else:
        per_unit = rho_hat
    decay = lam / 2 * (anp.sum(W1**2) + anp.sum(W2**2))
    return reconstruction + decay + beta * anp.sum(per_unit)


@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_value_and_gradient_agree_with_autograd(penalty, output, loss, seed):
    X, params = tiny_problem(seed=seed, m=13, n=6, h=4)
    hyper = dict(sparsity_target=0.05, sparsity_weight=2.0, weight_decay=3e-3)
    J, grads = loss_and_grad(
        params, X, **hyper, penalty=penalty, output=output, loss=loss
    )
    args = (X, 6, 4, 0.05, 2.0, 3e-3, penalty, output, loss)
    theta = params.to_vector()
    J_auto = independent_objective(theta, *args)
    g_auto = grad(independent_objective)(theta, *args)
    assert J == pytest.approx(J_auto, rel=1e-12)
    difference = np.linalg.norm(grads.to_vector() - g_auto) / np.linalg.norm(g_auto)
    assert difference < 1e-10
    assert isinstance(grads, Params)
