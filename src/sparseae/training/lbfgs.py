"""Full-batch L-BFGS training of a :class:`~sparseae.SparseAutoencoder`.

The estimator's orchestration of :func:`sparseae.solvers.minimize_lbfgs`: the
model's fitted attributes are brought up to date after every iteration, so that a
callback sees, and can save, a consistent model.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..core.objective import evaluate
from ..core.params import Params
from ..solvers import NonFiniteLossError, minimize_lbfgs
from .minibatch import append_history
from .progress import Progress

__all__ = ["fit_lbfgs"]


def fit_lbfgs(model, X: np.ndarray, callback=None) -> None:
    """Minimise the exact objective over ``X`` from the model's current weights.

    Parameters
    ----------
    model : SparseAutoencoder
        Initialised (weights, ``n_iter_``, ``history_``, ``loss_curve_``); updated
        in place.
    X : ndarray of shape (n_samples, n_features)
        Validated data in the model's floating type.
    callback : callable, optional
        ``callback(model, progress)`` after every iteration; True stops.

    Raises
    ------
    NonFiniteLossError
        If the objective is not finite at the initial weights (the data are
        too large for the floating type); the model keeps those weights.
    """
    n, h = X.shape[1], model.n_components
    hyper = model._hyperparameters()
    last = {}

    def loss_and_grad(theta):
        # No copies in float64: evaluate neither keeps nor modifies its params,
        # and it returns a new gradient vector every call.
        evaluation = evaluate(
            Params.from_vector(theta.astype(X.dtype, copy=False), n, h), X, **hyper
        )
        last.update(theta=theta.copy(), evaluation=evaluation)
        grad = evaluation.grads.vector.astype(np.float64, copy=False)
        return evaluation.terms.total, grad

    start = time.perf_counter()
    stopped = []

    def record(theta, loss):
        evaluation = last["evaluation"]
        params = Params.from_vector(theta.astype(X.dtype), n, h)
        if not np.array_equal(theta, last["theta"]):
            evaluation = evaluate(params, X, **hyper, compute_grad=False)
        mean_activation = float(evaluation.mean_activation.mean())
        elapsed = time.perf_counter() - start
        append_history(model.history_, evaluation.terms, mean_activation, elapsed)
        model.loss_curve_.append(evaluation.terms.total)
        model.n_iter_ += 1
        model._store(params)
        if callback is not None and callback(
            model,
            Progress(
                model.n_iter_,
                model.max_iter,
                0,
                1,
                evaluation.terms,
                mean_activation,
                elapsed,
            ),
        ):
            # SciPy ends the run, with the current point, on StopIteration.
            stopped.append(True)
            raise StopIteration

    try:
        result = minimize_lbfgs(
            loss_and_grad,
            model._params().to_vector(),
            max_iter=model.max_iter,
            memory=model.lbfgs_memory,
            tol=model.tol,
            callback=record,
        )
    except NonFiniteLossError as error:
        raise NonFiniteLossError(
            f"L-BFGS cannot start: {error}; X has values up to "
            f"{float(np.abs(X).max()):.3g} in {X.dtype.name}, too large for the "
            "objective's squares and sums: scale the data (e.g. StandardScaler)"
        ) from None
    model._store(Params.from_vector(result.theta.astype(X.dtype), n, h))
    model.n_iter_ = result.n_iter
    _warn_unless_converged(model, result, stopped=bool(stopped))


def _warn_unless_converged(model, result, *, stopped: bool) -> None:
    if result.converged or stopped:
        return
    if result.n_iter >= model.max_iter:
        message = f"reached max_iter={model.max_iter} before converging"
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
    warnings.warn(f"L-BFGS {message}; {advice}", ConvergenceWarning, stacklevel=5)
