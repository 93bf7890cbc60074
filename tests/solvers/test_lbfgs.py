import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der

from sparseae import Params, loss_and_grad
from sparseae.solvers import minimize_lbfgs

from ..conftest import tiny_problem


def test_minimises_rosenbrock():
    result = minimize_lbfgs(lambda t: (rosen(t), rosen_der(t)), np.zeros(4))
    np.testing.assert_allclose(result.theta, np.ones(4), atol=1e-4)
    assert result.converged


def test_callback_sees_every_iteration_and_loss_decreases():
    X, params = tiny_problem(m=30)
    hyper = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)
    seen = []

    def objective(theta):
        J, grads = loss_and_grad(Params.from_vector(theta, 8, 5), X, **hyper)
        return J, grads.vector

    result = minimize_lbfgs(
        objective,
        params.vector,
        max_iter=25,
        memory=5,
        callback=lambda theta, loss: seen.append(loss),
    )
    assert len(seen) == result.n_iter == 25
    assert not result.converged
    assert np.all(np.diff(seen) <= 1e-12)
    assert seen[-1] == pytest.approx(result.loss)


def test_starting_point_is_not_modified():
    theta0 = np.ones(3)
    minimize_lbfgs(lambda t: (float(t @ t), 2 * t), theta0)
    np.testing.assert_array_equal(theta0, np.ones(3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(max_iter=0), "max_iter must be a positive integer, got 0"),
        (dict(memory=-1), "memory must be a positive integer, got -1"),
        (dict(tol=-1.0), "tol must be >= 0"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        minimize_lbfgs(lambda t: (float(t @ t), 2 * t), np.ones(2), **kwargs)
