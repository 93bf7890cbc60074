"""The fit loops: one objective, checks once per fit, no estimator inside."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sparseae.core.objective as objective
import sparseae.models.autoencoder as autoencoder
from sparseae import Params, SparseAutoencoder, evaluate
from sparseae.core.objective import _evaluate, make_settings
from sparseae.core.partial_sums import Evaluation, LossTerms
from sparseae.datasets import load_digits_scaled
from sparseae.solvers import make_optimizer
from sparseae.training.history import Record, new_history
from sparseae.training.lbfgs import LbfgsSettings, fit_lbfgs, start_lbfgs
from sparseae.training.minibatch import MinibatchSettings, train_minibatch
from sparseae.training.state import MinibatchState

HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-4)


@pytest.fixture(scope="module")
def digits():
    return load_digits_scaled()[0][:300]


@pytest.fixture
def check_calls(monkeypatch):
    """Count the calls of the hyperparameter check where it is looked up."""
    calls = []
    real = objective.check_hyperparameters

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(objective, "check_hyperparameters", counting)
    return calls


@pytest.mark.parametrize(
    "options",
    [
        dict(solver="lbfgs", max_iter=50),
        dict(solver="adam", max_iter=50, batch_size=32, n_iter_no_change=50),
        dict(solver="sgd", max_iter=5, rho_estimate="running"),
    ],
    ids=["lbfgs", "adam", "sgd-running"],
)
def test_hyperparameters_are_checked_once_per_fit(digits, check_calls, options):
    model = SparseAutoencoder(16, random_state=0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits)
    assert model.n_iter_ > 1 and len(check_calls) == 1


def test_partial_fit_and_resume_check_once_per_call(digits, check_calls):
    model = SparseAutoencoder(8, solver="adam", batch_size=50, random_state=0)
    model.partial_fit(digits)
    model.partial_fit(digits)
    assert len(check_calls) == 2
    model.set_params(max_iter=4, n_iter_no_change=10)
    model.fit(digits, callback=lambda model, progress: progress.step == 3)
    with pytest.warns(ConvergenceWarning):
        model.resume_fit(digits)
    assert len(check_calls) == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_minibatch_is_the_full_batch_kernel_on_its_rows(digits, monkeypatch, dtype):
    """With the batch estimate, bit for bit what evaluate gives on the rows."""
    seen = []

    def recording(params, batch, settings, **kwargs):
        evaluation = _evaluate(params, batch, settings, **kwargs)
        seen.append((params.copy(), batch.copy(), kwargs, evaluation))
        return evaluation

    monkeypatch.setattr(autoencoder, "_evaluate", recording)
    model = SparseAutoencoder(
        16, solver="adam", batch_size=64, dtype=dtype, random_state=0, **HYPER
    )
    model.partial_fit(digits)
    assert len(seen) == 5
    for params, batch, kwargs, got in seen:
        assert kwargs["rho_decay"] == 0.0 and batch.dtype == dtype
        want = evaluate(params, batch, **HYPER)
        assert got.terms == want.terms
        np.testing.assert_array_equal(got.grads.vector, want.grads.vector)
        np.testing.assert_array_equal(got.mean_activation, want.mean_activation)


def test_the_running_estimate_is_carried_from_batch_to_batch(digits, monkeypatch):
    seen = []

    def recording(params, batch, settings, **kwargs):
        evaluation = _evaluate(params, batch, settings, **kwargs)
        seen.append((kwargs, evaluation.mean_activation))
        return evaluation

    monkeypatch.setattr(autoencoder, "_evaluate", recording)
    model = SparseAutoencoder(
        8, solver="sgd", batch_size=100, rho_estimate="running", rho_decay=0.8
    )
    model.partial_fit(digits)
    assert seen[0][0]["previous_rho_hat"] is None
    for (kwargs, _), (_, before) in zip(seen[1:], seen, strict=False):
        assert kwargs["rho_decay"] == 0.8
        np.testing.assert_array_equal(kwargs["previous_rho_hat"], before)


def test_lbfgs_loop_takes_a_function_and_a_record(digits):
    n, h = digits.shape[1], 8
    settings = make_settings(**HYPER)

    def objective_(theta, compute_grad):
        params = Params.from_vector(theta, n, h)
        return _evaluate(params, digits, settings, compute_grad=compute_grad)

    record = Record(0, new_history(), [])
    theta0 = Params.initialize(n, h, rng=np.random.default_rng(0)).vector
    seen = []
    outcome = fit_lbfgs(
        objective_,
        theta0,
        LbfgsSettings(max_iter=20, tol=1e-9, memory=5),
        record,
        lambda theta, progress: seen.append(progress) or progress.iteration == 3,
    )
    assert outcome.stopped and record.n_iter == 3 and len(record.loss_curve) == 3
    assert [p.iteration for p in seen] == [1, 2, 3]
    assert record.loss_curve == record.history["loss"]
    assert record.loss_curve[-1] < objective_(theta0, False).terms.total


def test_minibatch_loop_takes_a_function_state_and_record(digits):
    n, h = digits.shape[1], 8
    settings = make_settings(**HYPER)

    def objective_(theta, batch, rho_hat, dead):
        assert dead is None  # no dead_after: no auxiliary loss
        params = Params.from_vector(theta, n, h)
        return _evaluate(params, batch, settings, previous_rho_hat=rho_hat)

    state = MinibatchState(
        np.random.default_rng(0), make_optimizer("adam", learning_rate=0.01)
    )
    record = Record(0, new_history(), [])
    theta = Params.initialize(n, h, rng=np.random.default_rng(0)).vector
    end = train_minibatch(
        objective_,
        theta,
        digits,
        state,
        MinibatchSettings(batch_size=60, max_epochs=3, tol=0.0, n_iter_no_change=9),
        record,
    )
    assert end == "budget" and record.n_iter == 3
    assert record.loss_curve[-1] < record.loss_curve[0]


def test_the_lbfgs_loop_does_not_import_the_minibatch_loop():
    code = (
        "import sys, sparseae.training.lbfgs\n"
        "print('sparseae.training.minibatch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_lbfgs_loop_continues_a_state_it_was_stopped_in(digits):
    n, h = digits.shape[1], 6
    settings = make_settings(**HYPER)

    def objective_(theta, compute_grad):
        params = Params.from_vector(theta, n, h)
        return _evaluate(params, digits, settings, compute_grad=compute_grad)

    theta0 = Params.initialize(n, h, rng=np.random.default_rng(0)).vector
    budget = LbfgsSettings(max_iter=12, tol=0.0, memory=4)
    whole = Record(0, new_history(), [])
    straight = fit_lbfgs(objective_, theta0, budget, whole)
    cut = Record(0, new_history(), [])
    state = start_lbfgs(objective_, theta0)
    first = fit_lbfgs(objective_, state, budget, cut, lambda t, p: p.iteration == 5)
    assert first.stopped and first.state is state and state.n_iter == 5
    second = fit_lbfgs(objective_, state, budget, cut)
    assert not second.stopped and second.result.n_iter == 12
    np.testing.assert_array_equal(second.result.theta, straight.result.theta)
    assert cut.loss_curve == whole.loss_curve and cut.n_iter == 12


def test_the_loop_counts_samples_since_each_unit_fired_and_hands_on_the_dead():
    # Batches of 4, 4 and 2 rows; unit 0 fires in every one, unit 1 in none,
    # unit 2 in the second only.  A unit is dead from 4 samples without firing.
    n, h = 2, 3
    seen = []

    def objective_(theta, batch, rho_hat, dead):
        seen.append(None if dead is None else dead.tolist())
        fired = np.array([True, False, len(seen) == 2])
        grads = Params.zeros(n, h)
        return Evaluation(LossTerms(1.0, 0.0, 0.0), np.zeros(h), grads, fired)

    def run(dead_after):
        seen.clear()
        state = MinibatchState(
            np.random.default_rng(0), make_optimizer("sgd", learning_rate=0.1)
        )
        loop = MinibatchSettings(4, 1, 0.0, 9, dead_after=dead_after)
        theta = Params.zeros(n, h).vector
        train_minibatch(
            objective_,
            theta,
            np.zeros((10, n)),
            state,
            loop,
            Record(0, new_history(), []),
        )
        return state

    state = run(dead_after=4)
    assert seen == [None, [False, True, True], [False, True, False]]
    assert state.since_fired.tolist() == [0, 10, 2]
    assert state.dead(4).tolist() == [False, True, False]
    assert state.dead(11).tolist() == [False, False, False]
    # Without dead_after the objective gets no dead units; the count goes on.
    state = run(dead_after=None)
    assert seen == [None, None, None] and state.since_fired.tolist() == [0, 10, 2]
    assert state.dead(None) is None


def test_the_dead_count_is_saved_with_the_state_and_old_states_still_load():
    state = MinibatchState(
        np.random.default_rng(0), make_optimizer("adam", learning_rate=0.1)
    )
    state.fired(np.array([True, False]), 5)
    state.sums = [1.0, 2.0, 3.0, 0.5, 0.25]
    arrays, numbers = state.to_saved()
    again = MinibatchState.from_saved(dict(arrays), dict(numbers))
    assert again.since_fired.tolist() == [0, 5] and again.since_fired.flags.writeable
    assert again.sums == state.sums
    # Written before the auxiliary loss: four sums and no count.
    arrays.pop("since_fired")
    old = dict(numbers, sums=[1.0, 2.0, 3.0, 0.25])
    upgraded = MinibatchState.from_saved(arrays, old)
    assert upgraded.since_fired is None and upgraded.sums == [1.0, 2.0, 3.0, 0.0, 0.25]
    bad = MinibatchState(
        np.random.default_rng(0), make_optimizer("sgd", learning_rate=0.1)
    )
    bad.since_fired = np.array([1, -1])
    with pytest.raises(ValueError, match="since_fired has negative counts"):
        bad.check(4, 2, np.float64, "auto")
    bad.since_fired = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"since_fired must be int64 of shape \(2,\)"):
        bad.check(4, 2, np.float64, "auto")
