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

from .callbacks import Progress
from .minibatch_training import append_history
from .objective import evaluate
from .params import Params
from .solvers import minimize_lbfgs

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
    """
    n, h = X.shape[1], model.n_components
    hyper = model._hyperparameters()
    last = {}

    def loss_and_grad(theta):
        evaluation = evaluate(
            Params.from_vector(theta.astype(X.dtype), n, h), X, **hyper
        )
        last.update(theta=theta.copy(), evaluation=evaluation)
        return evaluation.terms.total, evaluation.grads.vector.astype(np.float64)

    start = time.perf_counter()

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
            raise StopIteration

    result = minimize_lbfgs(
        loss_and_grad,
        model._params().to_vector(),
        max_iter=model.max_iter,
        memory=model.lbfgs_memory,
        tol=model.tol,
        callback=record,
    )
    model._store(Params.from_vector(result.theta.astype(X.dtype), n, h))
    model.n_iter_ = result.n_iter
    if not result.converged and result.n_iter >= model.max_iter:
        warnings.warn(
            f"L-BFGS reached max_iter={model.max_iter} before converging; "
            "increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=4,
        )
