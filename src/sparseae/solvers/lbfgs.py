"""Full-batch L-BFGS with a strong-Wolfe line search, whose state can be saved.

The direction is the two-loop recursion of Nocedal & Wright, *Numerical
Optimization* (2nd ed.), Algorithm 7.4, inside Algorithm 7.5; the step length
comes from the line search of their Algorithm 3.5 with the ``zoom`` of
Algorithm 3.6 (cubic interpolation, quadratic when a derivative is missing,
bisection as the safeguard), for the strong Wolfe conditions with c1 = 1e-4 and
c2 = 0.9.  The first trial step is ``1/‖g‖`` while no correction pair is stored
(the first iteration), 1 afterwards.

Everything that decides the next iterate is in :class:`LbfgsState`: the point,
its loss and gradient, the correction pairs in order, the counters and the
record of losses seen.  Saved after iteration k (:meth:`LbfgsState.to_saved`)
and restored, it continues with iterates bit-identical to a run never stopped:
the line search carries nothing from one iteration to the next besides it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from threadpoolctl import ThreadpoolController

from .errors import NonFiniteLossError, describe_non_finite

__all__ = ["LbfgsState", "SolverResult", "minimize_lbfgs"]

C1, C2 = 1e-4, 0.9  # sufficient decrease and curvature (strong Wolfe)
MAX_LINE_SEARCH = 20  # evaluations per line search, as SciPy's maxls
EPS = np.finfo(np.float64).eps


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
        Iterations run (counting those of an earlier run that was continued).
    n_evaluations : int
        Calls of ``loss_and_grad``.
    converged : bool
        Whether the solver's own stopping test was met before ``max_iter``.
    message : str
        The solver's reason for stopping.
    n_rejected : int
        Trial points rejected because the loss or gradient there was not finite.
    loss_curve : list of float or None
        The objective after each iteration, when the caller kept it
        (:func:`~sparseae.solvers.blocks.minimize_blocks` does); None otherwise.
    """

    theta: np.ndarray
    loss: float
    n_iter: int
    n_evaluations: int
    converged: bool
    message: str
    n_rejected: int = 0
    loss_curve: list[float] | None = None


