"""Checking an analytic gradient against central finite differences."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .params import Params

__all__ = ["GradientCheck", "check_gradient", "relative_difference"]


def relative_difference(numerical: np.ndarray, analytic: np.ndarray) -> float:
    """‖num − ana‖ / ‖num + ana‖, the measure of the UFLDL exercise.

    Two all-zero gradients agree exactly and give 0 (``docs/derivation.md``,
    section 7).

    Examples
    --------
    >>> import numpy as np
    >>> relative_difference(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    0.0
    >>> round(relative_difference(np.array([1.0]), np.array([1.001])), 6)
    0.0005
    """
    numerical = np.asarray(numerical, dtype=np.float64).ravel()
    analytic = np.asarray(analytic, dtype=np.float64).ravel()
    denominator = np.linalg.norm(numerical + analytic)
    numerator = np.linalg.norm(numerical - analytic)
    if denominator == 0:
        return 0.0 if numerator == 0 else float("inf")
    return float(numerator / denominator)


@dataclass(frozen=True)
class GradientCheck:
    """Result of :func:`check_gradient`.

    Attributes
    ----------
    relative_differences : dict of str to float
        Relative difference for each parameter block, and ``"all"`` for the
        whole gradient.
    numerical, analytic : dict of str to ndarray
        The two gradients, block by block.
    epsilon : float
        Step of the central differences.
    """

    relative_differences: dict[str, float]
    numerical: dict[str, np.ndarray]
    analytic: dict[str, np.ndarray]
    epsilon: float

    @property
    def worst(self) -> float:
        """Largest relative difference over the blocks."""
        return max(self.relative_differences.values())

    def passed(self, tolerance: float = 1e-9) -> bool:
        """Whether every block's relative difference is below ``tolerance``."""
        return self.worst < tolerance


def _as_blocks(params) -> dict[str, np.ndarray]:
    if isinstance(params, Params):
        return dict(params.items())
    if isinstance(params, Mapping):
        return {name: np.asarray(block) for name, block in params.items()}
    return {"x": np.asarray(params)}


def check_gradient(
    loss_and_grad: Callable,
    params,
    *,
    epsilon: float = 1e-4,
) -> GradientCheck:
    """Compare ``loss_and_grad``'s gradient with central finite differences.

    Every parameter is perturbed by ±``epsilon`` in turn (two evaluations each),
    so this is meant for small problems, in float64.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(params) -> (loss, grads)`` with ``grads`` of the same
        structure as ``params``.
    params : Params, mapping of str to ndarray, or ndarray
        Point at which to check. It is not modified.
    epsilon : float, default=1e-4
        Step of the central differences.

    Returns
    -------
    GradientCheck
        Relative differences per block (and ``"all"``) and both gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params, check_gradient, loss_and_grad
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(20, 5))
    >>> params = Params.initialize(5, 3, rng=rng)
    >>> result = check_gradient(
    ...     lambda p: loss_and_grad(p, X, sparsity_target=0.1,
    ...                             sparsity_weight=3.0, weight_decay=1e-3),
    ...     params)
    >>> result.relative_differences["all"] < 1e-9
    True
    """
    if not (isinstance(epsilon, float | int) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    blocks = {name: block.copy() for name, block in _as_blocks(params).items()}
    rebuild = _rebuilder(params)

    _, grads = loss_and_grad(rebuild(blocks))
    analytic = {
        name: np.array(g, dtype=np.float64) for name, g in _as_blocks(grads).items()
    }
    if analytic.keys() != blocks.keys() or any(
        analytic[name].shape != blocks[name].shape for name in blocks
    ):
        raise ValueError(
            "loss_and_grad must return a gradient with the same blocks and shapes "
            f"as params: {_shapes(blocks)}, got {_shapes(analytic)}"
        )

    numerical = {}
    for name, block in blocks.items():
        flat = block.reshape(-1)
        derivative = np.empty(flat.size)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + epsilon
            loss_plus, _ = loss_and_grad(rebuild(blocks))
            flat[k] = original - epsilon
            loss_minus, _ = loss_and_grad(rebuild(blocks))
            flat[k] = original
            derivative[k] = (loss_plus - loss_minus) / (2 * epsilon)
        numerical[name] = derivative.reshape(block.shape)

    differences = {
        name: relative_difference(numerical[name], analytic[name]) for name in blocks
    }
    differences["all"] = relative_difference(
        np.concatenate([numerical[n].ravel() for n in blocks]),
        np.concatenate([analytic[n].ravel() for n in blocks]),
    )
    return GradientCheck(differences, numerical, analytic, float(epsilon))


def _rebuilder(params) -> Callable[[dict[str, np.ndarray]], object]:
    if isinstance(params, Params):
        return lambda blocks: Params(**blocks)
    if isinstance(params, Mapping):
        return dict
    return lambda blocks: blocks["x"]


def _shapes(blocks: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(np.shape(block)) for name, block in blocks.items()}
