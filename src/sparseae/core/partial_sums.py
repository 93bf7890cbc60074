"""The objective as partial sums over row blocks, and the step that finishes them.

Every term of J and of its gradient is a sum over samples once the hidden
gradient is split as in ``docs/derivation.md`` eq. (11): only s of eq. (7) needs
ρ̂, a mean over all the rows, and it multiplies a sum, f'ᵀ X, that does not.  So
:func:`block_sums` turns any block of rows into a :class:`PartialSums`, partial
sums add up (``a + b``), and :func:`finish_sums` forms ρ̂, s, the loss terms
and the gradient from the total.  A block can be evaluated anywhere, on another
thread, process or machine: a :class:`PartialSums` holds only numbers and
arrays.

Floating-point addition is not associative, so the order in which the sums of
many blocks are added decides the last bits of the result.  Every path adds
them by the same fixed pairwise tree over the blocks' indices
(:class:`TreeSum`, :func:`tree_sum`): blocks 0 and 1, 2 and 3, … then those
pairs in pairs, and so on.  With rows partitioned into blocks of
``block_rows`` rows from the first (:func:`block_sums`), the sums of the same
data are the same to the last bit whether they are taken on one thread or
several, in memory, from a file or on a cluster: any 2^k consecutive blocks
starting at a multiple of 2^k form a subtree, which can be summed apart and
added in later.

Since s is applied at the finish, any ρ̂ can be used there: the data-wide mean
of eq. (4), or the running estimate of a minibatch run
(:mod:`sparseae.core.sparsity`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .kernel import (
    Settings,
    default_block_rows,
    n_workers,
    sum_blocks,
    takes_slope_sums,
)
from .params import Params
from .sparsity import sparsity_slope

__all__ = [
    "Evaluation",
    "LossTerms",
    "PartialSums",
    "TreeSum",
    "block_sums",
    "finish_sums",
    "resolve_block_rows",
    "tree_sum",
]

_GRADS = ("grad_W2", "grad_b2", "grad_W1", "grad_b1")


class LossTerms(NamedTuple):
    """The terms of the objective J (derivation eqs. 3 and 15).

    ``auxiliary`` is the auxiliary loss for dead units of eq. (15), 0 without
    ``aux_k``.
    """

    reconstruction: float
    weight_decay: float
    sparsity: float
    auxiliary: float = 0.0

    @property
    def total(self) -> float:
        """The objective J, the sum of the terms."""
        return self.reconstruction + self.weight_decay + self.sparsity + self.auxiliary


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
    fired : ndarray of bool, shape (n_hidden,), or None
        Whether each unit was non-zero on at least one of the rows (Σ a2 > 0),
        whatever the ρ̂ policy; what a training loop counts dead units by.
    """

    terms: LossTerms
    mean_activation: np.ndarray
    grads: Params | None
    fired: np.ndarray | None = None


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
        f'ᵀ X, which :func:`finish_sums` multiplies by β s.  Only the first,
        of shape (n_hidden, n_features), when β = 0
        (:func:`sparseae.core.kernel.takes_slope_sums`).
    grad_b1 : ndarray of shape (2 * n_hidden,) or None
        Σ δ3 W2 ⊙ f', then Σ f'; the first alone when β = 0.
    auxiliary : float
        Σ of the per-row auxiliary loss ½‖t‖² of eq. (15), in float64; 0
        without ``aux_k``.  Its gradient is in the four sums above.

    Notes
    -----
    The gradient sums are in the computation's floating type, the loss sums in
    float64.  ``a + b`` and ``b + a`` are equal to the last bit, but
    ``(a + b) + c`` and ``a + (b + c)`` need not be: :func:`tree_sum` adds
    many in the one order every path uses.

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
    >>> parts = [block_sums(params, settings, X[i:i + 32]) for i in range(0, 100, 32)]
    >>> total = tree_sum(parts)
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
    auxiliary: float = 0.0

    @property
    def has_grad(self) -> bool:
        """Whether the gradient sums are present."""
        return self.grad_W1 is not None

    def __add__(self, other: PartialSums) -> PartialSums:
        _check_compatible(self, other)
        grads = {}
        if self.has_grad:
            grads = {
                name: getattr(self, name) + getattr(other, name) for name in _GRADS
            }
        return PartialSums(
            self.n_rows + other.n_rows,
            self.reconstruction + other.reconstruction,
            self.a2_sum + other.a2_sum,
            **grads,
            auxiliary=self.auxiliary + other.auxiliary,
        )

    def __radd__(self, other) -> PartialSums:
        # sum() starts from 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @classmethod
    def empty(
        cls,
        n_features: int,
        n_hidden: int,
        dtype,
        grad: bool = True,
        slope_sums: bool = True,
    ):
        """Sums over no rows; ``slope_sums=False`` leaves out the β s half."""
        grads = {}
        if grad:
            hidden_rows = 2 * n_hidden if slope_sums else n_hidden
            grads = dict(
                grad_W2=np.zeros((n_features, n_hidden), dtype),
                grad_b2=np.zeros(n_features, dtype),
                grad_W1=np.zeros((hidden_rows, n_features), dtype),
                grad_b1=np.zeros(hidden_rows, dtype),
            )
        return cls(0, 0.0, np.zeros(n_hidden), **grads)


