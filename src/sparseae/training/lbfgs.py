"""Full-batch L-BFGS on an objective of a flat vector, with a record and callbacks.

:func:`fit_lbfgs` drives :func:`sparseae.solvers.minimize_lbfgs`, records every
iteration's loss terms and mean activation, and calls ``on_step`` with the
accepted point, so that a caller can keep a model up to date after every
iteration.  It knows no estimator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..core.partial_sums import Evaluation
from ..solvers import SolverResult, minimize_lbfgs
from .history import Record
from .progress import Progress

__all__ = ["LbfgsOutcome", "LbfgsSettings", "convergence_problem", "fit_lbfgs"]


class LbfgsSettings(NamedTuple):
    """How long and how precisely L-BFGS runs.

    Attributes
    ----------
    max_iter : int
        Maximum number of iterations.
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
    """The solver's report, and whether ``on_step`` stopped the run."""

    result: SolverResult
    stopped: bool


def fit_lbfgs(
    objective: Callable[[np.ndarray, bool], Evaluation],
    theta0: np.ndarray,
    settings: LbfgsSettings,
    record: Record,
    on_step: Callable[[np.ndarray, Progress], bool | None] | None = None,
) -> LbfgsOutcome:
    """Minimise ``objective`` from ``theta0``, recording every iteration.

    Parameters
    ----------
    objective : callable
        ``objective(theta, compute_grad) -> Evaluation`` for a float64 vector
        ``theta``; it must neither keep nor modify ``theta``.
    theta0 : ndarray of shape (n_params,)
        Starting point; not modified.
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
        If the objective is not finite at ``theta0``.
    """
    last = {}

    def loss_and_grad(theta):
        evaluation = objective(theta, True)
        last.update(theta=theta.copy(), evaluation=evaluation)
        grad = evaluation.grads.vector.astype(np.float64, copy=False)
        return evaluation.terms.total, grad

    start = time.perf_counter() - record.elapsed
    iteration, stopped = 0, False

    def after_iteration(theta, loss):
        nonlocal iteration, stopped
        evaluation = last["evaluation"]
        if not np.array_equal(theta, last["theta"]):
            evaluation = objective(theta, False)
        mean_activation = float(evaluation.mean_activation.mean())
        elapsed = time.perf_counter() - start
        record.add(evaluation.terms, mean_activation, elapsed)
        iteration += 1
        terms, budget = evaluation.terms, settings.max_iter
        progress = Progress(iteration, budget, 0, 1, terms, mean_activation, elapsed)
        if on_step is not None and on_step(theta, progress):
            # SciPy ends the run, with the current point, on StopIteration.
            stopped = True
            raise StopIteration

    result = minimize_lbfgs(
        loss_and_grad,
        theta0,
        max_iter=settings.max_iter,
        memory=settings.memory,
        tol=settings.tol,
        callback=after_iteration,
    )
    return LbfgsOutcome(result, stopped)


def convergence_problem(outcome: LbfgsOutcome, max_iter: int) -> str | None:
    """The ``ConvergenceWarning`` a run deserves, or None when it converged.

    A run that ``on_step`` stopped deserves none.
    """
    result = outcome.result
    if result.converged or outcome.stopped:
        return None
    if result.n_iter >= max_iter:
        message = f"reached max_iter={max_iter} before converging"
        advice = "increase max_iter or tol"
    else:
        # A failed line search: never seen on data of sensible scale, so it
        # says the objective is too large or steep for the floating type.
        message = f"stopped after {result.n_iter} iterations ({result.message})"
        advice = "scale the data, or use dtype=float64"
    if result.n_rejected:
        message += (
            f"; {result.n_rejected} trial points had a non-finite loss and were "
            "stepped back from"
        )
    return f"L-BFGS {message}; {advice}"
