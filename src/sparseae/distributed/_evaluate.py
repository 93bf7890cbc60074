"""The objective of data on a Dask cluster: map the block sums, reduce by a fixed tree.

One evaluation sends θ once to the cluster, sums every row chunk of the
data where it lies (:func:`sparseae.core.partial_sums.block_sums`, one task per
chunk), adds the chunks' sums by the fixed pairwise tree over their indices
(one task per addition, so only the root comes back to the client) and
finishes the sums on the client (:func:`~sparseae.core.partial_sums.finish_sums`).

Each chunk holds 2^k whole blocks of ``block_rows`` rows and starts at a
multiple of them (:func:`align`), so its sums are a node of the tree over all
the blocks and the total is the in-memory one to the last bit
(``docs/distributed.md``).  The data are read by tasks of their own graph (a
zarr store, row ranges of a ``.npy`` file, or any dask array), never sent from
the client, so the scheduler can compute a lost worker's chunks again.
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
from threadpoolctl import threadpool_limits

from ..core.params import Params
from ..core.partial_sums import PartialSums, block_sums, finish_sums

__all__ = ["ClusterData", "align", "chunk_sums", "default_client"]

# Evaluations tried before giving up when workers keep disappearing.
_ATTEMPTS = 5
# Seconds to wait, after losing workers, for one to be there again.
WORKER_WAIT = 60


def _lost_errors():
    """What a client raises when a worker dies under a computation."""
    from concurrent.futures import CancelledError

    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker

    return (
        CommClosedError,
        FutureCancelledError,
        CancelledError,
        KilledWorker,
        OSError,
    )


def default_client():
    """The current ``distributed.Client``, or None (dask's local scheduler)."""
    from distributed import default_client as current

    try:
        return current()
    except ValueError:
        return None


def align(X: da.Array, block_rows: int) -> da.Array:
    """``X`` in row chunks of ``block_rows · 2^k`` rows and one column chunk.

    ``k`` is the largest that keeps a chunk within the largest of ``X``'s own
    row chunks (at least one block), so a chunking chosen for the cluster is
    kept as nearly as the tree allows.
    """
    largest = max(X.chunks[0]) if X.shape[0] else block_rows
    rows = block_rows
    while rows * 2 <= largest:
        rows *= 2
    if X.chunks[0][:-1] and set(X.chunks[0][:-1]) == {rows} and len(X.chunks[1]) == 1:
        return X
    return X.rechunk({0: rows, 1: -1})


def chunk_sums(theta, X, settings, n_hidden, block_rows, grad) -> PartialSums:
    """The sums of one chunk of rows, on a worker (one thread: Dask runs many)."""
    X = np.asarray(X)
    params = Params.from_vector(theta.astype(X.dtype, copy=False), X.shape[1], n_hidden)
    return block_sums(
        params, settings, X, grad=grad, block_rows=block_rows, n_threads=1
    )


def _block_digests(X, block_rows) -> list[bytes]:
    """A digest of each block of ``block_rows`` rows of one chunk, on a worker."""
    X = np.asarray(X)
    return [
        hashlib.blake2b(
            np.ascontiguousarray(X[start : start + block_rows]).data, digest_size=16
        ).digest()
        for start in range(0, X.shape[0], block_rows)
    ]


def batch_sums(theta, X, rows, settings, n_hidden, grad) -> PartialSums:
    """The sums of the rows ``rows`` (indices into this chunk) of one chunk."""
    X = np.asarray(X)
    params = Params.from_vector(theta.astype(X.dtype, copy=False), X.shape[1], n_hidden)
    return block_sums(
        params, settings, X[rows], grad=grad, block_rows=max(1, len(rows)), n_threads=1
    )


def _pairs(parts, add):
    """Add ``parts`` by the fixed pairwise tree, with ``add(a, b)`` as a task."""
    while len(parts) > 1:
        paired = [add(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        parts = paired + parts[len(parts) - len(parts) % 2 :]
    return parts[0]


@dataclass(eq=False)
class ClusterData:
    """A dask array prepared for evaluations: aligned, and on the cluster.

    With a client the chunks are persisted on the workers (each evaluation
    reads them there); without one, every evaluation reads them again through
    dask's local scheduler, so data larger than memory stream from disk.
    """

    X: da.Array
    block_rows: int
    n_hidden: int
    client: object = None
    # :meth:`fingerprint` of the rows, once the estimator has taken it.
    content: str = field(default="", init=False)

    def __post_init__(self):
        self.starts = np.concatenate([[0], np.cumsum(self.X.chunks[0])])
        if self.client is None:
            self._chunks = list(self.X.to_delayed().ravel())
            return
        self.X = self.client.persist(self.X)
        from distributed import futures_of

        futures = {future.key: future for future in futures_of(self.X)}
        keys = [key for row in self.X.__dask_keys__() for key in row]
        self._chunks = [futures[key] for key in keys]

    @property
    def shape(self):
        """The data's shape."""
        return self.X.shape

    @property
    def dtype(self):
        """The data's floating type."""
        return self.X.dtype

    def block_digests(self):
        """A delayed list of each chunk's list of its blocks' digests, in order.

        Blocks of ``block_rows`` rows never straddle two chunks (:func:`align`),
        so the digests, and :meth:`fingerprint` of them, are the same however
        the rows are chunked.
        """
        chunks = self.X.to_delayed().ravel()
        digest = dask.delayed(_block_digests, pure=True)
        return dask.delayed(list)([digest(chunk, self.block_rows) for chunk in chunks])

    def fingerprint(self, digests) -> str:
        """The rows' shape, type and bytes as one digest, from the block digests."""
        total = hashlib.blake2b(
            f"blocks of {self.block_rows} rows:{self.shape}:{self.dtype.str}".encode(),
            digest_size=16,
        )
        for chunk in digests:
            for block in chunk:
                total.update(block)
        return "dask-rows:" + total.hexdigest()

    def largest_magnitude(self) -> float:
        """The largest |x| of the rows, for messages about data too large."""
        (largest,) = self.compute(abs(self.X).max())
        return float(largest)

    def compute(self, *collections):
        """Compute dask collections here or on the cluster."""
        if self.client is None:
            return dask.compute(*collections)
        return self.client.compute(list(collections), sync=True)

    def _map(self, function, theta, arguments_per_chunk):
        """``function(θ, chunk, *arguments)`` on each chunk, added by the tree."""
        # On dask's local scheduler or a cluster of threads the chunks are
        # summed in threads of this process, where OpenBLAS has one thread
        # count, held by whichever thread set it: during a fit, this one (the
        # solver sets it around every evaluation).  So it is set to one here,
        # as every chunk's pool would set it in a process of its own.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._map_limited(function, theta, arguments_per_chunk)

    def _map_limited(self, function, theta, arguments_per_chunk):
        # Every chunk casts θ to the data's type, so casting it here first
        # gives the same bits and sends half as much for float32 data.
        theta = np.asarray(theta).astype(self.dtype, copy=False)
        if self.client is None:
            theta = dask.delayed(theta)
            parts = [
                dask.delayed(function, pure=False)(theta, chunk, *arguments)
                for chunk, arguments in zip(
                    self._chunks, arguments_per_chunk, strict=True
                )
                if arguments is not None
            ]
            add = dask.delayed(operator.add, pure=False)
            return dask.compute(_pairs(parts, add))[0]
        for attempt in range(_ATTEMPTS):
            try:
                return self._map_once(function, theta, arguments_per_chunk)
            except _lost_errors() as error:
                # A worker died under the evaluation (θ's copy on it, or a
                # transfer from it, is gone): its chunks are read again from
                # their graph, and the same sums come out, so the evaluation is
                # simply repeated.
                if attempt == _ATTEMPTS - 1:
                    raise ConnectionError(
                        f"the evaluation failed {_ATTEMPTS} times as workers were "
                        f"lost ({type(error).__name__}: {error}); is the cluster up?"
                    ) from error
                try:
                    self.client.wait_for_workers(1, timeout=WORKER_WAIT)
                except TimeoutError:
                    raise ConnectionError(
                        f"workers were lost ({type(error).__name__}: {error}) and "
                        f"none joined again within {WORKER_WAIT} s; is the cluster up?"
                    ) from error

    def _map_once(self, function, theta, arguments_per_chunk):
        client = self.client
        # θ goes to one worker, and the chunks' tasks fetch it from whichever
        # worker has it.  If its holder dies, the tasks fail and _map repeats
        # the evaluation.  Not broadcast=True: its replication, meeting a
        # dying worker, waited for good in the SIGKILL test, its timeout
        # notwithstanding: dask/distributed issues #5704 and #6578
        # (docs/distributed.md).
        theta = client.scatter(theta, hash=False)
        parts = [
            client.submit(function, theta, chunk, *arguments, pure=False)
            for chunk, arguments in zip(self._chunks, arguments_per_chunk, strict=True)
            if arguments is not None
        ]
        root = _pairs(parts, lambda a, b: client.submit(operator.add, a, b, pure=False))
        return root.result()

    def sums(self, theta, settings, grad=True) -> PartialSums:
        """The partial sums of every row at the flat parameters ``theta``."""
        arguments = [(settings, self.n_hidden, self.block_rows, grad)] * len(
            self._chunks
        )
        return self._map(chunk_sums, theta, arguments)

    def batch(self, theta, indices, settings, grad=True) -> PartialSums:
        """The partial sums of the rows ``indices``, each summed in its chunk."""
        indices = np.sort(np.asarray(indices))
        bounds = np.searchsorted(indices, self.starts)
        arguments = []
        for c in range(len(self._chunks)):
            rows = indices[bounds[c] : bounds[c + 1]] - self.starts[c]
            arguments.append(
                (rows, settings, self.n_hidden, grad) if rows.size else None
            )
        return self._map(batch_sums, theta, arguments)

    def evaluate(self, params, settings, *, compute_grad=True, **policy):
        """:func:`sparseae.evaluate` of all the rows, on the cluster."""
        total = self.sums(params.vector, settings, compute_grad)
        return finish_sums(total, params, settings, **policy)
