"""Minibatch training: one epoch, and epochs up to a budget or a stop.

Everything that decides the next parameters lives in
:class:`~sparseae.training.state.MinibatchState`, updated after every step, so
a run interrupted anywhere resumes bit for bit.  Every step is checked for NaN
and overflow (:func:`sparseae.solvers.run_minibatches`), and every epoch for
divergence.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ..core.minibatch_objective import evaluate_minibatch
from ..core.objective import Evaluation, LossTerms
from ..solvers.errors import NonFiniteLossError
from ..solvers.minibatch import run_minibatches
from .progress import Progress
from .state import AUTO_BATCH_SIZE, MinibatchState, data_fingerprint

__all__ = [
    "HISTORY_KEYS",
    "MinibatchState",
    "append_history",
    "data_fingerprint",
    "new_history",
    "resolve_batch_size",
    "run_epoch",
    "train_minibatch",
]

logger = logging.getLogger(__name__)

# Below this many multiply-adds per product (batch n h), a BLAS that spreads the
# product over threads spends more starting them than it saves.
SERIAL_WORK = 1 << 22
# An epoch whose mean loss exceeds the loss at the first step this many times
# over has diverged: a run that learns never climbs that far, while a learning
# rate too large for Adam (whose steps are bounded by it) climbs far beyond
# without ever reaching inf.
DIVERGENCE_FACTOR = 10

HISTORY_KEYS = (
    "loss",
    "reconstruction",
    "weight_decay",
    "sparsity",
    "mean_activation",
    "time",
)


def new_history() -> dict[str, list[float]]:
    """An empty training history, one list per entry of :data:`HISTORY_KEYS`."""
    return {key: [] for key in HISTORY_KEYS}


def append_history(history, terms: LossTerms, mean_activation: float, elapsed):
    """Append one iteration's figures to ``history`` in place."""
    values = (terms.total, *terms, mean_activation, elapsed)
    for key, value in zip(HISTORY_KEYS, values, strict=True):
        history[key].append(float(value))


def run_epoch(
    state: MinibatchState,
    X: np.ndarray,
    theta: np.ndarray,
    evaluate_batch: Callable[[np.ndarray, np.ndarray, np.ndarray | None], Evaluation],
    batch_size: int,
    on_step: Callable[[], bool | None],
) -> tuple[tuple[LossTerms, float] | None, bool]:
    """Take the (remaining) minibatches of one epoch over ``X``.

    Parameters
    ----------
    state : MinibatchState
        Updated in place after every step, so it is consistent whenever
        ``on_step`` runs.
    X : ndarray of shape (n_samples, n_features)
        Data.
    theta : ndarray of shape (n_params,)
        Flat parameters, updated in place.
    evaluate_batch : callable
        ``evaluate_batch(theta, chunk, rho_hat) -> Evaluation``, whose
        ``mean_activation`` is the new ρ̂.
    batch_size : int
        Samples per minibatch (the last one of an epoch may be smaller).
    on_step : callable
        Called after each step; returning True stops the epoch there.

    Returns
    -------
    epoch : (LossTerms, float) or None
        The epoch's mean loss terms and mean activation, once it is complete.
    stopped : bool
        Whether ``on_step`` asked to stop.
    """
    if state.permutation is None:
        state.permutation = state.rng.permutation(X.shape[0])
        state.position, state.sums = 0, [0.0] * 4
    starts = range(state.position * batch_size, X.shape[0], batch_size)
    chunks = (X[state.permutation[start : start + batch_size]] for start in starts)
    pending, stop = [], [False]

    def loss_and_grad(theta, chunk):
        pending.append(evaluate_batch(theta, chunk, state.rho_hat))
        return pending[-1].terms.total, pending[-1].grads.vector

    def commit(theta, loss):
        evaluation = pending.pop()
        if state.start_loss is None:
            state.start_loss = evaluation.terms.total
        state.rho_hat = evaluation.mean_activation
        state.position += 1
        for i, value in enumerate(
            (*evaluation.terms, float(evaluation.mean_activation.mean()))
        ):
            state.sums[i] += value
        stop[0] = bool(on_step())
        return stop[0]

    run_minibatches(loss_and_grad, theta, chunks, state.optimizer, callback=commit)
    stopped = stop[0]
    if state.position * batch_size < X.shape[0]:
        return None, stopped
    means = [value / state.position for value in state.sums]
    state.permutation, state.position = None, 0
    return (LossTerms(*means[:3]), means[3]), stopped