@dataclass(eq=False)
class LbfgsState:
    """Where an L-BFGS run is: enough to take its next iteration exactly.

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        The current iterate, float64.
    loss : float
        The loss at ``theta``.
    grad : ndarray of shape (n_params,)
        The gradient at ``theta``, float64.
    s, y : list of ndarray of shape (n_params,)
        Correction pairs ``s_k = θ_{k+1} − θ_k``, ``y_k = g_{k+1} − g_k``,
        oldest first, at most ``memory`` of them.
    n_iter, n_evaluations, n_rejected : int
        Iterations done, calls of ``loss_and_grad``, non-finite trial points.
    previous_loss : float or None
        The loss before the last iteration (None before the first), for the
        relative-decrease test.
    highest : float
        The largest finite loss seen, which stands in for a non-finite one.
    """

    theta: np.ndarray
    loss: float
    grad: np.ndarray
    s: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    n_iter: int = 0
    n_evaluations: int = 1
    n_rejected: int = 0
    previous_loss: float | None = None
    highest: float = -math.inf

    @classmethod
    def start(cls, loss_and_grad, theta0: np.ndarray) -> LbfgsState:
        """Evaluate ``loss_and_grad`` at ``theta0`` (copied) and begin there.

        Raises
        ------
        NonFiniteLossError
            If the loss or the gradient at ``theta0`` is not finite.
        """
        theta = np.array(theta0, dtype=np.float64)
        if theta.ndim != 1:
            raise ValueError(f"theta0 must be a flat vector, got shape {theta.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad = loss_and_grad(theta)
        grad = np.array(grad, dtype=np.float64)
        fault = describe_non_finite(float(loss), grad)
        if fault is not None:
            raise NonFiniteLossError(f"at the starting point {fault}")
        return cls(theta, float(loss), grad, highest=float(loss))

    def to_saved(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-ready numbers that :meth:`from_saved` restores exactly."""
        n = self.theta.size
        arrays = {
            "theta": self.theta,
            "grad": self.grad,
            "s": np.array(self.s, dtype=np.float64).reshape(len(self.s), n),
            "y": np.array(self.y, dtype=np.float64).reshape(len(self.y), n),
        }
        numbers = {
            "loss": self.loss,
            "n_iter": self.n_iter,
            "n_evaluations": self.n_evaluations,
            "n_rejected": self.n_rejected,
            "previous_loss": self.previous_loss,
            "highest": self.highest,
        }
        return arrays, numbers

    @classmethod
    def from_saved(cls, arrays: dict, numbers: dict) -> LbfgsState:
        """Rebuild a state from :meth:`to_saved`, checking every field.

        Raises
        ------
        ValueError
            If a field is missing, unknown, of the wrong type or shape, or not
            finite.
        """
        if set(arrays) != {"theta", "grad", "s", "y"}:
            raise ValueError(f"arrays must be grad, s, theta, y, got {sorted(arrays)}")
        expected = {"loss", "n_iter", "n_evaluations", "n_rejected"}
        expected |= {"previous_loss", "highest"}
        if not isinstance(numbers, dict) or set(numbers) != expected:
            got = sorted(numbers) if isinstance(numbers, dict) else type(numbers)
            raise ValueError(f"fields must be {sorted(expected)}, got {got}")
        theta = arrays["theta"]
        n = theta.shape[0] if theta.ndim == 1 else -1
        for name, array in arrays.items():
            shape_ok = array.ndim == 1 if name in ("theta", "grad") else array.ndim == 2
            if (
                array.dtype != np.float64
                or not shape_ok
                or array.shape[-1] != n
                or not np.isfinite(array).all()
            ):
                raise ValueError(
                    f"{name} must be finite float64 with {n} columns, got "
                    f"{array.dtype} of shape {array.shape}"
                )
        if arrays["s"].shape != arrays["y"].shape:
            raise ValueError(
                f"s and y must have one shape, got {arrays['s'].shape} and "
                f"{arrays['y'].shape}"
            )
        for name in ("n_iter", "n_evaluations", "n_rejected"):
            value = numbers[name]
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a count, got {value!r}")
        for name in ("loss", "previous_loss", "highest"):
            value = numbers[name]
            if value is None and name == "previous_loss":
                continue
            if not (isinstance(value, Real) and not isinstance(value, bool)) or (
                math.isnan(value) or (math.isinf(value) and name != "highest")
            ):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        return cls(
            theta=theta.copy(),
            loss=float(numbers["loss"]),
            grad=arrays["grad"].copy(),
            s=[row.copy() for row in arrays["s"]],
            y=[row.copy() for row in arrays["y"]],
            n_iter=int(numbers["n_iter"]),
            n_evaluations=int(numbers["n_evaluations"]),
            n_rejected=int(numbers["n_rejected"]),
            previous_loss=numbers["previous_loss"],
            highest=float(numbers["highest"]),
        )


def _check_options(max_iter, memory, tol) -> None:
    for name, value in (("max_iter", max_iter), ("memory", memory)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")


def minimize_lbfgs(
    loss_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta0: np.ndarray | LbfgsState,
    *,
    max_iter: int = 400,
    memory: int = 10,
    tol: float = 1e-9,
    callback: Callable[[np.ndarray, float], bool | None] | None = None,
) -> SolverResult:
    """Minimise a smooth function with L-BFGS and a strong-Wolfe line search.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(theta) -> (loss, grad)``, ``grad`` of ``theta``'s shape.
        It may not keep or modify ``theta``.
    theta0 : ndarray of shape (n_params,) or LbfgsState
        Starting point (not modified), or the state of a run to continue; a
        state is updated in place after every iteration, so a callback may
        save it.
    max_iter : int, default=400
        Iterations in all, counting those already in a state given as
        ``theta0``.
    memory : int, default=10
        Number of correction pairs kept.
    tol : float, default=1e-9
        Stop when the relative decrease of the loss in one iteration,
        ``(f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1)``, falls below ``tol``
        (SciPy's ``ftol``), or the largest gradient component below ``tol``
        (its ``gtol``).
    callback : callable, optional
        ``callback(theta, loss)`` after every iteration, with the accepted
        point; returning True stops the run there.

    Returns
    -------
    SolverResult

    Raises
    ------
    NonFiniteLossError
        If the loss or gradient at ``theta0`` is not finite.  At a trial point
        later on, a non-finite loss or gradient counts as a loss above every
        finite one seen, so the line search shortens the step.

    References
    ----------
    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer,
    2006: Algorithms 3.5, 3.6 (line search), 7.4, 7.5 (L-BFGS).

    Examples
    --------
    >>> import numpy as np
    >>> result = minimize_lbfgs(lambda t: (float(t @ t), 2 * t), np.ones(3))
    >>> result.converged, float(np.abs(result.theta).max()) < 1e-8
    (True, True)
    """
    _check_options(max_iter, memory, tol)
    # The solver's own vector work runs on one BLAS thread (OpenBLAS's threads
    # cost far more than they save on vectors of a few thousand entries,
    # docs/performance.md, and one thread keeps its dot products the same
    # whatever the caller's setting); the objective with the caller's threads.
    blas = ThreadpoolController().select(user_api="blas")
    caller_threads = max((info["num_threads"] for info in blas.info()), default=1)

    def evaluate(theta):
        with blas.limit(limits=caller_threads):
            loss, grad = loss_and_grad(theta)
        return float(loss), np.asarray(grad, dtype=np.float64)

    # Overflow at a trial point is expected and handled (the step is
    # shortened), so NumPy's warnings about it would only alarm.
    with np.errstate(over="ignore", invalid="ignore"), blas.limit(limits=1):
        if isinstance(theta0, LbfgsState):
            state = theta0
        else:
            state = LbfgsState.start(evaluate, theta0)
        converged, message = _run(state, evaluate, max_iter, memory, tol, callback)
    return SolverResult(
        theta=state.theta,
        loss=state.loss,
        n_iter=state.n_iter,
        n_evaluations=state.n_evaluations,
        converged=converged,
        message=message,
        n_rejected=state.n_rejected,
    )


def _run(state, evaluate, max_iter, memory, tol, callback) -> tuple[bool, str]:
    """Iterate from ``state`` until a stopping test; (converged, message)."""
    while True:
        if np.abs(state.grad).max(initial=0.0) <= tol:
            return True, "the largest gradient component is below tol"
        previous = state.previous_loss
        if previous is not None:
            scale = max(abs(previous), abs(state.loss), 1.0)
            if (previous - state.loss) / scale <= tol:
                return True, "the relative decrease of the loss is below tol"
        if state.n_iter >= max_iter:
            return False, f"reached max_iter={max_iter}"
        if not _iterate(state, evaluate, memory):
            return False, "the line search found no lower loss along the direction"
        if callback is not None and callback(state.theta, state.loss):
            return False, "stopped by the callback"


def _direction(state) -> np.ndarray:
    """−H g by the two-loop recursion (N&W Algorithm 7.4)."""
    q = state.grad.copy()
    rhos = [1.0 / float(y @ s) for s, y in zip(state.s, state.y, strict=True)]
    alphas = []
    for s, y, rho in zip(
        reversed(state.s), reversed(state.y), reversed(rhos), strict=True
    ):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if state.s:
        s, y = state.s[-1], state.y[-1]
        q *= float(s @ y) / float(y @ y)  # H0 = γ I, N&W eq. (7.20)
    for s, y, rho, alpha in zip(state.s, state.y, rhos, reversed(alphas), strict=True):
        beta = rho * float(y @ q)
        q += (alpha - beta) * s
    return -q


def _iterate(state, evaluate, memory) -> bool:
    """One L-BFGS iteration on ``state`` in place; False if no step was found."""
    direction = _direction(state)
    slope = float(state.grad @ direction)
    if not slope < 0:
        # Rounding can make −H g point uphill; the gradient never does.
        state.s.clear()
        state.y.clear()
        direction = -state.grad
        slope = float(state.grad @ direction)
    first = 1.0 / math.sqrt(-slope) if not state.s else 1.0  # -slope = ‖g‖²
    found = _line_search(state, evaluate, direction, slope, first)
    if found is None:
        return False
    theta, loss, grad = found
    s, y = theta - state.theta, grad - state.grad
    # A pair with sᵀy ≤ 0 would make H indefinite (skipped, as L-BFGS-B does).
    if float(s @ y) > EPS * float(y @ y):
        state.s.append(s)
        state.y.append(y)
        del state.s[:-memory], state.y[:-memory]
    state.previous_loss = state.loss
    state.theta, state.loss, state.grad = theta, loss, grad
    state.n_iter += 1
    return True


def _line_search(state, evaluate, direction, slope, step):
    """A step satisfying the strong Wolfe conditions (N&W Algorithm 3.5).

    Returns ``(theta, loss, grad)`` at the accepted point, or None.
    """
    f0 = state.loss
    budget = [MAX_LINE_SEARCH]

    def phi(alpha):
        """(alpha, value, slope, theta, grad); slope None where not finite."""
        budget[0] -= 1
        theta = state.theta + alpha * direction
        loss, grad = evaluate(theta)
        state.n_evaluations += 1
        if describe_non_finite(loss, grad) is not None:
            state.n_rejected += 1
            worse = state.highest + abs(state.highest) + 1.0
            return alpha, worse, None, theta, None
        state.highest = max(state.highest, loss)
        return alpha, loss, float(grad @ direction), theta, grad

    def armijo(point):
        return point[1] <= f0 + C1 * point[0] * slope

    def curvature(point):
        return abs(point[2]) <= -C2 * slope

    previous = (0.0, f0, slope, state.theta, state.grad)
    for _ in range(MAX_LINE_SEARCH):
        point = phi(step)
        if not armijo(point) or (previous[0] > 0 and point[1] >= previous[1]):
            return _zoom(phi, previous, point, armijo, curvature, budget)
        if curvature(point):
            return point[3], point[1], point[4]
        if point[2] >= 0:
            return _zoom(phi, point, previous, armijo, curvature, budget)
        # Still descending: extrapolate, between 2 and 5 times as far out.
        width = point[0] - previous[0]
        trial = _cubic_min(previous, point)
        low, high = point[0] + width, point[0] + 4 * width
        step = high if trial is None else min(max(trial, low), high)
        previous = point
        if budget[0] <= 0:
            break
    return (previous[3], previous[1], previous[4]) if previous[0] > 0 else None


def _zoom(phi, lo, hi, armijo, curvature, budget):
    """Shrink [lo, hi] to a strong-Wolfe step (N&W Algorithm 3.6).

    ``lo`` has sufficient decrease and the lowest loss so far; ``hi`` not, or
    the slope at ``lo`` points towards ``hi``.
    """
    while budget[0] > 0:
        a, b = sorted((lo[0], hi[0]))
        if (b - a) <= EPS * max(abs(b), 1.0):
            break
        trial = _cubic_min(lo, hi) if hi[2] is not None else _quadratic_min(lo, hi)
        # Safeguard: keep the trial inside, away from the ends.
        margin = 0.1 * (b - a)
        if trial is None or not a + margin <= trial <= b - margin:
            trial = 0.5 * (a + b)
        point = phi(trial)
        if point[2] is None or not armijo(point) or point[1] >= lo[1]:
            hi = point
            continue
        if curvature(point):
            return point[3], point[1], point[4]
        if point[2] * (hi[0] - lo[0]) >= 0:
            hi = lo
        lo = point
    # Out of evaluations: a step with sufficient decrease is still progress.
    if lo[0] > 0:
        return lo[3], lo[1], lo[4]
    return None


def _cubic_min(p, q) -> float | None:
    """Minimiser of the cubic through two points with values and slopes.

    N&W eq. (3.59); None when the cubic has no minimiser.
    """
    (a, fa, da), (b, fb, db) = p[:3], q[:3]
    if a == b:
        return None
    d1 = da + db - 3 * (fa - fb) / (a - b)
    radicand = d1 * d1 - da * db
    if not radicand >= 0 or not math.isfinite(radicand):
        return None
    d2 = math.copysign(math.sqrt(radicand), b - a)
    denominator = db - da + 2 * d2
    if denominator == 0:
        return None
    result = b - (b - a) * (db + d2 - d1) / denominator
    return result if math.isfinite(result) else None


def _quadratic_min(p, q) -> float | None:
    """Minimiser of the quadratic with p's value and slope and q's value."""
    (a, fa, da), (b, fb) = p[:3], q[:2]
    width = b - a
    curvature = fb - fa - da * width
    if not curvature > 0 or not math.isfinite(curvature):
        return None
    return a - da * width * width / (2 * curvature)