def _check_compatible(a, b):
    if not isinstance(b, PartialSums):
        raise TypeError(f"cannot add PartialSums and {type(b).__name__}")
    if a.has_grad != b.has_grad or a.a2_sum.shape != b.a2_sum.shape:
        raise ValueError(
            "cannot add partial sums of different problems: n_hidden "
            f"{a.a2_sum.shape[0]} with gradient={a.has_grad} and "
            f"{b.a2_sum.shape[0]} with gradient={b.has_grad}"
        )
    if a.has_grad and a.grad_W1.shape != b.grad_W1.shape:
        raise ValueError(
            "cannot add partial sums taken with and without the sparsity "
            f"term's half of eq. (11): grad_W1 of shapes {a.grad_W1.shape} "
            f"and {b.grad_W1.shape}; take both with the same settings"
        )


def _add_into(a: PartialSums, b: PartialSums) -> PartialSums:
    """``a + b`` written into ``a``'s arrays: the same bits, no new arrays."""
    _check_compatible(a, b)
    a.a2_sum[...] += b.a2_sum
    if a.has_grad:
        for name in _GRADS:
            getattr(a, name)[...] += getattr(b, name)
    return PartialSums(
        a.n_rows + b.n_rows,
        a.reconstruction + b.reconstruction,
        a.a2_sum,
        **{name: getattr(a, name) for name in _GRADS},
        auxiliary=a.auxiliary + b.auxiliary,
    )


class TreeSum:
    """Adds the sums of blocks 0, 1, 2, … by a fixed pairwise tree, as they come.

    Node ``(level, j)`` is the sum of blocks ``j·2^level`` to
    ``(j+1)·2^level − 1``: the sum of its two children, or its left child
    alone when the right one lies beyond the last block.  Blocks may be given
    in any order, from any thread; a node is added as soon as both children
    are in, so at most about log2(blocks) sums wait at a time when blocks come
    roughly in order.  The arrays of the sums given are reused (added into),
    so give each block's sums only once.

    Examples
    --------
    >>> tree = TreeSum()
    >>> for index in (2, 0, 1):
    ...     tree.add(index, PartialSums(1, float(index), np.zeros(1)))
    >>> tree.total().reconstruction  # (0 + 1) + 2
    3.0
    """

    def __init__(self):
        self._nodes: dict[tuple[int, int], PartialSums] = {}
        self._lock = threading.Lock()

    def add(self, index: int, part: PartialSums, level: int = 0) -> None:
        """Add the sums of block ``index`` (or of node ``(level, index)``)."""
        while True:
            with self._lock:
                sibling = self._nodes.pop((level, index ^ 1), None)
                if sibling is None:
                    self._nodes[(level, index)] = part
                    return
            # Both children are here and nobody else holds either: add them
            # outside the lock, then offer the parent.
            part = _add_into(part, sibling)
            level, index = level + 1, index >> 1

    def total(self) -> PartialSums | None:
        """The root, once every block is in; None when no block was given.

        What is left waiting are the nodes whose right sibling lies beyond the
        last block, one per level at most: the tree adds them right to left.
        """
        with self._lock:
            nodes = sorted(
                self._nodes.items(), key=lambda item: item[0][1] << item[0][0]
            )
            self._nodes = {}
        total = None
        for _, part in reversed(nodes):
            total = part if total is None else _add_into(part, total)
        return total


