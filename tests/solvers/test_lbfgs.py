import json

import numpy as np
import pytest
from scipy.optimize import minimize, rosen, rosen_der

from sparseae import Params, loss_and_grad
from sparseae.solvers import minimize_lbfgs
from sparseae.solvers.lbfgs import LbfgsState

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


# ------------------------------------------- the state, saved and restored ---


def quadratic(seed=0, n=30):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    A = A @ A.T / n + 0.01 * np.eye(n)
    b = rng.standard_normal(n)
    return (lambda t: (0.5 * t @ A @ t - b @ t, A @ t - b)), np.zeros(n)


def tiny_autoencoder():
    X, params = tiny_problem(m=40)
    hyper = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)

    def objective(theta):
        J, grads = loss_and_grad(Params.from_vector(theta, 8, 5), X, **hyper)
        return J, grads.vector

    return objective, params.vector.copy()


PROBLEMS = {
    "rosenbrock": lambda: ((lambda t: (rosen(t), rosen_der(t))), np.zeros(6)),
    "quadratic": quadratic,
    "autoencoder": tiny_autoencoder,
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_stopped_saved_and_restored_runs_on_bit_identically(name):
    objective, theta0 = PROBLEMS[name]()
    straight = minimize_lbfgs(objective, theta0, max_iter=25, memory=4, tol=0)
    state = LbfgsState.start(objective, theta0)
    first = minimize_lbfgs(
        objective, state, max_iter=25, memory=4, tol=0, callback=lambda t, f: True
    )
    assert first.n_iter == 1 and first.message == "stopped by the callback"
    for k in (6, 11):
        arrays, numbers = state.to_saved()
        # Through JSON, as a model file keeps the numbers.
        state = LbfgsState.from_saved(
            {key: value.copy() for key, value in arrays.items()},
            json.loads(json.dumps(numbers)),
        )
        minimize_lbfgs(objective, state, max_iter=k, memory=4, tol=0)
        assert state.n_iter == k
    resumed = minimize_lbfgs(objective, state, max_iter=25, memory=4, tol=0)
    np.testing.assert_array_equal(resumed.theta, straight.theta)
    assert resumed.loss == straight.loss
    assert (resumed.n_iter, resumed.n_evaluations) == (
        straight.n_iter,
        straight.n_evaluations,
    )


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_reaches_the_minimum_scipy_finds(name):
    objective, theta0 = PROBLEMS[name]()
    ours = minimize_lbfgs(objective, theta0, max_iter=2000, tol=1e-12)
    theirs = minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-12},
    )
    assert ours.converged
    assert ours.loss == pytest.approx(theirs.fun, rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(ours.theta, theirs.x, atol=2e-4)


def test_the_strong_wolfe_conditions_hold_at_every_step():
    objective, theta0 = tiny_autoencoder()
    points = []

    def recording(theta):
        loss, grad = objective(theta)
        points.append((theta.copy(), loss, grad))
        return loss, grad

    state = LbfgsState.start(recording, theta0)
    for _ in range(15):
        before = (state.theta, state.loss, state.grad)
        minimize_lbfgs(recording, state, max_iter=state.n_iter + 1, tol=0)
        step = state.theta - before[0]
        direction = step / np.linalg.norm(step)
        slope0 = before[2] @ direction
        scale = np.linalg.norm(step)
        assert state.loss <= before[1] + 1e-4 * scale * slope0
        assert abs(state.grad @ direction) <= 0.9 * abs(slope0)


def test_first_trial_step_is_one_over_the_gradient_norm_then_one():
    objective, theta0 = quadratic()
    trials = []

    def recording(theta):
        trials.append(theta.copy())
        return objective(theta)

    state = LbfgsState.start(recording, theta0)
    g0 = state.grad.copy()
    minimize_lbfgs(recording, state, max_iter=2, tol=0)
    np.testing.assert_allclose(trials[1], theta0 - g0 / np.linalg.norm(g0))
    assert len(state.s) == 2


def test_the_memory_keeps_the_latest_pairs_in_order():
    objective, theta0 = quadratic()
    thetas = [theta0]
    result = minimize_lbfgs(
        objective,
        state := LbfgsState.start(objective, theta0),
        max_iter=7,
        memory=3,
        tol=0,
        callback=lambda t, f: thetas.append(t.copy()),
    )
    assert result.n_iter == 7 and len(state.s) == 3
    for k, s in zip((4, 5, 6), state.s, strict=True):
        np.testing.assert_array_equal(s, thetas[k + 1] - thetas[k])


def test_a_damaged_saved_state_is_refused():
    objective, theta0 = quadratic()
    arrays, numbers = LbfgsState.start(objective, theta0).to_saved()
    with pytest.raises(ValueError, match="n_iter must be a count, got -1"):
        LbfgsState.from_saved(arrays, {**numbers, "n_iter": -1})
    with pytest.raises(ValueError, match="grad must be finite float64 with 30"):
        LbfgsState.from_saved({**arrays, "grad": np.full(30, np.nan)}, numbers)
    with pytest.raises(ValueError, match="fields must be"):
        LbfgsState.from_saved(arrays, {**numbers, "extra": 1})


def test_gradient_norm_stop_and_relative_decrease_stop():
    result = minimize_lbfgs(lambda t: (float(t @ t), 2 * t), np.zeros(3))
    assert result.converged and result.n_iter == 0
    assert result.message == "the largest gradient component is below tol"
    objective, theta0 = quadratic()
    loose = minimize_lbfgs(objective, theta0, tol=1e-3)
    assert loose.converged and "relative decrease" in loose.message
    assert loose.n_iter < minimize_lbfgs(objective, theta0, tol=1e-12).n_iter
