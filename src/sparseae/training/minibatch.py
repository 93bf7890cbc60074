"""Minibatch training: one epoch, and epochs up to a budget or a stop.

Everything that decides the next parameters lives in
:class:`~sparseae.training.state.MinibatchState`, updated after every step, so
a run interrupted anywhere resumes bit for bit.  Every step is checked for NaN
and overflow (:func:`sparseae.solvers.run_minibatches`), and every epoch for
divergence.  After every step the loop counts, per unit, the samples since it
last fired; with ``dead_after`` the units at or past it are the dead units
handed to the next evaluation, for the auxiliary loss of
``docs/derivation.md`` eq. (15).  The loops take an objective of
``(theta, batch, rho_hat, dead)`` and know no estimator.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..core.partial_sums import Evaluation, LossTerms
from ..solvers.minibatch import run_minibatches
from .history import Record
from .progress import Progress
from .state import AUTO_BATCH_SIZE, N_SUMS, MinibatchState

__all__ = [
    "DIVERGENCE_FACTOR",
    "MinibatchSettings",
    "resolve_batch_size",
    "run_epoch",
    "train_minibatch",
]

# An epoch whose mean loss exceeds the loss at the first step this many times
# over has diverged: a run that learns never climbs that far, while a learning
# rate too large for Adam (whose steps are bounded by it) climbs far beyond
# without ever reaching inf.
DIVERGENCE_FACTOR = 10


class MinibatchSettings(NamedTuple):
    """How a minibatch run goes and when it ends.

    Attributes
    ----------
    batch_size : int
        Samples per minibatch (the last one of an epoch may be smaller).
    max_epochs : int
        The run ends once the record counts this many epochs.
    tol : float
        An epoch improves when its loss beats the best by more than ``tol``
        relatively.
    n_iter_no_change : int
        Epochs without improvement after which a ``fit`` has converged.
    dead_after : int or None
        Samples without firing after which a unit is dead, for the auxiliary
        loss; None hands no dead units to the objective (no auxiliary loss).
    """

    batch_size: int
    max_epochs: int
    tol: float
    n_iter_no_change: int
    dead_after: int | None = None


Objective = Callable[
    [np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None], Evaluation
]


def run_epoch(
    state: MinibatchState,
    X: np.ndarray,
    theta: np.ndarray,
    evaluate_batch: Objective,
    batch_size: int,
    on_step: Callable[[], bool | None],
    dead_after: int | None = None,
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
        ``evaluate_batch(theta, chunk, rho_hat, dead) -> Evaluation``, whose
        ``mean_activation`` is the new ρ̂ and ``fired`` the units that fired.
    batch_size : int
        Samples per minibatch (the last one of an epoch may be smaller).
    on_step : callable
        Called after each step; returning True stops the epoch there.
    dead_after : int or None, default=None
        As in :class:`MinibatchSettings`.

    Returns
    -------
    epoch : (LossTerms, float) or None
        The epoch's mean loss terms and mean activation, once it is complete.
    stopped : bool
        Whether ``on_step`` asked to stop.
    """
    if state.permutation is None:
        state.permutation = state.rng.permutation(X.shape[0])
        state.position, state.sums = 0, [0.0] * N_SUMS
    starts = range(state.position * batch_size, X.shape[0], batch_size)
    chunks = (X[state.permutation[start : start + batch_size]] for start in starts)
    pending, stop = [], [False]

    def loss_and_grad(theta, chunk):
        dead = state.dead(dead_after)
        evaluation = evaluate_batch(theta, chunk, state.rho_hat, dead)
        pending.append((evaluation, chunk.shape[0]))
        return evaluation.terms.total, evaluation.grads.vector

    def commit(theta, loss):
        evaluation, rows = pending.pop()
        if state.start_loss is None:
            state.start_loss = evaluation.terms.total
        state.rho_hat = evaluation.mean_activation
        state.fired(evaluation.fired, rows)
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
    return (LossTerms(*means[:-1]), means[-1]), stopped


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


def train_minibatch(
    objective: Objective,
    theta: np.ndarray,
    X: np.ndarray,
    state: MinibatchState,
    settings: MinibatchSettings,
    record: Record,
    on_step: Callable[[Progress], bool | None] | None = None,
) -> str:
    """Run epochs from ``state`` until the budget, convergence, divergence or a stop.

    Parameters
    ----------
    objective : callable
        ``objective(theta, batch, rho_hat, dead) -> Evaluation``, whose
        ``mean_activation`` is the ρ̂ to pass with the next batch; ``dead``
        is None, or with ``settings.dead_after`` the dead units.
    theta : ndarray of shape (n_params,)
        Flat parameters, in the data's floating type, updated in place.
    X : ndarray of shape (n_samples, n_features)
        Data.
    state : MinibatchState
        Updated in place after every step; early stopping applies while
        ``state.fitting``.
    settings : MinibatchSettings
        Batch size, budget and stopping rule.
    record : Record
        Gets one entry per completed epoch.
    on_step : callable, optional
        ``on_step(progress)`` after every step; returning True stops the run
        there (the epoch is closed if that was its last step).

    Returns
    -------
    str
        Why the run ended: ``"budget"``, ``"converged"``, ``"diverged"`` or
        ``"stopped"``.

    Raises
    ------
    NonFiniteLossError
        From :func:`sparseae.solvers.run_minibatches`; ``theta`` holds the
        parameters before the failed step.
    """
    batch_size = settings.batch_size
    steps = -(-X.shape[0] // batch_size)
    start = time.perf_counter() - record.elapsed

    def step_done():
        if on_step is None:
            return False
        k = state.position
        terms = LossTerms(*(value / k for value in state.sums[:-1]))
        mean_activation, elapsed = state.sums[-1] / k, time.perf_counter() - start
        budget = settings.max_epochs
        return on_step(
            Progress(record.n_iter, budget, k, steps, terms, mean_activation, elapsed)
        )

    while record.n_iter < settings.max_epochs:
        epoch, stopped = run_epoch(
            state, X, theta, objective, batch_size, step_done, settings.dead_after
        )
        if epoch is not None:
            terms, mean_activation = epoch
            record.add(terms, mean_activation, time.perf_counter() - start)
            start_loss = state.start_loss or 0.0
            if start_loss > 0 and terms.total > DIVERGENCE_FACTOR * start_loss:
                return "diverged"
            state.improved(terms.total, settings.tol)
            if state.fitting and state.no_improvement >= settings.n_iter_no_change:
                return "converged"
        if stopped:
            return "stopped"
    return "budget"