def tree_sum(parts) -> PartialSums:
    """Sums of consecutive blocks, added by the fixed pairwise tree of :class:`TreeSum`.

    Does not modify ``parts``.  The same as giving each to a :class:`TreeSum`
    with its position as index.

    Examples
    --------
    >>> parts = [PartialSums(1, x, np.zeros(1)) for x in (1.0, 1e100, -1e100)]
    >>> tree_sum(parts).reconstruction  # (1 + 1e100) + -1e100
    0.0
    """
    level = list(parts)
    if not level:
        raise ValueError("tree_sum needs at least one PartialSums, got none")
    while len(level) > 1:
        pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]


def resolve_block_rows(
    block_rows: int | None, n_rows: int, n_features: int, n_hidden: int
) -> int:
    """``block_rows`` checked, or its default for this shape when None.

    Examples
    --------
    >>> resolve_block_rows(None, 60_000, 784, 196), resolve_block_rows(500, 9, 8, 3)
    (1336, 500)
    """
    if block_rows is None:
        return default_block_rows(n_rows, n_features, n_hidden)
    if (
        isinstance(block_rows, bool)
        or not isinstance(block_rows, int | np.integer)
        or block_rows < 1
    ):
        raise ValueError(
            f"block_rows must be a positive integer or None, got {block_rows!r}"
        )
    return int(block_rows)


def block_sums(
    params: Params,
    settings: Settings,
    X: np.ndarray,
    *,
    grad: bool = True,
    block_rows: int | None = None,
    n_threads: int | None = None,
) -> PartialSums:
    """Partial sums of the objective, and of its gradient, over the rows ``X``.

    The rows are partitioned into blocks of ``block_rows`` rows from the
    first, each summed in one pass (eq. 11) by one of ``n_threads`` threads,
    and the blocks' sums added by :func:`tree_sum`'s fixed tree: the result
    does not depend on the number of threads.  When ``X`` is 2^k consecutive
    blocks of a larger array starting at a multiple of 2^k blocks (or its
    last, shorter run of blocks), the result is a node of that array's tree,
    so :func:`tree_sum` of such runs' sums equals ``block_sums`` of the whole
    to the last bit.

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
    block_rows : int, optional
        Rows per block; by default :func:`sparseae.core.kernel.default_block_rows`
        of ``X``'s shape.  Pass the same value for every part of one data set.
    n_threads : int, optional
        Threads to use; by default as many as the BLAS may use when the rows
        are enough to gain from them.

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
    if m == 0:
        return PartialSums.empty(n, h, X.dtype, grad, takes_slope_sums(settings))
    block_rows = resolve_block_rows(block_rows, m, n, h)
    if n_threads is None:
        n_threads = n_workers(m, n, h)
    tree = TreeSum()
    sum_blocks(
        params,
        settings,
        X,
        block_rows,
        lambda index, fields: tree.add(index, PartialSums(**fields)),
        grad=grad,
        n_threads=n_threads,
    )
    return tree.total()


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
    auxiliary = 0.0
    if settings.aux_k is not None:
        auxiliary = settings.aux_weight * total.auxiliary / m  # eq. (15)
    terms = LossTerms(  # eq. (3)
        total.reconstruction / m,
        float(0.5 * lam * (np.vdot(W1, W1) + np.vdot(W2, W2))),
        float(settings.beta * penalty.sum()),
        auxiliary,
    )
    fired = total.a2_sum > 0
    if not total.has_grad:
        return Evaluation(terms, rho_hat, None, fired)
    grads = Params.zeros(params.n_features, h, dtype=dtype)
    gW1, gb1, gW2, gb2 = grads
    np.divide(total.grad_W2, m, out=gW2)  # eq. (9)
    gW2 += lam * W2
    np.divide(total.grad_b2, m, out=gb2)
    gW1[...] = total.grad_W1[:h]
    gb1[...] = total.grad_b1[:h]
    if total.grad_W1.shape[0] == 2 * h:
        # The β s f'ᵀ X half of eq. (11), now that ρ̂ is known, multiplied in
        # float64: for a unit driven off, β s is huge and f'ᵀ X tiny (about
        # −βρ/ρ̂ and ρ̂ m x̄), and float32 would hold neither.
        gW1 += s[:, None] * total.grad_W1[h:]
        gb1 += s * total.grad_b1[h:]
    elif np.any(s != 0):
        raise ValueError(
            "these sums leave out the sparsity term's half of eq. (11), taken "
            f"only when sparsity_weight != 0, but sparsity_weight is {settings.beta}"
        )
    gW1 /= m  # eq. (10)
    gW1 += lam * W1
    gb1 /= m
    return Evaluation(terms, rho_hat, grads, fired)
