"""The objective's sums over one block of rows, in memory and fast.

Every term of J and of its gradient is a sum over samples, except that the
hidden error δ2 needs ρ̂, a mean over all of them.  ``docs/derivation.md``
eq. (11) splits ∇W1 and ∇b1 so that every sum can be taken block by block,

    m ∇W1 = (δ3 W2 ⊙ f')ᵀ X + diag(β s) f'ᵀ X + m λ W1,

at the price of one more product, f'ᵀ X, taken together with the first as one
product of twice the width.  When β = 0 (no sparsity term, as for top-k codes)
β s is 0 and that half is never taken (:func:`takes_slope_sums`).

With ``aux_k`` the auxiliary loss for dead units of eq. (15) is summed in the
same pass and into the same buffers: its error t = W2 (a2 + u) + b2 − x adds
α tᵀ (a2 + u) to Σ δ3ᵀ a2, α t to Σ δ3 and α (t W2) ⊙ 1[a2 + u > 0] to the
hidden error, and ½‖t‖² to a sum of its own.  Without it the kernel does not
touch any of this.

The rows are partitioned into blocks of ``block_rows`` rows, counted from the
first row: the partition depends on the number of rows and ``block_rows``
only, never on threads or workers.  Each block is summed by one thread, in
cache-sized tiles whose sums it adds in order, into sums of its own; how the
blocks' sums add up is fixed too (:class:`~sparseae.core.partial_sums.TreeSum`),
so the result is the same to the last bit on one thread or many, in memory, from
a file or on a cluster.

:class:`BlockSums` holds one thread's buffers, sized to one tile, and the sums
of the block it is working on.  Buffers are reused and every operation writes
into them, so a tile allocates nothing of its size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .activations import activate_, auxiliary_code_, sigmoid_, slope
from .penalties import Penalty
from .threads import WorkerPool, available_workers

__all__ = [
    "BlockSums",
    "sigmoid_",
    "Settings",
    "default_block_rows",
    "n_workers",
    "sum_blocks",
    "takes_slope_sums",
    "tile_rows",
]

# Rows per tile: the (rows, n) buffers of a thread then stay in its core's L2
# cache between the operations that reuse them, and still give the BLAS
# products long enough to run at full speed.
_TILE_ELEMENTS = 1 << 18
# Tiles per block by default: a block's sums (3 n h numbers) are added once
# per block, which is noise next to its products.
_TILES_PER_BLOCK = 4
# At least this many blocks by default when the rows allow, so that two
# threads share the work (a thread ends at most one block after the other);
# more, smaller blocks cost more in calls than they gain in balance (the
# classic 10,000 x 64 -> 25 ran 1.3 times slower in blocks of 625 rows than
# of 2,500).
_MIN_BLOCKS = 4
_MIN_BLOCK_ROWS = 256
# Below this many multiply-adds per product (m n h, here 8 Mi), handing
# blocks to another thread costs more than it saves.  The classic 10,000 x 64
# -> 25 problem (16 Mi) ran 1.5 times faster in float64 with the second thread
# on a quiet machine, the same in float32, and up to twice slower while other
# processes held the other core.
_PARALLEL_WORK = 1 << 23


class Settings(NamedTuple):
    """Hyperparameters of the objective, already checked.

    ``aux_k`` switches on the auxiliary loss of eq. (15), with weight
    ``aux_weight`` and the dead units ``dead`` (bool, (n_hidden,); None for
    none), an input held fixed during one evaluation: a training loop hands
    each evaluation its own with ``settings._replace(dead=...)``.
    """

    rho: float
    beta: float
    lam: float
    penalty: Penalty
    output: str
    loss: str
    activation: str = "sigmoid"
    k: int | None = None
    aux_k: int | None = None
    aux_weight: float = 1 / 32
    dead: np.ndarray | None = None


def takes_slope_sums(settings: Settings) -> bool:
    """Whether the sums include f'ᵀ X and Σ f', the half of eq. (11) times β s.

    Not when β = 0: that half would only ever be multiplied by zero, and
    leaving it out saves a sixth of the products.
    """
    return settings.beta != 0


def tile_rows(n_features: int, n_hidden: int) -> int:
    """Rows per cache-sized tile of an ``n_features``-``n_hidden`` autoencoder."""
    return max(16, _TILE_ELEMENTS // max(n_features, 2 * n_hidden))


def default_block_rows(n_rows: int, n_features: int, n_hidden: int) -> int:
    """Rows per block when ``block_rows`` is not given.

    Four tiles, or fewer rows when that leaves fewer than 4 blocks, but not
    fewer than 256 rows (a minibatch is one block); a function of the shape
    alone, so every path that sums the same data partitions it the same way.

    Examples
    --------
    >>> default_block_rows(60_000, 784, 196), default_block_rows(10_000, 64, 25)
    (1336, 2500)
    >>> default_block_rows(200, 64, 25)
    200
    """
    rows = _TILES_PER_BLOCK * tile_rows(n_features, n_hidden)
    rows = min(rows, -(-n_rows // _MIN_BLOCKS))
    return max(1, rows, min(n_rows, _MIN_BLOCK_ROWS))


class BlockSums:
    """One thread's buffers, and the sums of the block it is summing.

    Parameters
    ----------
    params : Params
        Weights, in the computation's floating type.
    settings : Settings
        Hyperparameters.
    rows : int
        Rows of the largest tile.
    grad : bool
        Whether to compute the gradient sums.
    """

    def __init__(self, params, settings, rows, *, grad):
        n, h, dtype = params.n_features, params.n_hidden, params.dtype
        self.params, self.settings, self.grad = params, settings, grad
        self.A = np.empty((rows, h), dtype)  # a2 of the tile
        ZT = np.empty((2, rows, n), dtype)
        self.Z = ZT[0]  # z3, then x̂, then 1 − x̂
        self.T = ZT[1]  # x̂ − x, then δ3
        self._ones = np.ones(rows, dtype)
        # Rows of the ∇W1 sums: both halves of eq. (11), or the first alone.
        self._hidden_rows = 2 * h if takes_slope_sums(settings) else h
        if grad:
            # (rows, 2h): the left half is δ3 W2, the right half f'; one product
            # with X then gives both sums of eq. (11) (the left alone when
            # the right is not taken).
            self.S = np.empty((rows, 2 * h), dtype)
            # Scratch for the products added to a block's sums.  The (n, h)
            # one is used once Z is spent and the (2h, n) one once Z and T
            # are, so when the tile has at least h rows they take Z and T's
            # memory: 3 n h numbers less per thread (docs/performance.md).
            flat = ZT.reshape(-1)
            hidden_rows = self._hidden_rows
            if rows >= h:
                self._nh = flat[: n * h].reshape(n, h)
                self._hn = flat[: hidden_rows * n].reshape(hidden_rows, n)
            else:
                self._nh = np.empty((n, h), dtype)
                self._hn = np.empty((hidden_rows, n), dtype)
        self.aux = settings.aux_k is not None
        dead = settings.dead
        # With no dead unit u = 0 and t = δ3: the term is α times the
        # reconstruction loss and its gradient α times the output error's, so
        # the tile scales δ3 by 1 + α (:meth:`output`) and needs no buffer.
        self._dead_units = self.aux and dead is not None and bool(dead.any())
        if self._dead_units:
            self._alive = np.flatnonzero(~dead)
            self.U = np.empty((rows, h), dtype)  # z2, then u, then a2 + u, eq. (15)
            self.R = np.empty((rows, n), dtype)  # t, then α t
            self._silent = np.empty((rows, h), bool)
            if grad:
                self.Q = np.empty((rows, h), dtype)  # α t W2
        self.start()

    def start(self) -> None:
        """Begin a block: its sums are new arrays, filled by its first tile."""
        n, h, dtype = self.params.n_features, self.params.n_hidden, self.params.dtype
        self.first = True
        self.reconstruction = 0.0  # Python floats: the loss sums in float64
        self.auxiliary = 0.0
        self.a2_sum = np.zeros(h)
        if self.grad:
            self.gW2 = np.empty((n, h), dtype)
            self.gb2 = np.empty(n, dtype)
            self.gW1 = np.empty((self._hidden_rows, n), dtype)
            self.gb1 = np.empty(self._hidden_rows, dtype)

    def fields(self, n_rows: int) -> dict:
        """The block's sums, named as the fields of ``PartialSums``."""
        fields = dict(
            n_rows=n_rows, reconstruction=self.reconstruction, a2_sum=self.a2_sum
        )
        if self.aux:
            fields["auxiliary"] = self.auxiliary
        if self.grad:
            fields.update(
                grad_W2=self.gW2, grad_b2=self.gb2, grad_W1=self.gW1, grad_b1=self.gb1
            )
        return fields

    def _column_sums(self, M):
        # A product with ones: several times faster than M.sum(axis=0) on the
        # tall, narrow tiles here.
        return self._ones[: M.shape[0]] @ M

    def _product(self, a, b, total, scratch):
        """Add the product ``a @ b`` to ``total``.

        The first tile's product goes straight into ``total``: 0 + x = x
        exactly, so that is the same as adding it to zeros.
        """
        if self.first:
            np.matmul(a, b, out=total)
        else:
            np.matmul(a, b, out=scratch)
            total += scratch

    def _column_sum(self, total, M):
        if self.first:
            total[...] = self._column_sums(M)
        else:
            total += self._column_sums(M)

    def add_tile(self, X) -> None:
        """Add the rows ``X`` (a C-ordered tile) to the block's sums."""
        A = self.A[: X.shape[0]]
        self.encode(X, A)
        self.output(X, A)
        if self._dead_units:
            self.auxiliary_output(X, A)
        if self.grad:
            self.hidden(X, A)
        self.first = False

    def encode(self, X, A):
        """Write a2 of the rows ``X`` into ``A`` and add them to Σ a2.

        With the auxiliary loss, also the code u of eq. (15) into ``U``.
        """
        settings = self.settings
        np.matmul(X, self.params.W1.T, out=A)  # (rows, h), eq. (1)
        A += self.params.b1
        if self._dead_units:
            U = self.U[: X.shape[0]]
            np.copyto(U, A)  # z2, before activate_ overwrites it
        activate_(A, settings.activation, settings.k)
        if self._dead_units:
            silent = self._silent[: X.shape[0]]
            auxiliary_code_(U, A, self._alive, settings.aux_k, silent)
        self.a2_sum += self._column_sums(A)  # m ρ̂, eq. (4)

    def output(self, X, A):
        """Add the tile's reconstruction loss and, if asked, its output sums.

        Leaves δ3 W2 in the left half of ``S`` for :meth:`hidden`.
        """
        settings, (_, _, W2, b2) = self.settings, self.params
        rows = X.shape[0]
        Z, T = self.Z[:rows], self.T[:rows]
        np.matmul(A, W2.T, out=Z)  # (rows, n), eq. (2)
        Z += b2
        if settings.loss == "cross_entropy":
            # −[x log x̂ + (1 − x) log(1 − x̂)] = softplus(z3) − x z3, eq. (3),
            # finite even where x̂ rounds to 0 or 1, summed as its two parts
            # log(1 + e^−|z3|) and (1[z3 > 0] − x) z3, each >= 0 for x in
            # [0, 1]: Σ softplus(z3) − Σ x z3 cancelled, by far more than the
            # loss itself once the fit is good (negative losses in float32).
            np.abs(Z, out=T)
            np.negative(T, out=T)
            np.exp(T, out=T)
            np.log1p(T, out=T)
            loss = float(T.sum())
            np.greater(Z, 0, out=T)
            T -= X
            T *= Z
            self.reconstruction += loss + float(T.sum())
            np.subtract(sigmoid_(Z), X, out=T)  # δ3 = x̂ − x, eq. (6b)
        else:
            if settings.output == "sigmoid":
                sigmoid_(Z)
            np.subtract(Z, X, out=T)
            loss = 0.5 * float(np.vdot(T, T))
            self.reconstruction += loss  # eq. (3)
            if self.aux and not self._dead_units:
                self.auxiliary += loss  # eq. (15) with u = 0: t = δ3
                if self.grad:
                    T *= 1 + self.settings.aux_weight
            if settings.output == "sigmoid":
                T *= Z
                np.subtract(1, Z, out=Z)
                T *= Z  # δ3 = (x̂ − x) x̂ (1 − x̂), eq. (6)
        if not self.grad:
            return
        self._product(T.T, A, self.gW2, self._nh)  # eq. (9)
        self._column_sum(self.gb2, T)
        np.matmul(T, W2, out=self.S[:rows, : A.shape[1]])  # δ3 W2, eq. (8)

    def auxiliary_output(self, X, A):
        """Add the tile's auxiliary loss of eq. (15) and, if asked, its output sums.

        Needs δ3 = x̂ − x in ``T`` (linear output, squared error) and u in
        ``U``; adds to the output sums of :meth:`output` and leaves
        α t W2 in ``Q`` and a2 + u in ``U`` for :meth:`hidden`.
        """
        rows = X.shape[0]
        W2, T = self.params.W2, self.T[:rows]
        U, R = self.U[:rows], self.R[:rows]
        np.matmul(U, W2.T, out=R)
        R += T  # t = W2 (a2 + u) + b2 − x, eq. (15)
        self.auxiliary += 0.5 * float(np.vdot(R, R))
        if not self.grad:
            return
        R *= self.settings.aux_weight
        U += A  # a2 + u: the supports are disjoint
        np.matmul(R.T, U, out=self._nh)
        self.gW2 += self._nh  # α tᵀ (a2 + u)
        self.gb2 += self._column_sums(R)
        np.matmul(R, W2, out=self.Q[:rows])  # α t W2

    def hidden(self, X, A):
        """Add the tile's two hidden-layer sums of eq. (11) (and of eq. 15)."""
        rows, h = A.shape
        S = self.S[:rows]
        error, f_prime = S[:, :h], S[:, h:]
        slope(A, self.settings.activation, out=f_prime)  # f'(z2) from a2
        error *= f_prime  # δ3 W2 ⊙ f', eq. (11)
        if self._dead_units:
            Q, silent = self.Q[:rows], self._silent[:rows]
            np.greater(self.U[:rows], 0, out=silent)
            Q *= silent
            error += Q  # + α (t W2) ⊙ 1[a2 + u > 0], eq. (15)
        taken = S[:, : self._hidden_rows]
        self._product(taken.T, X, self.gW1, self._hn)  # the products of eq. (11)
        self._column_sum(self.gb1, taken)


