"""L-BFGS on a list of parameter arrays, for models that are not a ``Params``.

The softmax layer and the fine-tuned stack have their own shapes; these helpers
view one flat vector as their blocks so that :func:`~sparseae.solvers.minimize_lbfgs`
can drive them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from .lbfgs import SolverResult, minimize_lbfgs

__all__ = ["minimize_blocks", "pack", "unpack"]


def pack(blocks: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate arrays into one flat float64 vector, each in C order.

    Examples
    --------
    >>> pack([np.ones((2, 2)), np.zeros(1)])
    array([1., 1., 1., 1., 0.])
    """
    return np.concatenate([np.ravel(block) for block in blocks]).astype(np.float64)


def unpack(theta: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """View a flat vector as arrays of the given shapes, without copying.

    Examples
    --------
    >>> W, b = unpack(np.arange(5.0), [(2, 2), (1,)])
    >>> W, b
    (array([[0., 1.],
           [2., 3.]]), array([4.]))
    """
    sizes = [int(np.prod(shape)) for shape in shapes]
    assert theta.ndim == 1 and theta.size == sum(sizes), (theta.shape, shapes)
    bounds = np.cumsum([0, *sizes])
    return [
        theta[start:stop].reshape(shape)
        for start, stop, shape in zip(bounds[:-1], bounds[1:], shapes, strict=True)
    ]


def minimize_blocks(
    loss_and_grad: Callable[[list[np.ndarray]], tuple[float, list[np.ndarray]]],
    blocks: Sequence[np.ndarray],
    *,
    max_iter: int,
    memory: int = 10,
    tol: float = 1e-9,
    dtype=np.float64,
) -> tuple[list[np.ndarray], SolverResult]:
    """Minimise ``loss_and_grad`` over a list of arrays with L-BFGS.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(blocks) -> (loss, grads)``, ``grads`` a list of arrays of
        the blocks' shapes.
    blocks : sequence of ndarray
        Starting point; not modified.
    max_iter, memory, tol : int, int, float
        Passed to :func:`~sparseae.solvers.minimize_lbfgs`.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Type in which ``loss_and_grad`` receives the blocks; the optimiser itself
        always works in float64.

    Returns
    -------
    blocks : list of ndarray
        The minimiser found, in ``dtype``.
    result : SolverResult
        The solver's report, with the objective after each iteration in
        ``loss_curve``: whether a run that ``max_iter`` ended deserves a
        warning is its caller's to say.

    Examples
    --------
    >>> blocks, result = minimize_blocks(
    ...     lambda b: (float((b[0] - 3) @ (b[0] - 3)), [2 * (b[0] - 3)]),
    ...     [np.zeros(2)], max_iter=50)
    >>> blocks[0], result.converged
    (array([3., 3.]), True)
    """
    shapes = [np.shape(block) for block in blocks]

    def flat_loss_and_grad(theta):
        loss, grads = loss_and_grad(unpack(theta.astype(dtype, copy=False), shapes))
        return float(loss), pack(grads)

    losses = []
    result = minimize_lbfgs(
        flat_loss_and_grad,
        pack(blocks),
        max_iter=max_iter,
        memory=memory,
        tol=tol,
        callback=lambda theta, loss: losses.append(float(loss)),
    )
    result = replace(result, loss_curve=losses)
    return unpack(result.theta.astype(dtype), shapes), result