def resolve_batch_size(batch_size, n_samples: int) -> int:
    """The minibatch size to use on ``n_samples`` samples.

    ``"auto"`` is ``min(256, n_samples)``.  A number larger than the data is
    clipped to it, with a warning, as scikit-learn's ``MLPRegressor`` does:
    ``partial_fit`` on the short last chunk of a stream is valid.

    Examples
    --------
    >>> resolve_batch_size("auto", 100), resolve_batch_size(32, 100)
    (100, 32)
    """
    if batch_size == "auto":
        return min(AUTO_BATCH_SIZE, n_samples)
    if batch_size > n_samples:
        warnings.warn(
            f"batch_size={batch_size} is larger than the {n_samples} samples of X; "
            f"using batch_size={n_samples}, one full batch per epoch",
            UserWarning,
            stacklevel=5,
        )
        return n_samples
    return batch_size


def train_minibatch(model, X: np.ndarray, callback=None, *, fitting: bool) -> None:
    """Train ``model`` by minibatches from its current weights and training state.

    Parameters
    ----------
    model : SparseAutoencoder
        With ``_training_state``; its weights, ``n_iter_``, ``history_`` and
        ``loss_curve_`` are updated in place.
    X : ndarray of shape (n_samples, n_features)
        Validated data in the model's floating type.
    callback : callable, optional
        ``callback(model, progress)`` after every step; True stops.
    fitting : bool
        True for ``fit`` (epochs up to ``max_iter``, early stopping, a
        ``ConvergenceWarning`` at the limit), False for one epoch of
        ``partial_fit``.
    """
    state = model._training_state
    params = model._params().copy()
    model._store(params)
    hyper = model._hyperparameters()
    decay = model.rho_decay if model.rho_estimate == "running" else 0.0
    batch_size = resolve_batch_size(model.batch_size, X.shape[0])
    steps = math.ceil(X.shape[0] / batch_size)
    budget = model.max_iter if fitting else model.n_iter_ + 1
    times = model.history_["time"]
    start = time.perf_counter() - (times[-1] if times else 0.0)

    def evaluate_batch(theta, chunk, rho_hat):
        return evaluate_minibatch(
            params, chunk, **hyper, previous_rho_hat=rho_hat, rho_decay=decay
        )

    def on_step():
        if callback is None:
            return False
        k = state.position
        terms = LossTerms(*(value / k for value in state.sums[:3]))
        elapsed = time.perf_counter() - start
        progress = Progress(
            model.n_iter_, budget, k, steps, terms, state.sums[3] / k, elapsed
        )
        return callback(model, progress)

    serial = batch_size * X.shape[1] * model.n_components < SERIAL_WORK
    rate = state.optimizer.learning_rate
    try:
        with threadpool_limits(limits=1 if serial else None, user_api="blas"):
            end = _epochs(
                model,
                X,
                params.vector,
                evaluate_batch,
                batch_size,
                on_step,
                budget,
                start,
            )
    except NonFiniteLossError as error:
        # The optimiser may have taken the failed step into its moments, so
        # the run cannot be resumed; partial_fit starts a fresh optimiser.
        model._training_state = None
        raise NonFiniteLossError(
            f"{model.solver} diverged in epoch {model.n_iter_ + 1}, step "
            f"{state.position + 1} of {steps}: {error}; the model keeps the "
            f"parameters before that step. Lower learning_rate (got {rate!r}) or "
            "scale the data"
        ) from None
    if fitting and end != "stopped":
        state.fitting = False
    if end == "diverged":
        warnings.warn(
            f"{model.solver} diverged: the mean loss of epoch {model.n_iter_}, "
            f"{model.loss_curve_[-1]:.4g}, is over {DIVERGENCE_FACTOR} times the "
            f"{state.start_loss:.4g} of the first step, so training stopped there; "
            f"lower learning_rate (got {rate!r})",
            ConvergenceWarning,
            stacklevel=4,
        )
    if fitting and end == "budget":
        warnings.warn(
            f"{model.solver} reached max_iter={model.max_iter} epochs before "
            f"converging (the loss beat its best by more than tol={model.tol} "
            f"within the last n_iter_no_change={model.n_iter_no_change} epochs); "
            "increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=4,
        )


def _epochs(model, X, theta, evaluate_batch, batch_size, on_step, budget, start):
    """Run epochs; say why they ended: "budget", "converged", "diverged", "stopped"."""
    state = model._training_state
    while model.n_iter_ < budget:
        epoch, stopped = run_epoch(state, X, theta, evaluate_batch, batch_size, on_step)
        if epoch is not None:
            terms, mean_activation = epoch
            model.n_iter_ += 1
            append_history(
                model.history_, terms, mean_activation, time.perf_counter() - start
            )
            model.loss_curve_.append(terms.total)
            if model.verbose:
                logger.info(
                    "epoch %d: loss %.6g, mean activation %.4g",
                    model.n_iter_,
                    terms.total,
                    mean_activation,
                )
            start_loss = state.start_loss or 0.0
            if start_loss > 0 and terms.total > DIVERGENCE_FACTOR * start_loss:
                return "diverged"
            state.improved(terms.total, model.tol)
            if state.fitting and state.no_improvement >= model.n_iter_no_change:
                return "converged"
        if stopped:
            return "stopped"
    return "budget"