def _tiles(n_rows: int, largest: int) -> int:
    """Rows per tile so that a block of ``n_rows`` splits into even tiles."""
    count = -(-n_rows // largest)
    return -(-n_rows // count)


def sum_blocks(
    params,
    settings: Settings,
    X,
    block_rows: int,
    emit: Callable[[int, dict], None],
    *,
    grad: bool = True,
    n_threads: int = 1,
) -> None:
    """Sum every block of ``block_rows`` rows of ``X``, on ``n_threads`` threads.

    ``emit(index, fields)`` receives each block's sums (the fields of
    ``PartialSums``, as new arrays) with its index from 0, from whichever
    thread summed it, as soon as it is done.  A block's tiles, and so its
    sums, depend on ``block_rows`` and the shape alone.
    """
    m, n, h = X.shape[0], params.n_features, params.n_hidden
    dead = settings.dead
    if settings.aux_k is not None and dead is not None and dead.shape != (h,):
        raise ValueError(
            f"dead must have shape ({h},), one flag per hidden unit, got {dead.shape}"
        )
    tile = _tiles(block_rows, tile_rows(n, h))
    n_threads = max(1, min(n_threads, -(-m // block_rows)))
    workers = [
        BlockSums(params, settings, min(tile, m), grad=grad) for _ in range(n_threads)
    ]

    def task(sums, start, stop):
        for begin in range(start, stop, tile):
            sums.add_tile(_rows(X, begin, min(begin + tile, stop)))
        fields = sums.fields(stop - start)
        sums.start()
        emit(start // block_rows, fields)

    with WorkerPool(n_threads) as pool:
        pool.run_blocks(task, workers, n_rows=m, block_rows=block_rows)


def _rows(X, start, stop):
    """The rows ``start:stop`` of ``X`` as a C-ordered array.

    A sparse matrix (CSR, whose rows are cheap to slice) is densified here,
    one tile at a time, so that it goes through the same kernel as an array
    without ever needing memory for all of its zeros.
    """
    if hasattr(X, "toarray"):
        return X[start:stop].toarray()
    return np.ascontiguousarray(X[start:stop])


def n_workers(m: int, n: int, h: int) -> int:
    """Threads worth starting for ``m`` rows of an n-h-n autoencoder."""
    if m * n * h < _PARALLEL_WORK:
        return 1
    return available_workers()
