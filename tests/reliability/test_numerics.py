"""Numerical faults: saturation, ρ̂ at 0 or 1, divergence, injected NaN and inf.

The rule under test: the loss never goes NaN silently.  A non-finite loss,
gradient or step raises ``NonFiniteLossError`` and the model keeps the last
finite parameters (bit for bit those of a run stopped just before the fault);
a minibatch run whose loss climbs past ten times its start stops with a
``ConvergenceWarning``; L-BFGS steps back from non-finite trial points.
"""

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import sparseae.models.autoencoder
from sparseae import Params, SparseAutoencoder, evaluate
from sparseae.solvers import (
    SGD,
    NonFiniteLossError,
    minimize_lbfgs,
    run_minibatches,
)

from ..conftest import COMBINATIONS, examples

HYPER = dict(sparsity_target=0.05, sparsity_weight=3.0, weight_decay=1e-4)


def finite(model):
    return all(np.isfinite(block).all() for block in model._params()) and all(
        math.isfinite(v) for v in model.loss_curve_
    )


# --------------------------------------------------- saturation, ρ̂ at 0, 1 ---


@settings(max_examples=examples(150), deadline=None)
@given(
    st.sampled_from(COMBINATIONS),
    st.sampled_from([np.float32, np.float64]),
    st.floats(-1e4, 1e4),
    st.floats(0, 1e3),
    st.integers(0, 2**32 - 1),
)
def test_saturated_units_give_finite_loss_and_gradient(combo, dtype, bias, scale, seed):
    """Hidden biases of ±1e4 put ρ̂ at exactly 0 or 1, and large weights saturate."""
    penalty, output, loss = combo
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(8, 5)).astype(dtype)
    params = Params.initialize(5, 3, rng=rng, dtype=dtype)
    params.W1[...] *= scale
    params.b1[...] = bias
    rho_hat = float(np.mean(1 / (1 + np.exp(-np.clip(bias, -700, 700)))))
    event(f"rho_hat {'at 0 or 1' if rho_hat in (0.0, 1.0) else 'inside'}")
    hyper = dict(HYPER, penalty=penalty, output=output, loss=loss)
    for evaluation in (
        evaluate(params, X, **hyper),
        evaluate(
            params, X, **hyper, previous_rho_hat=np.zeros(3, dtype), rho_decay=0.9
        ),
    ):
        assert math.isfinite(evaluation.terms.total)
        assert np.isfinite(evaluation.grads.vector).all()


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("bias", [-1e4, 1e4])
def test_training_recovers_from_fully_saturated_units(X, solver, bias):
    model = SparseAutoencoder(3, solver=solver, max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X)
    model.intercept_hidden_[...] = bias
    assert set(np.unique(model.transform(X))) <= {0.0, 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if solver == "lbfgs":
            model._fit_lbfgs(X, model._settings())
        else:
            model.partial_fit(X)
    assert finite(model)


# ------------------------------------------------------ diverging settings ---


@pytest.mark.parametrize(
    ("settings_", "outcome"),
    [
        (dict(solver="sgd", learning_rate=1e30, dtype=np.float32), "error"),
        (dict(solver="sgd", learning_rate=1e200), "error"),
        (dict(solver="sgd", learning_rate=1e3, output_activation="linear"), "warning"),
        (dict(solver="sgd", learning_rate=1e6), "warning"),
        (dict(solver="adam", learning_rate=1e6), "warning"),
        (dict(solver="adam", learning_rate=1e10, dtype=np.float32), "warning"),
    ],
    ids=[
        "sgd-1e30-float32",
        "sgd-1e200",
        "sgd-linear-1e3",
        "sgd-1e6",
        "adam-1e6",
        "adam-1e10-float32",
    ],
)
def test_a_diverging_learning_rate_stops_with_a_clear_message(X, settings_, outcome):
    model = SparseAutoencoder(
        4, batch_size=5, max_iter=50, n_iter_no_change=50, random_state=0, **settings_
    )
    rate = re.escape(f"got {settings_['learning_rate']!r}")
    if outcome == "error":
        with pytest.raises(NonFiniteLossError, match=rf"diverged in epoch .*{rate}"):
            model.fit(X)
    else:
        with pytest.warns(ConvergenceWarning, match=rf"diverged: .*{rate}"):
            model.fit(X)
        assert model.n_iter_ < 50
    assert finite(model)


def stop_after(n_steps):
    calls = []

    def callback(model, progress):
        calls.append(1)
        return len(calls) == n_steps

    return callback


def test_the_model_keeps_the_parameters_before_the_failing_step(X):
    settings_ = dict(
        solver="sgd", learning_rate=1e200, batch_size=2, max_iter=3, random_state=0
    )
    model = SparseAutoencoder(3, **settings_)
    with pytest.raises(NonFiniteLossError, match=r"step (\d+) of 10") as error:
        model.fit(X)
    failing = int(re.search(r"step (\d+) of 10", str(error.value)).group(1))
    assert failing > 1
    before = SparseAutoencoder(3, **settings_).fit(X, callback=stop_after(failing - 1))
    for got, expected in zip(model._params(), before._params(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert model._training_state is None


# -------------------------------------------------------- injected faults ---

FAULTS = {
    "nan-loss": lambda e: e._replace(terms=e.terms._replace(reconstruction=np.nan)),
    "inf-loss": lambda e: e._replace(terms=e.terms._replace(sparsity=np.inf)),
    "nan-gradient": lambda e: (e.grads.W2.__setitem__((0, 0), np.nan), e)[1],
    "inf-gradient": lambda e: (e.grads.b1.__setitem__(0, -np.inf), e)[1],
}


@settings(max_examples=examples(120), deadline=None)
@given(
    st.sampled_from(sorted(FAULTS)),
    st.integers(1, 30),
    st.sampled_from(["sgd", "adam"]),
    st.sampled_from(["batch", "running"]),
)
def test_an_injected_fault_stops_training_at_the_last_finite_parameters(
    fault, at_step, solver, estimate
):
    X = np.random.default_rng(1).uniform(size=(24, 5))
    settings_ = dict(
        solver=solver,
        rho_estimate=estimate,
        batch_size=4,
        max_iter=6,
        n_iter_no_change=6,
        random_state=2,
    )
    calls = []
    real = sparseae.models.autoencoder._evaluate

    def faulty(*args, **kwargs):
        calls.append(1)
        evaluation = real(*args, **kwargs)
        return FAULTS[fault](evaluation) if len(calls) == at_step else evaluation

    sparseae.models.autoencoder._evaluate = faulty
    try:
        model = SparseAutoencoder(3, **settings_)
        with pytest.raises(
            NonFiniteLossError, match=f"step {(at_step - 1) % 6 + 1} of 6"
        ):
            model.fit(X)
    finally:
        sparseae.models.autoencoder._evaluate = real
    event(fault)
    expected = SparseAutoencoder(3, **settings_)
    if at_step == 1:
        expected._initialize(X)
    else:
        expected.fit(X, callback=stop_after(at_step - 1))
    for got, want in zip(model._params(), expected._params(), strict=True):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(2, 40), st.sampled_from([np.nan, np.inf]), st.booleans())
def test_lbfgs_steps_back_from_injected_non_finite_trial_points(
    at_call, value, in_gradient
):
    X = np.random.default_rng(1).uniform(size=(24, 5))
    calls = []
    real = sparseae.models.autoencoder._evaluate

    def faulty(params, data, settings, **kwargs):
        calls.append(1)
        evaluation = real(params, data, settings, **kwargs)
        if len(calls) == at_call and kwargs.get("compute_grad", True):
            if in_gradient:
                evaluation.grads.W1[0, 0] = value
            else:
                evaluation = evaluation._replace(
                    terms=evaluation.terms._replace(reconstruction=value)
                )
        return evaluation

    sparseae.models.autoencoder._evaluate = faulty
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SparseAutoencoder(3, max_iter=15, random_state=0).fit(X)
    finally:
        sparseae.models.autoencoder._evaluate = real
    assert finite(model)
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_lbfgs_cannot_start_from_a_non_finite_loss_and_says_why(X):
    model = SparseAutoencoder(3, output_activation="linear", random_state=0)
    with pytest.raises(
        NonFiniteLossError,
        match=r"L-BFGS cannot start: at the starting point the loss is inf; X has "
        r"values up to 9.\d+e\+153 in float64, .* scale the data",
    ):
        model.fit(X * 1e154)
    assert finite(model) and model.loss_curve_ == []


def test_lbfgs_on_a_pathologically_steep_float32_objective(X):
    """β = 1e35 in float32: trial points overflow, the run steps back from them."""
    model = SparseAutoencoder(
        3, sparsity_weight=1e35, max_iter=30, dtype=np.float32, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert finite(model)
    assert model.loss_curve_[-1] <= model.loss_curve_[0]


def test_minimize_lbfgs_reports_the_trial_points_it_stepped_back_from():
    def loss_and_grad(theta):
        if np.abs(theta).max() > 3:
            return np.nan, np.full_like(theta, np.nan)
        return float((theta - 10) @ (theta - 10)), 2 * (theta - 10)

    result = minimize_lbfgs(loss_and_grad, np.full(3, 2.0), max_iter=50)
    assert result.n_rejected > 0
    assert math.isfinite(result.loss) and np.abs(result.theta).max() <= 3
    with pytest.raises(NonFiniteLossError, match="at the starting point the loss"):
        minimize_lbfgs(loss_and_grad, np.full(3, 5.0))


def test_run_minibatches_restores_theta_when_a_step_overflows():
    theta = np.array([1.0, 2.0])
    grads = iter([np.array([0.1, 0.1]), np.array([-1e308, 0.0])])
    with pytest.raises(NonFiniteLossError, match="overflowed the parameters"):
        run_minibatches(
            lambda t, c: (1.0, next(grads)),
            theta,
            range(5),
            SGD(learning_rate=1e10, momentum=0.0),
        )
    np.testing.assert_array_equal(theta, [1.0 - 1e9, 2.0 - 1e9])


# --------------------------------------------------- nothing NaN, silently ---


@settings(max_examples=examples(150), deadline=None)
@given(
    solver=st.sampled_from(["lbfgs", "sgd", "adam"]),
    log_rate=st.floats(-3, 30),
    log_beta=st.floats(-3, 30),
    log_lam=st.floats(-6, 30),
    log_scale=st.floats(0, 160),
    output=st.sampled_from(["sigmoid", "linear"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_extreme_settings_never_leave_nan_silently(
    solver, log_rate, log_beta, log_lam, log_scale, output, dtype
):
    X = np.random.default_rng(0).uniform(size=(12, 4))
    if output == "linear":
        X = X * 10.0**log_scale
    model = SparseAutoencoder(
        3,
        solver=solver,
        learning_rate=10.0**log_rate,
        sparsity_weight=10.0**log_beta,
        weight_decay=10.0**log_lam,
        output_activation=output,
        batch_size=4,
        max_iter=4,
        dtype=dtype,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(X)
            outcome = "fitted"
        except NonFiniteLossError:
            outcome = "NonFiniteLossError"
        except ValueError as error:
            # float32 cannot hold data beyond 3.4e38.
            assert "non-finite values" in str(error) and dtype is np.float32
            outcome = "data too large for float32"
    diverged = any("diverged" in str(w.message) for w in caught)
    event(outcome + (" after a divergence warning" if diverged else ""))
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if hasattr(model, "components_"):
        assert finite(model)


# ------------------------------------------------- for the kernel's owners ---


def test_the_callers_errstate_reaches_the_kernel_threads():
    from threadpoolctl import threadpool_limits

    from sparseae.core.kernel import n_workers

    X = np.random.default_rng(0).uniform(size=(20000, 64)).astype(np.float32)
    params = Params.initialize(64, 32, rng=np.random.default_rng(0), dtype=X.dtype)
    params.W2[...] = 1e30
    with threadpool_limits(limits=2, user_api="blas"):
        if n_workers(*X.shape, 32) < 2:
            pytest.skip("one usable core: the kernel runs in the calling thread")
        with np.errstate(over="ignore", invalid="ignore"):
            evaluation = evaluate(params, X, **HYPER, output="linear")
    assert math.isinf(evaluation.terms.reconstruction)
