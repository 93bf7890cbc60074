import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseae import evaluate
from sparseae.core.sparsity import update_rho_hat
from sparseae.solvers import SGD, Adam, make_optimizer, run_minibatches

from ..conftest import COMBINATIONS, tiny_problem


def quadratic(theta, target):
    """Loss ½‖θ − target‖² on one chunk, the target."""
    diff = theta - target
    return 0.5 * float(diff @ diff), diff


@pytest.mark.parametrize(
    "optimizer",
    [SGD(learning_rate=0.002, momentum=0.9), Adam(learning_rate=0.003)],
    ids=["sgd", "adam"],
)
def test_optimisers_find_the_mean_of_noisy_targets(optimizer):
    rng = np.random.default_rng(0)
    targets = rng.normal(loc=[1.0, -2.0], scale=0.1, size=(3000, 2))
    theta = np.zeros(2)
    n_steps, _ = run_minibatches(quadratic, theta, targets, optimizer)
    assert n_steps == 3000
    np.testing.assert_allclose(theta, [1.0, -2.0], atol=0.03)


def test_sgd_without_momentum_is_plain_gradient_descent():
    theta = np.array([2.0])
    SGD(learning_rate=0.25, momentum=0.0).step(theta, np.array([4.0]))
    assert theta[0] == 1.0


def test_adam_first_step_has_the_size_of_the_learning_rate():
    theta = np.array([5.0, -5.0])
    Adam(learning_rate=0.1).step(theta, np.array([123.0, -0.1]))
    np.testing.assert_allclose(theta, [4.9, -4.9], rtol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_state_round_trip_continues_identically(name):
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(10, 4))
    theta_a, theta_b = np.ones(4), np.ones(4)
    a = make_optimizer(name, learning_rate=0.01)
    for grad in grads[:5]:
        a.step(theta_a, grad)
    arrays, numbers = a.state_dict()
    b = type(a).from_state({k: v.copy() for k, v in arrays.items()}, numbers)
    theta_b[...] = theta_a
    for grad in grads[5:]:
        a.step(theta_a, grad)
        b.step(theta_b, grad)
    np.testing.assert_array_equal(theta_a, theta_b)


def test_callback_stops_the_loop():
    theta = np.zeros(1)
    seen = []
    n_steps, mean_loss = run_minibatches(
        quadratic,
        theta,
        iter(np.ones((10, 1))),
        SGD(learning_rate=0.5, momentum=0.0),
        callback=lambda theta, loss: seen.append(loss) or len(seen) == 2,
    )
    assert n_steps == 2 and mean_loss == pytest.approx((0.5 + 0.125) / 2)


def test_no_chunks_take_no_steps():
    n_steps, mean_loss = run_minibatches(quadratic, np.zeros(1), [], SGD())
    assert n_steps == 0 and np.isnan(mean_loss)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(learning_rate=0), r"learning_rate must be in \(0, inf\), got 0"),
        (lambda: SGD(momentum=1.0), r"momentum must be in \(0, 1\), got 1.0"),
        (lambda: Adam(beta2=1.5), r"beta2 must be in \(0, 1\), got 1.5"),
        (lambda: make_optimizer("rmsprop"), "must be one of .*got 'rmsprop'"),
        (lambda: update_rho_hat(None, np.ones(1), 1.5), r"decay must be in \[0, 1\]"),
    ],
)
def test_bad_options_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)


@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
def test_batch_estimate_is_the_full_objective_on_the_batch(penalty, output, loss):
    X, params = tiny_problem(m=40)
    hyper = dict(HYPER, penalty=penalty, output=output, loss=loss)
    exact = evaluate(params, X, **hyper)
    batch = evaluate(params, X, **hyper)
    assert batch.terms.total == pytest.approx(exact.terms.total, rel=1e-12)
    np.testing.assert_allclose(batch.grads.vector, exact.grads.vector, atol=1e-13)
    np.testing.assert_allclose(batch.mean_activation, exact.mean_activation)


def minibatch_gradients(X, params, rho_hat, decay, size=5):
    return np.mean(
        [
            evaluate(
                params,
                X[start : start + size],
                **HYPER,
                previous_rho_hat=rho_hat,
                rho_decay=decay,
            ).grads.vector
            for start in range(0, len(X), size)
        ],
        axis=0,
    )


def test_with_the_exact_rho_hat_minibatch_gradients_average_to_the_full_one():
    X, params = tiny_problem(m=40)
    exact = evaluate(params, X, **HYPER)
    average = minibatch_gradients(X, params, exact.mean_activation, decay=1.0)
    np.testing.assert_allclose(average, exact.grads.vector, atol=1e-13)


def test_with_each_batch_s_own_rho_hat_they_do_not():
    # The bias of docs/minibatch.md: s(rho_hat_B) is not s(rho_hat) on average.
    X, params = tiny_problem(m=40)
    exact = evaluate(params, X, **HYPER)
    average = minibatch_gradients(X, params, None, decay=0.0)
    assert np.abs(average - exact.grads.vector).max() > 1e-3


def test_running_estimate_moves_a_fraction_towards_the_batch_mean():
    X, params = tiny_problem(m=10)
    previous = np.full(5, 0.5)
    result = evaluate(params, X, **HYPER, previous_rho_hat=previous, rho_decay=0.9)
    batch = evaluate(params, X, **HYPER).mean_activation
    np.testing.assert_allclose(result.mean_activation, 0.9 * previous + 0.1 * batch)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    m=st.integers(2, 30),
    size=st.integers(1, 30),
    penalty=st.sampled_from(["kl", "squared", "l1"]),
)
def test_given_the_exact_rho_hat_any_split_recovers_the_full_gradient(
    seed, m, size, penalty
):
    X, params = tiny_problem(seed=seed, m=m)
    hyper = dict(HYPER, penalty=penalty)
    exact = evaluate(params, X, **hyper)
    total = sum(
        len(chunk)
        * evaluate(
            params,
            chunk,
            **hyper,
            previous_rho_hat=exact.mean_activation,
            rho_decay=1.0,
        ).grads.vector
        for chunk in (X[start : start + size] for start in range(0, m, size))
    )
    np.testing.assert_allclose(total / m, exact.grads.vector, atol=1e-12)
