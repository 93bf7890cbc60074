"""The objective and its gradient as sums over row blocks, in memory and fast.

Every term of J and of its gradient is a sum over samples, except that the
hidden error δ2 needs ρ̂, a mean over all of them.  ``docs/derivation.md``
eq. (11) splits ∇W1 and ∇b1 so that every sum can be taken block by block,

    m ∇W1 = (δ3 W2 ⊙ f')ᵀ X + diag(β s) f'ᵀ X + m λ W1,

at the price of one more product, f'ᵀ X.  Two ways of going over the data are
built from the same block operations:

- one pass (``BlockSums(deferred=True)``): forward, output error and both
  hidden sums of eq. (11) in each block; memory is one block of activations.
- two passes over in-memory data: the first keeps a2 of as many rows as a
  memory budget allows (one pass for the rest) and gives ρ̂, the second
  gives the kept rows the exact δ2 of eq. (8); five products instead of six
  for each kept row, for h more numbers in memory.

Each worker thread owns one ``BlockSums``: its buffers, sized to one block,
and its running sums, added together at the end into a
:class:`~sparseae.core.partial_sums.PartialSums`, which
:func:`~sparseae.core.partial_sums.finish_sums` turns into the loss and
gradient.  Buffers are reused and every operation writes into them, so a block
allocates nothing of its size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .penalties import Penalty
from .sparsity import sparsity_slope
from .threads import available_workers

__all__ = [
    "BlockSums",
    "Settings",
    "block_rows",
    "n_workers",
    "new_workers",
    "one_pass",
    "two_passes",
]

# Rows per block: the (rows, n) buffers of a worker then stay in its core's
# L2 cache between the operations that reuse them, and still give the BLAS
# products long enough to run at full speed.
_BLOCK_ELEMENTS = 1 << 18
# Below this many multiply-adds per product (m n h, here 8 Mi), handing
# blocks to another thread costs more than it saves.  The classic 10,000 x 64
# -> 25 problem (16 Mi) ran 1.5 times faster in float64 with the second thread
# on a quiet machine, the same in float32, and up to twice slower while other
# processes held the other core.
_PARALLEL_WORK = 1 << 23


class Settings(NamedTuple):
    """Hyperparameters of the objective, already checked."""

    rho: float
    beta: float
    lam: float
    penalty: Penalty
    output: str
    loss: str


def block_rows(n_features: int, n_hidden: int) -> int:
    """Rows per block for ``n_features`` visible and ``n_hidden`` hidden units."""
    return max(16, _BLOCK_ELEMENTS // max(n_features, 2 * n_hidden))


def sigmoid_(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid in place, as ½ + ½ tanh(z/2).

    NumPy's vectorised tanh is many times faster than ``scipy.special.expit``
    and cannot overflow; the result is exact to a few ulps of 1, which is all
    the objective needs (it uses a2 and x̂ in sums and differences, never in
    ratios).
    """
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


class BlockSums:
    """One worker's buffers and running sums for one evaluation.

    Parameters
    ----------
    params : Params
        Weights, in the computation's floating type.
    settings : Settings
        Hyperparameters.
    rows : int
        Largest block this worker is given.
    grad : bool
        Whether to compute the gradient sums.
    deferred : bool
        Make room for the sums of eq. (11), which do not need ρ̂; without
        it, every block must be given β s for the sums of eq. (10).
    """

    def __init__(self, params, settings, rows, *, grad, deferred):
        n, h, dtype = params.n_features, params.n_hidden, params.dtype
        self.params, self.settings = params, settings
        self.grad, self.deferred = grad, deferred
        self.A = np.empty((rows, h), dtype)  # a2 of the block, when not kept
        self.Z = np.empty((rows, n), dtype)  # z3, then x̂, then 1 − x̂
        self.T = np.empty((rows, n), dtype)  # x̂ − x, then δ3
        self.reconstruction = 0.0  # Python floats: the loss sums in float64
        self._ones = np.ones(rows, dtype)
        self.a2_sum = np.zeros(h)
        if not grad:
            return
        # (rows, 2h): the left half is δ3 W2, the right half f'; one product
        # with X then gives both sums of eq. (11).
        self.S = np.empty((rows, 2 * h), dtype)
        self.gW2 = np.zeros((n, h), dtype)
        self.gb2 = np.zeros(n, dtype)
        self.gW1 = np.zeros((2 * h if deferred else h, n), dtype)
        self.gb1 = np.zeros(2 * h if deferred else h, dtype)
        self._nh = np.empty((n, h), dtype)
        self._hn = np.empty_like(self.gW1)

    def _column_sums(self, M):
        # A product with ones: several times faster than M.sum(axis=0) on the
        # tall, narrow blocks here.
        return self._ones[: M.shape[0]] @ M

    def encode(self, X, A):
        """Write a2 of the rows ``X`` into ``A`` and add them to Σ a2."""
        np.matmul(X, self.params.W1.T, out=A)  # (rows, h), eq. (1)
        A += self.params.b1
        sigmoid_(A)
        self.a2_sum += self._column_sums(A)  # m ρ̂, eq. (4)

    def output(self, X, A):
        """Add the block's reconstruction loss and, if asked, its output sums.

        Leaves δ3 W2 in the left half of ``S`` for :meth:`hidden`.
        """
        settings, (_, _, W2, b2) = self.settings, self.params
        rows = X.shape[0]
        Z, T = self.Z[:rows], self.T[:rows]
        np.matmul(A, W2.T, out=Z)  # (rows, n), eq. (2)
        Z += b2
        if settings.loss == "cross_entropy":
            # −[x log x̂ + (1 − x) log(1 − x̂)] = softplus(z3) − x z3, eq. (3),
            # finite even where x̂ rounds to 0 or 1.
            np.logaddexp(0, Z, out=T)
            self.reconstruction += float(T.sum()) - float(np.vdot(X, Z))
            np.subtract(sigmoid_(Z), X, out=T)  # δ3 = x̂ − x, eq. (6b)
        else:
            if settings.output == "sigmoid":
                sigmoid_(Z)
            np.subtract(Z, X, out=T)
            self.reconstruction += 0.5 * float(np.vdot(T, T))  # eq. (3)
            if settings.output == "sigmoid":
                T *= Z
                np.subtract(1, Z, out=Z)
                T *= Z  # δ3 = (x̂ − x) x̂ (1 − x̂), eq. (6)
        if not self.grad:
            return
        np.matmul(T.T, A, out=self._nh)  # eq. (9)
        self.gW2 += self._nh
        self.gb2 += self._column_sums(T)
        np.matmul(T, W2, out=self.S[:rows, : A.shape[1]])  # δ3 W2, eq. (8)

    def hidden(self, X, A, s=None):
        """Add the block's hidden-layer sums: eq. (11), or eq. (10) given s."""
        rows, h = A.shape
        S = self.S[:rows]
        error, slope = S[:, :h], S[:, h:]
        np.subtract(1, A, out=slope)
        slope *= A  # f'(z2) = a2 (1 − a2)
        if s is None:
            error *= slope  # δ3 W2 ⊙ f', eq. (11)
            product, width = S, 2 * h
        else:
            error += s  # δ2 = (δ3 W2 + β s) ⊙ f', eq. (8)
            error *= slope
            product, width = error, h
        out = self._hn[:width]
        np.matmul(product.T, X, out=out)  # eq. (10) or (11)
        self.gW1[:width] += out
        self.gb1[:width] += self._column_sums(product)

    def add(self, other: BlockSums) -> None:
        """Add another worker's sums to these."""
        self.reconstruction += other.reconstruction
        self.a2_sum += other.a2_sum
        if self.grad:
            for name in ("gW2", "gb2", "gW1", "gb1"):
                getattr(self, name)[...] += getattr(other, name)


