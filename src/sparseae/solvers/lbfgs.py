"""Full-batch L-BFGS through SciPy, on the exact objective."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from .errors import NonFiniteLossError, describe_non_finite

__all__ = ["SolverResult", "minimize_lbfgs"]


@dataclass(frozen=True)
class SolverResult:
    """Outcome of a solver run.

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        Final flat parameters.
    loss : float
        Objective at ``theta``.
    n_iter : int
        Iterations run.
    n_evaluations : int
        Calls of ``loss_and_grad``.
    converged : bool
        Whether the solver's own stopping test was met before ``max_iter``.
    message : str
        The solver's reason for stopping.
    n_rejected : int
        Trial points rejected because the loss or gradient there was not finite.
    """

    theta: np.ndarray
    loss: float
    n_iter: int
    n_evaluations: int
    converged: bool
    message: str
    n_rejected: int = 0


def minimize_lbfgs(
    loss_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta0: np.ndarray,
    *,
    max_iter: int = 400,
    memory: int = 10,
    tol: float = 1e-9,
    callback: Callable[[np.ndarray, float], None] | None = None,
) -> SolverResult:
    """Minimise a smooth function with SciPy's L-BFGS-B and no bounds.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(theta) -> (loss, grad)``, ``grad`` of ``theta``'s shape.
    theta0 : ndarray of shape (n_params,)
        Starting point; not modified.
    max_iter : int, default=400
        Maximum number of iterations.
    memory : int, default=10
        Number of correction pairs kept (SciPy's ``maxcor``).
    tol : float, default=1e-9
        Stop when the relative decrease of the loss in one iteration falls
        below ``tol`` (SciPy's ``ftol``) or the largest gradient component below
        ``tol`` (``gtol``).
    callback : callable, optional
        ``callback(theta, loss)`` after every iteration, with the accepted point.

    Returns
    -------
    SolverResult

    Raises
    ------
    NonFiniteLossError
        If the loss or gradient at ``theta0`` is not finite.  At a trial
        point later on, a non-finite loss or gradient is reported to SciPy as a
        loss above every finite one seen, with a zero gradient, so that its line
        search backtracks to a shorter step.  (Given NaN, SciPy stops at once;
        given +inf, its interpolation shrinks the step to nothing and the run
        ends there as if converged.)

    Examples
    --------
    >>> import numpy as np
    >>> result = minimize_lbfgs(lambda t: (float(t @ t), 2 * t), np.ones(3))
    >>> result.converged, float(np.abs(result.theta).max()) < 1e-8
    (True, True)
    """
    for name, value in (("max_iter", max_iter), ("memory", memory)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")

    n_rejected, highest = 0, None
    # L-BFGS-B's own BLAS calls are on vectors of the parameters' length, where
    # OpenBLAS's threads cost far more than they save (40 times at the classic
    # demo's 3,289 parameters, docs/performance.md): the solver runs on one BLAS
    # thread, the objective with the caller's setting.
    blas = ThreadpoolController().select(user_api="blas")
    caller_threads = max((info["num_threads"] for info in blas.info()), default=1)

    def guarded(theta):
        nonlocal n_rejected, highest
        with blas.limit(limits=caller_threads):
            loss, grad = loss_and_grad(theta)
        fault = describe_non_finite(loss, grad)
        if fault is None:
            highest = loss if highest is None else max(highest, loss)
            return loss, grad
        if highest is None:
            raise NonFiniteLossError(f"at the starting point {fault}")
        n_rejected += 1
        return highest + abs(highest) + 1.0, np.zeros_like(grad)

    def scipy_callback(intermediate_result):
        callback(intermediate_result.x, float(intermediate_result.fun))

    # Overflow at a trial point is expected and handled above (the solver
    # steps back from it), so NumPy's warnings about it would only alarm.
    with np.errstate(over="ignore", invalid="ignore"), blas.limit(limits=1):
        result = minimize(
            guarded,
            np.array(theta0, dtype=np.float64),
            jac=True,
            method="L-BFGS-B",
            callback=scipy_callback if callback is not None else None,
            options={
                "maxiter": int(max_iter),
                "maxcor": int(memory),
                "ftol": tol,
                "gtol": tol,
            },
        )
    return SolverResult(
        theta=result.x,
        loss=float(result.fun),
        n_iter=int(result.nit),
        n_evaluations=int(result.nfev),
        converged=bool(result.success) and result.nit < max_iter,
        message=str(result.message),
        n_rejected=n_rejected,
    )
