"""Full-batch L-BFGS on an objective of a flat vector, with a record and callbacks.

:func:`start_lbfgs` evaluates the starting point into an
:class:`~sparseae.solvers.lbfgs.LbfgsState`; :func:`fit_lbfgs` drives
:func:`sparseae.solvers.minimize_lbfgs` from such a state (updating it in
place, so that a checkpoint taken in ``on_step`` can continue the run bit for
bit), records every iteration's loss terms and mean activation, and calls
``on_step`` with the accepted point.  It knows no estimator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..core.partial_sums import Evaluation
from ..solvers.lbfgs import LbfgsState, SolverResult, minimize_lbfgs
from .history import Record
from .progress import Progress

__all__ = [
    "LbfgsOutcome",
    "LbfgsSettings",
    "convergence_problem",
    "fit_lbfgs",
    "start_lbfgs",
]


class LbfgsSettings(NamedTuple):
    """How long and how precisely L-BFGS runs.

    Attributes
    ----------
    max_iter : int
        Iterations in all, those of a continued state included.
    tol : float
        Relative decrease of the loss, and largest gradient component, below
        which the run stops.
    memory : int
        Correction pairs kept.
    """

    max_iter: int
    tol: float
    memory: int


class LbfgsOutcome(NamedTuple):
    """The solver's report, whether ``on_step`` stopped the run, and its state."""

    result: SolverResult
    stopped: bool
    state: LbfgsState


def _loss_and_grad(objective, trials=None):
    def loss_and_grad(theta):
        evaluation = objective(theta, True)
        if trials is not None:
            trials.append((theta.copy(), evaluation))
        grad = evaluation.grads.vector.astype(np.float64, copy=False)
        return evaluation.terms.total, grad

    return loss_and_grad


def start_lbfgs(
    objective: Callable[[np.ndarray, bool], Evaluation], theta0: np.ndarray
) -> LbfgsState:
    """The state of a run at ``theta0``, with the objective evaluated there.

    Raises
    ------
    NonFiniteLossError
        If the loss or gradient at ``theta0`` is not finite.
    """
    return LbfgsState.start(_loss_and_grad(objective), theta0)


def fit_lbfgs(
    objective: Callable[[np.ndarray, bool], Evaluation],
    start: np.ndarray | LbfgsState,
    settings: LbfgsSettings,
    record: Record,
    on_step: Callable[[np.ndarray, Progress], bool | None] | None = None,
) -> LbfgsOutcome:
    """Minimise ``objective`` from ``start``, recording every iteration.

    Parameters
    ----------
    objective : callable
        ``objective(theta, compute_grad) -> Evaluation`` for a float64 vector
        ``theta``; it must neither keep nor modify ``theta``.
    start : ndarray of shape (n_params,) or LbfgsState
        Starting point (not modified), or the state of a run to continue,
        which is updated in place after every iteration.
    settings : LbfgsSettings
        Iterations, tolerance and memory.
    record : Record
        Gets one entry per iteration.
    on_step : callable, optional
        ``on_step(theta, progress)`` after every iteration, with the accepted
        point (a float64 vector the caller may copy but not keep); returning
        True stops the run there.

    Returns
    -------
    LbfgsOutcome

    Raises
    ------
    NonFiniteLossError
        If the objective is not finite at a starting point ``start``.
    """
    # The points evaluated since the last iteration: the line search accepts
    # one of them, not always the last (zoom may end on its lower end), and
    # its terms are recorded without evaluating it again.
    trials = []
    state = start if isinstance(start, LbfgsState) else start_lbfgs(objective, start)
    begin = time.perf_counter() - record.elapsed
    stopped = False

    def after_iteration(theta, loss):
        nonlocal stopped
        evaluation = next(
            (
                found
                for point, found in reversed(trials)
                if np.array_equal(point, theta)
            ),
            None,
        )
        trials.clear()
        if evaluation is None:
            # Not among this iteration's trial points: evaluate it for the record.
            evaluation = objective(theta, False)
        mean_activation = float(evaluation.mean_activation.mean())
        elapsed = time.perf_counter() - begin
        record.add(evaluation.terms, mean_activation, elapsed)
        terms, budget = evaluation.terms, settings.max_iter
        progress = Progress(
            record.n_iter, budget, 0, 1, terms, mean_activation, elapsed
        )
        stopped = on_step is not None and bool(on_step(theta, progress))
        return stopped

    result = minimize_lbfgs(
        _loss_and_grad(objective, trials),
        state,
        max_iter=settings.max_iter,
        memory=settings.memory,
        tol=settings.tol,
        callback=after_iteration,
    )
    return LbfgsOutcome(result, stopped, state)


def convergence_problem(
    outcome: LbfgsOutcome,
    max_iter: int,
    *,
    kinked: bool = False,
    start_loss: float | None = None,
) -> str | None:
    """The ``ConvergenceWarning`` a run deserves, or None when it converged.

    A run that ``on_step`` stopped deserves none, nor one whose line search
    failed at a loss below 1e-9 of ``start_loss`` (the floating-point
    resolution of a minimum of 0).  ``kinked``: the objective has the kinks
    of ReLU or top-k units, where a failed line search is expected
    (docs/derivation.md, section 10).
    """
    result = outcome.result
    if result.converged or outcome.stopped:
        return None
    if result.n_iter >= max_iter:
        message = f"reached max_iter={max_iter} before converging"
        advice = "increase max_iter or tol"
    else:
        if start_loss is not None and abs(result.loss) <= 1e-9 * abs(start_loss):
            return None
        message = f"stopped after {result.n_iter} iterations ({result.message})"
        if kinked:
            advice = (
                "expected near a minimum for ReLU and top-k units, whose objective "
                "has kinks where the line search cannot meet the Wolfe conditions "
                "(docs/derivation.md, section 10); solver='adam' goes on from there"
            )
        else:
            # Never seen on data of sensible scale with smooth units: it says
            # the objective is too large or steep for the floating type.
            advice = "scale the data, or use dtype=float64"
    if result.n_rejected:
        message += (
            f"; {result.n_rejected} trial points had a non-finite loss and were "
            "stepped back from"
        )
    return f"L-BFGS {message}; {advice}"