def one_pass(pool, workers, X) -> None:
    """Add every row block of ``X`` to the workers' sums (eq. 11 if grad)."""
    rows = _even_blocks(X.shape[0], workers[0].A.shape[0], pool.n_workers)

    def task(sums, start, stop):
        block = np.ascontiguousarray(X[start:stop])
        A = sums.A[: stop - start]
        sums.encode(block, A)
        sums.output(block, A)
        if sums.grad:
            sums.hidden(block, A)

    pool.run_blocks(task, workers, n_rows=X.shape[0], block_rows=rows)


def two_passes(
    pool, workers, X, settings, kept, previous_rho_hat=None, rho_decay=0.0
) -> None:
    """Add ``X`` to the workers' sums, keeping a2 of its first ``kept`` rows.

    Those rows are encoded first and their a2 kept; the other rows go through
    :func:`one_pass`; then, with ρ̂ known (or the running estimate formed from
    it and ``previous_rho_hat``, :mod:`sparseae.core.sparsity`), the kept rows
    get the exact δ2 of eq. (8).  Five products for a kept row, six for the
    others.
    """
    m, (largest, h) = X.shape[0], workers[0].A.shape
    rows = _even_blocks(kept, largest, pool.n_workers)
    a2 = np.empty((kept, h), workers[0].A.dtype)  # (kept, h)
    pool.run_blocks(
        lambda sums, start, stop: sums.encode(X[start:stop], a2[start:stop]),
        workers,
        n_rows=kept,
        block_rows=rows,
    )
    if kept < m:
        one_pass(pool, workers, X[kept:])
    a2_sum = np.sum([sums.a2_sum for sums in workers], axis=0)
    s = sparsity_slope(a2_sum, m, settings, a2.dtype, previous_rho_hat, rho_decay)[2]
    s = s.astype(a2.dtype)

    def task(sums, start, stop):
        block = np.ascontiguousarray(X[start:stop])
        sums.output(block, a2[start:stop])
        sums.hidden(block, a2[start:stop], s)

    pool.run_blocks(task, workers, n_rows=kept, block_rows=rows)


def _even_blocks(m, largest, workers):
    """Rows per block so that the blocks share out evenly between workers."""
    count = -(-m // largest)
    count = -(-count // workers) * workers
    return -(-m // count)


def n_workers(m: int, n: int, h: int) -> int:
    """Threads worth starting for ``m`` rows of an n-h-n autoencoder."""
    if m * n * h < _PARALLEL_WORK:
        return 1
    return min(available_workers(), -(-m // block_rows(n, h)))


def new_workers(params, settings, count, grad, deferred, rows=None):
    """``count`` sets of buffers and sums, for blocks of up to ``rows`` rows."""
    rows = min(block_rows(params.n_features, params.n_hidden), rows or np.inf)
    return [
        BlockSums(params, settings, rows, grad=grad, deferred=deferred)
        for _ in range(count)
    ]
