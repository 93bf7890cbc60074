"""The objective as partial sums over row blocks, and the step that finishes them.

Every term of J and of its gradient is a sum over samples once the hidden
gradient is split as in ``docs/derivation.md`` eq. (11): only s of eq. (7) needs
ρ̂, a mean over all the rows, and it multiplies a sum, f'ᵀ X, that does not.  So
:func:`block_sums` turns any block of rows into a :class:`PartialSums`, partial
sums add up (``a + b``, or ``sum(parts)`` in the order given), and
:func:`finish_sums` forms ρ̂, s, the loss terms and the gradient from the total.
A block can be evaluated anywhere, on another thread, process or machine: a
:class:`PartialSums` holds only numbers and arrays.

Since s is applied at the finish, any ρ̂ can be used there: the data-wide mean
of eq. (4), or the running estimate of a minibatch run
(:mod:`sparseae.core.sparsity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .kernel import BlockSums, Settings, n_workers, new_workers, one_pass
from .params import Params
from .sparsity import sparsity_slope
from .threads import WorkerPool

__all__ = ["Evaluation", "LossTerms", "PartialSums", "block_sums", "finish_sums"]


class LossTerms(NamedTuple):
    """The three terms of the objective J (derivation eq. 3)."""

    reconstruction: float
    weight_decay: float
    sparsity: float

    @property
    def total(self) -> float:
        """The objective J, the sum of the three terms."""
        return self.reconstruction + self.weight_decay + self.sparsity


class Evaluation(NamedTuple):
    """Everything one evaluation of the objective computes.

    Attributes
    ----------
    terms : LossTerms
        The three terms of the objective.
    mean_activation : ndarray of shape (n_hidden,)
        ρ̂, the mean activation of each hidden unit, before clamping (with a
        running estimate, the estimate used).
    grads : Params or None
        The gradient of the total, or None when it was not asked for.
    """

    terms: LossTerms
    mean_activation: np.ndarray
    grads: Params | None


@dataclass(frozen=True, eq=False)
class PartialSums:
    """Sums over some rows from which the objective and its gradient follow.

    Attributes
    ----------
    n_rows : int
        Rows summed.
    reconstruction : float
        Σ of the per-row reconstruction loss of eq. (3), in float64.
    a2_sum : ndarray of shape (n_hidden,)
        Σ a2, in float64: m ρ̂ of eq. (4).
    grad_W2 : ndarray of shape (n_features, n_hidden) or None
        Σ δ3ᵀ a2 of eq. (9); None when no gradient was asked for.
    grad_b2 : ndarray of shape (n_features,) or None
        Σ δ3.
    grad_W1 : ndarray of shape (2 * n_hidden, n_features) or None
        The two bracketed products of eq. (11) stacked: (δ3 W2 ⊙ f')ᵀ X, then
        f'ᵀ X, which :func:`finish_sums` multiplies by β s.  (The in-memory
        path of :func:`sparseae.evaluate` may already have β s in the first
        half for rows whose a2 it kept, eq. (10), and then leaves them out of
        the second; with every row kept, the second half is absent.)
    grad_b1 : ndarray of shape (2 * n_hidden,) or None
        Σ δ3 W2 ⊙ f', then Σ f'.

    Notes
    -----
    The gradient sums are in the computation's floating type, the loss sums in
    float64.  Sums add in the order written, so a fixed order of additions
    (a fixed reduction tree) gives the same result to the last bit every time.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params
    >>> from sparseae.core.objective import make_settings
    >>> settings = make_settings(sparsity_target=0.1, sparsity_weight=3.0,
    ...                          weight_decay=1e-4)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(100, 8))
    >>> params = Params.initialize(8, 3, rng=rng)
    >>> parts = [block_sums(params, settings, X[i:i + 30]) for i in range(0, 100, 30)]
    >>> total = sum(parts)
    >>> total.n_rows, total.grad_W1.shape
    (100, (6, 8))
    >>> evaluation = finish_sums(total, params, settings)
    >>> round(evaluation.terms.total, 4)
    3.954
    """

    n_rows: int
    reconstruction: float
    a2_sum: np.ndarray
    grad_W2: np.ndarray | None = None
    grad_b2: np.ndarray | None = None
    grad_W1: np.ndarray | None = None
    grad_b1: np.ndarray | None = None

    @property
    def has_grad(self) -> bool:
        """Whether the gradient sums are present."""
        return self.grad_W1 is not None

    def __add__(self, other: PartialSums) -> PartialSums:
        if not isinstance(other, PartialSums):
            return NotImplemented
        if self.has_grad != other.has_grad or self.a2_sum.shape != other.a2_sum.shape:
            raise ValueError(
                "cannot add partial sums of different problems: n_hidden "
                f"{self.a2_sum.shape[0]} with gradient={self.has_grad} and "
                f"{other.a2_sum.shape[0]} with gradient={other.has_grad}"
            )
        grads = {}
        if self.has_grad:
            for name in ("grad_W2", "grad_b2", "grad_W1", "grad_b1"):
                grads[name] = getattr(self, name) + getattr(other, name)
        return PartialSums(
            self.n_rows + other.n_rows,
            self.reconstruction + other.reconstruction,
            self.a2_sum + other.a2_sum,
            **grads,
        )

    def __radd__(self, other) -> PartialSums:
        # sum() starts from 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @classmethod
    def from_workers(cls, workers: list[BlockSums], n_rows: int) -> PartialSums:
        """Add the workers' running sums, in order, into the first worker's.

        The result holds the first worker's arrays, not copies.
        """
        total = workers[0]
        for other in workers[1:]:
            total.add(other)
        grads = {}
        if total.grad:
            grads = dict(
                grad_W2=total.gW2,
                grad_b2=total.gb2,
                grad_W1=total.gW1,
                grad_b1=total.gb1,
            )
        return cls(n_rows, total.reconstruction, total.a2_sum, **grads)


def block_sums(
    params: Params,
    settings: Settings,
    X: np.ndarray,
    *,
    grad: bool = True,
    n_threads: int | None = None,
) -> PartialSums:
    """Partial sums of the objective, and of its gradient, over the rows ``X``.

    The rows go through in cache-sized blocks, each in one pass (eq. 11), on
    ``n_threads`` threads that take fixed shares of the blocks, so the result
    is the same on every call with the same thread count.

    Parameters
    ----------
    params : Params
        Current weights, cast to ``X``'s floating type if needed.
    settings : Settings
        Hyperparameters, already checked (:func:`sparseae.core.objective.
        make_settings`).
    X : ndarray of shape (n_rows, n_features)
        Rows, float32 or float64; ``n_rows`` may be 0.
    grad : bool, default=True
        Whether to compute the gradient sums.
    n_threads : int, optional
        Threads to use; by default as many as the BLAS may use when the block
        is large enough to gain from them.

    Returns
    -------
    PartialSums
    """
    if X.ndim != 2 or X.shape[1] != params.n_features:
        raise ValueError(
            f"X must have shape (n_rows, {params.n_features}) to match W1 of shape "
            f"{params.W1.shape}, got {X.shape}"
        )
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(f"X must be float32 or float64, got {X.dtype}")
    if params.dtype != X.dtype:
        params = params.astype(X.dtype)
    (m, n), h = X.shape, params.n_hidden
    if n_threads is None:
        n_threads = n_workers(m, n, h)
    workers = new_workers(params, settings, max(1, n_threads), grad, True, max(1, m))
    if m:
        with WorkerPool(len(workers)) as pool:
            one_pass(pool, workers, X)
    return PartialSums.from_workers(workers, m)


def finish_sums(
    total: PartialSums,
    params: Params,
    settings: Settings,
    *,
    previous_rho_hat: np.ndarray | None = None,
    rho_decay: float = 0.0,
) -> Evaluation:
    """Loss terms, ρ̂ and gradient from sums over all the rows.

    Parameters
    ----------
    total : PartialSums
        Sums over every row of the objective, ``total.n_rows >= 1``.
    params : Params
        The weights the sums were taken at, in the sums' floating type.
    settings : Settings
        Hyperparameters.
    previous_rho_hat : ndarray of shape (n_hidden,) or None, default=None
        With ``rho_decay``, the running estimate ρ̂_{t−1}
        (:func:`sparseae.core.sparsity.update_rho_hat`); the sparsity term and
        s of eq. (7) are then evaluated at ρ̂_t = α ρ̂_{t−1} + (1 − α) ρ̂.
    rho_decay : float, default=0.0
        α of the running estimate, in [0, 1]; 0 uses the rows' own ρ̂.

    Returns
    -------
    Evaluation
        ``mean_activation`` is the ρ̂ used, in the sums' floating type.
    """
    m = total.n_rows
    if m < 1:
        raise ValueError(f"the sums must cover at least one row, got n_rows={m}")
    W1, _, W2, _ = params
    lam, dtype, h = settings.lam, params.dtype, params.n_hidden
    rho_hat, rho_clamped, s = sparsity_slope(
        total.a2_sum, m, settings, dtype, previous_rho_hat, rho_decay
    )
    penalty = settings.penalty.value(rho_clamped, settings.rho)  # KL: eq. (5)
    terms = LossTerms(  # eq. (3)
        total.reconstruction / m,
        float(0.5 * lam * (np.vdot(W1, W1) + np.vdot(W2, W2))),
        float(settings.beta * penalty.sum()),
    )
    if not total.has_grad:
        return Evaluation(terms, rho_hat, None)
    grads = Params.zeros(params.n_features, h, dtype=dtype)
    gW1, gb1, gW2, gb2 = grads
    np.divide(total.grad_W2, m, out=gW2)  # eq. (9)
    gW2 += lam * W2
    np.divide(total.grad_b2, m, out=gb2)
    gW1[...] = total.grad_W1[:h]
    gb1[...] = total.grad_b1[:h]
    if total.grad_W1.shape[0] > h:
        # The β s f'ᵀ X half of eq. (11), now that ρ̂ is known.  (Rows whose
        # δ2 already held β s, eq. (8), left nothing here.)
        s = s.astype(dtype)
        gW1 += s[:, None] * total.grad_W1[h:]
        gb1 += s * total.grad_b1[h:]
    gW1 /= m  # eq. (10)
    gW1 += lam * W1
    gb1 /= m
    return Evaluation(terms, rho_hat, grads)
