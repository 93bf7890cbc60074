"""Tied weights, W2 = W1ᵀ: the chain rule of sparseae.core.tied, checked."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from sparseae import Params, loss_and_grad
from sparseae.core.tied import tie_, tied, tied_gradient_

from ..conftest import tiny_problem
from .test_autograd_agreement import independent_objective

HYPER = dict(sparsity_target=0.05, sparsity_weight=2.0, weight_decay=3e-3)


def tied_loss_and_grad(params, X, **options):
    J, grads = loss_and_grad(tied(params), X, **HYPER, **options)
    return J, tied_gradient_(grads)


def tied_objective(free, X, n, h, *args):
    """The independent objective at W2 = W1ᵀ, of (W1, b1, b2) only."""
    W1 = anp.reshape(free[: h * n], (h, n))
    rest = free[h * n :]
    theta = anp.concatenate(
        [free[: h * n], rest[:h], anp.reshape(W1.T, (n * h,)), rest[h:]]
    )
    return independent_objective(theta, X, n, h, *args)


def free_vector(grads):
    return np.concatenate([grads.W1.ravel(), grads.b1, grads.b2])


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
@pytest.mark.parametrize("seed", [0, 1])
def test_tied_gradient_agrees_with_autograd_of_the_tied_objective(output, seed):
    X, params = tiny_problem(seed=seed, m=13, n=6, h=4)
    J, grads = tied_loss_and_grad(params, X, output=output)
    free = np.concatenate([params.W1.ravel(), params.b1, params.b2])
    args = (X, 6, 4, 0.05, 2.0, 3e-3, "kl", output, "squared")
    assert J == pytest.approx(tied_objective(free, *args), rel=1e-12)
    g_auto = grad(tied_objective)(free, *args)
    difference = np.linalg.norm(free_vector(grads) - g_auto) / np.linalg.norm(g_auto)
    assert difference < 1e-10
    # The decoder's copy is read by nothing: its gradient is zero.
    assert not grads.W2.any()


def test_tied_gradient_agrees_with_finite_differences():
    X, params = tiny_problem(seed=3, m=11, n=5, h=3)
    _, grads = tied_loss_and_grad(params, X)
    analytic = free_vector(grads)
    free = np.concatenate([params.W1.ravel(), params.b1, params.b2])
    n, h, eps = 5, 3, 1e-6

    def J(vector):
        W1 = vector[: h * n].reshape(h, n)
        b1, b2 = vector[h * n : h * n + h], vector[h * n + h :]
        p = Params(W1, b1, np.ascontiguousarray(W1.T), b2)
        return loss_and_grad(p, X, **HYPER)[0]

    numeric = np.array(
        [(J(free + eps * e) - J(free - eps * e)) / (2 * eps) for e in np.eye(free.size)]
    )
    assert np.abs(numeric - analytic).max() < 1e-8 * max(1, np.abs(analytic).max())


def test_the_tied_gradient_differs_from_the_encoders_alone():
    # The decoder's part, (∂J/∂W2)ᵀ, is really added: a test that could fail.
    X, params = tiny_problem(seed=0, m=13, n=6, h=4)
    params = tie_(params)
    _, untied = loss_and_grad(params, X, **HYPER)
    _, grads = tied_loss_and_grad(params, X)
    assert np.allclose(grads.W1, untied.W1 + untied.W2.T)
    assert not np.allclose(grads.W1, untied.W1)


def test_tie_writes_the_transpose_in_place():
    _, params = tiny_problem(seed=0)
    out = tie_(params)
    assert out is params
    assert np.array_equal(params.W2, params.W1.T)
