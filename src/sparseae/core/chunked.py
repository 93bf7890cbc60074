"""The exact full-batch objective in one pass over data that comes in chunks.

With Σ a2, the output-layer sums and the two hidden-layer sums of
``docs/derivation.md`` eq. (11) added chunk by chunk
(:func:`~sparseae.core.partial_sums.block_sums`), one pass gives the loss and
gradient of all the rows together, never holding more than one chunk and one
block of its activations.  Data larger than memory, memory-mapped ``.npy``
files and data made on the fly are trained with the same mathematics as
arrays in memory.  The rows are cut into the same blocks of ``block_rows``
rows as in memory, whatever the chunks' sizes (a block that straddles two
chunks is copied together), and the blocks' sums are added by the same fixed
tree (:class:`~sparseae.core.partial_sums.TreeSum`), so the result equals
:func:`sparseae.evaluate` on all the rows to the last bit.

A source of chunks is an array (taken in chunks of rows), a re-iterable such
as a list or :class:`ArrayChunks`, or a function of no arguments that returns
a new iterator of chunks each time it is called.  A bare iterator or generator
is refused: an optimiser evaluates many times and it would be empty after the
first pass.
"""

from __future__ import annotations

import math
import mmap
import os
import tokenize
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .kernel import n_workers, sum_blocks
from .objective import make_settings
from .params import Params
from .partial_sums import (
    Evaluation,
    PartialSums,
    TreeSum,
    finish_sums,
    resolve_block_rows,
)

__all__ = [
    "ArrayChunks",
    "NpyChunks",
    "evaluate_chunks",
    "flat_loss_and_grad",
    "loss_and_grad_chunks",
]

# Default chunk: 16 Mi numbers, 64 MiB of float32.
_CHUNK_ELEMENTS = 1 << 24


class ArrayChunks:
    """Consecutive row chunks of a 2-D array, re-iterable.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Any array with NumPy slicing, including ``numpy.memmap``.
    chunk_rows : int, optional
        Rows per chunk; by default about 16 million numbers per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> [chunk.shape for chunk in ArrayChunks(np.zeros((5, 2)), chunk_rows=2)]
    [(2, 2), (2, 2), (1, 2)]
    """

    def __init__(self, X, chunk_rows: int | None = None):
        if not hasattr(X, "shape"):
            X = np.asarray(X)  # a list of rows; arrays and memmaps as they are
        if np.ndim(X) != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {np.shape(X)}")
        self.X = X
        self.chunk_rows = _chunk_rows(chunk_rows, X.shape[1])

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, self.X.shape[0], self.chunk_rows):
            yield self.X[start : start + self.chunk_rows]


class NpyChunks:
    """Row chunks of a ``.npy`` file, each memory-mapped only while in use.

    Each chunk is a read-only view of its own mapping of the file, which is
    unmapped once the chunk is no longer referenced, so both the resident
    memory and the address space of the process stay at about one chunk
    however large the file.  The operating system may still cache the file,
    as it does for any file read.

    Parameters
    ----------
    path : str, bytes or path-like
        A ``.npy`` file holding a 2-D array in C order.  It is read again at
        every pass; a pass refuses a file whose header has changed since.
    chunk_rows : int, optional
        Rows per chunk; by default about 16 million numbers per chunk.
    dtype : numpy dtype, optional
        Floating type to give the chunks in (each converted as it is read);
        by default the file's.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(12.0).reshape(6, 2))
    >>> source = NpyChunks(path, chunk_rows=4)
    >>> source.shape, [float(chunk.sum()) for chunk in source]
    ((6, 2), [28.0, 38.0])
    """

    def __init__(self, path: str | Path, chunk_rows: int | None = None, dtype=None):
        path = _file_path(path)
        target = dtype
        if Path(path).is_dir():
            zarr = " (a zarr store?)" if Path(path).suffix == ".zarr" else ""
            raise IsADirectoryError(
                f"{path} is a folder{zarr}, not a .npy file; read zarr stores and "
                "other dask arrays with sparseae.distributed.DaskSparseAutoencoder "
                "(client=None runs it on Dask's local scheduler)"
            )
        with open(path, "rb") as file:
            header = _read_header(path, file)
        shape, fortran_order, dtype = header[:3]
        _check_stored_dtype(path, dtype)
        if len(shape) != 2 or fortran_order:
            raise ValueError(
                f"{path} must hold a 2-D array in C order, got shape {shape}"
                + (
                    " in Fortran order; rewrite it in C order, e.g. np.save(path, "
                    "np.ascontiguousarray(np.load(path, mmap_mode='r')))"
                    if fortran_order
                    else ""
                )
            )
        if shape[1] == 0:
            raise ValueError(
                f"{path} holds an array of shape {shape} with no columns; it must "
                "have at least one feature per row"
            )
        _check_size(path, header)
        self.path, self.shape, self._stored = Path(path), shape, dtype
        self._header, self._offset = header, header[3]
        self.dtype = dtype if target is None else np.dtype(target)
        self.chunk_rows = _chunk_rows(chunk_rows, shape[1])

    def __iter__(self) -> Iterator[np.ndarray]:
        m, n = self.shape
        row_bytes = n * self._stored.itemsize
        with open(self.path, "rb") as file:
            # Each pass: a file replaced or cut since it was opened would
            # otherwise be read at the old offsets, or fail inside mmap.
            header = _read_header(self.path, file)
            if header[:4] != self._header[:4]:
                raise ValueError(
                    f"{self.path} has changed since it was opened: its header "
                    f"said shape {self.shape} of {self._stored}, now "
                    f"shape {header[0]} of {header[2]}"
                    + (" in Fortran order" if header[1] else "")
                    + "; open it again"
                )
            _check_size(self.path, header)
            for start in range(0, m, self.chunk_rows):
                rows = min(self.chunk_rows, m - start)
                begin = self._offset + start * row_bytes
                # Mappings start on a multiple of the allocation granularity.
                base = begin - begin % mmap.ALLOCATIONGRANULARITY
                view = mmap.mmap(
                    file.fileno(),
                    begin - base + rows * row_bytes,
                    access=mmap.ACCESS_READ,
                    offset=base,
                )
                chunk = np.ndarray(
                    (rows, n), self._stored, buffer=view, offset=begin - base
                )
                del view  # the chunk alone keeps the mapping alive
                # Values beyond float32's range become inf, which checked()
                # reports with its cause.
                with np.errstate(over="ignore"):
                    converted = chunk.astype(self.dtype, copy=False)
                del chunk
                yield converted
                del converted

    def checked(self) -> Iterator[np.ndarray]:
        """The chunks, refusing NaN or inf by its row in the file.

        One pass for a fit to make before it starts; the evaluations that
        follow read the same chunks without checking them again.
        """
        start = 0
        for chunk in self:
            _check_finite_rows(self.path, chunk, start, self._stored_value)
            start += chunk.shape[0]
            yield chunk

    def _stored_value(self, row: int, column: int):
        """The value at ``row``, ``column`` as the file holds it."""
        size = self._stored.itemsize
        with open(self.path, "rb") as file:
            file.seek(self._offset + (row * self.shape[1] + column) * size)
            return np.frombuffer(file.read(size), self._stored)[0]


def _file_path(path) -> str:
    """``path`` as a str, for a str, bytes or path-like; else a TypeError."""
    if isinstance(path, np.ndarray) or hasattr(path, "__array__"):
        raise TypeError(
            f"path must be the path of a .npy file, got an array of shape "
            f"{np.shape(path)}; train on an array in memory with fit(X)"
        )
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(
            "path must be a str, bytes or os.PathLike naming a .npy file, got "
            f"{type(path).__name__}"
        ) from None


def _read_header(path, file) -> tuple:
    """Shape, Fortran order, dtype, data offset and size of an open ``.npy`` file."""
    try:
        version = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read_header(file)
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError) as error:
        # TokenError: NumPy's parse of a header whose length field is damaged.
        raise ValueError(
            f"cannot read {path} as a .npy array: {type(error).__name__}: {error}"
        ) from None
    offset = file.tell()
    return shape, fortran_order, dtype, offset, file.seek(0, 2)


def _check_size(path, header) -> None:
    """Refuse a file shorter than its header says."""
    shape, _, dtype, offset, size = header
    needed = offset + math.prod(shape) * dtype.itemsize
    if size < needed:
        raise ValueError(
            f"{path} is truncated: its header says shape {shape} of {dtype}, "
            f"which needs {needed} bytes, but the file has {size}"
        )


def _check_stored_dtype(path, dtype: np.dtype) -> None:
    """Refuse, before any mapping, a file whose values are not plain real numbers.

    Mapping an object array would read pickle bytes as pointers.
    """
    if dtype.kind == "c":
        # The wording of fit's refusal (scikit-learn's own).
        raise ValueError(
            f"Complex data not supported: {path} has dtype {dtype}; save its .real "
            "or abs() instead"
        )
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype:
        raise ValueError(
            f"{path} holds values of dtype {dtype.descr if dtype.fields else dtype}; "
            "out-of-core data must be plain real numbers (bool, int, uint or float)"
        )


def _check_finite_rows(path, chunk: np.ndarray, start: int, stored=None) -> None:
    """Refuse NaN or infinite values, naming the first by its row in the file.

    ``stored(row, column)``, when given, reads that value as the file holds
    it, to tell a value too large for the chunk's type (float64 read as
    float32) from one non-finite in the file.
    """
    # A sum is cheap next to the objective and finite for nearly all valid data.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(chunk.sum()):
            return
    bad = np.argwhere(~np.isfinite(chunk))
    if not len(bad):
        return
    row, column = (int(i) for i in bad[0])
    if stored is not None:
        value = stored(start + row, column)
        if np.isfinite(value):
            # fit's words for an array: finite as given, inf once converted.
            raise ValueError(
                f"{path} has a value {value:.3g} at row {start + row}, column "
                f"{column}, beyond ±{np.finfo(chunk.dtype).max:.2g}, which "
                f"becomes inf in {chunk.dtype.name}: use dtype=float64 or scale "
                "the data"
            )
    raise ValueError(
        f"{path} contains non-finite values (NaN or inf), the first at row "
        f"{start + row}, column {column}; the autoencoder needs finite numbers: "
        "impute or drop them"
    )


def _chunk_rows(chunk_rows, n_features):
    if chunk_rows is None:
        return max(1, _CHUNK_ELEMENTS // max(n_features, 1))
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int | np.integer):
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    return int(chunk_rows)


def _open(chunks) -> Iterator:
    if isinstance(chunks, np.ndarray):
        return iter(ArrayChunks(chunks))
    if callable(chunks):
        iterator = chunks()
        if not isinstance(iterator, Iterator):
            raise TypeError(
                "chunks() must return an iterator of arrays, got "
                f"{type(iterator).__name__}"
            )
        return iterator
    if not isinstance(chunks, Iterable):
        raise TypeError(
            "chunks must be an array, a re-iterable of arrays or a function "
            f"returning an iterator of arrays, got {type(chunks).__name__}"
        )
    if iter(chunks) is chunks:
        raise TypeError(
            f"chunks is a one-shot iterator ({type(chunks).__name__}), which would "
            "be empty after the first pass; pass a list, an ArrayChunks or "
            "NpyChunks, or a function returning a new iterator, e.g. "
            "lambda: make_chunks()"
        )
    return iter(chunks)


def _check_chunk(chunk, n_features, dtype):
    chunk = np.asarray(chunk)
    if chunk.ndim != 2 or chunk.shape[1] != n_features:
        raise ValueError(
            f"every chunk must have shape (n_rows, {n_features}) to match the "
            f"weights, got {chunk.shape}"
        )
    if dtype is None:
        dtype = chunk.dtype if chunk.dtype in (np.float32, np.float64) else np.float64
    return chunk.astype(dtype, copy=False), np.dtype(dtype)


def evaluate_chunks(
    params: Params,
    chunks,
    *,
    compute_grad: bool = True,
    block_rows: int | None = None,
    **hyperparameters,
) -> Evaluation:
    """Evaluate the full-batch objective, and its gradient, in one pass.

    Parameters
    ----------
    params : Params
        Current weights and biases.
    chunks : array, re-iterable of arrays, or callable
        Source of row chunks, each of shape ``(n_rows, n_features)``, see the
        module's description.  The computation takes the first chunk's
        floating type (float32 or float64, anything else becomes float64);
        later chunks and the parameters are converted to it.
    compute_grad : bool, default=True
        Whether to compute the gradient.
    block_rows : int, optional
        Rows per block, as for :func:`sparseae.evaluate`; by default its
        default for the source's shape when the source has one (an array,
        :class:`ArrayChunks`, :class:`NpyChunks`), else four cache-sized tiles.
    **hyperparameters
        ``sparsity_target``, ``sparsity_weight``, ``weight_decay`` and
        optionally ``penalty``, ``output``, ``loss``, as for
        :func:`sparseae.evaluate`.

    Returns
    -------
    Evaluation
        The same as :func:`sparseae.evaluate` on all the chunks stacked, with
        the same ``block_rows``, to the last bit.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params, evaluate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(100, 8))
    >>> params = Params.initialize(8, 3, rng=rng)
    >>> hyper = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-4)
    >>> chunked = evaluate_chunks(params, ArrayChunks(X, chunk_rows=7), **hyper)
    >>> whole = evaluate(params, X, **hyper)
    >>> bool((chunked.grads.vector == whole.grads.vector).all())
    True
    """
    return _evaluate_chunks(
        params, chunks, make_settings(**hyperparameters), compute_grad, block_rows
    )


def _source_rows(chunks):
    """The number of rows a source will give, when it says so."""
    shape = getattr(chunks, "shape", None)
    if shape is None and isinstance(chunks, ArrayChunks):
        shape = chunks.X.shape
    return shape[0] if shape is not None and len(shape) == 2 else None


def _evaluate_chunks(
    params, chunks, settings, compute_grad=True, block_rows=None
) -> Evaluation:
    n, h = params.n_features, params.n_hidden
    rows = _source_rows(chunks)
    block_rows = resolve_block_rows(
        block_rows, rows if rows is not None else 1 << 62, n, h
    )
    tree, blocks, carry, dtype = TreeSum(), 0, None, None

    def add_blocks(X):
        nonlocal blocks

        def emit(index, fields):
            tree.add(blocks + index, PartialSums(**fields))

        sum_blocks(
            params,
            settings,
            X,
            block_rows,
            emit,
            grad=compute_grad,
            n_threads=n_workers(X.shape[0], n, h),
        )
        blocks += -(-X.shape[0] // block_rows)

    for chunk in _open(chunks):
        chunk, dtype = _check_chunk(chunk, n, dtype)
        if params.dtype != dtype:
            params = params.astype(dtype)
        if carry is not None:
            # A block that straddles chunks: its rows copied together.
            take = block_rows - carry.shape[0]
            carry = np.concatenate([carry, chunk[:take]])
            chunk = chunk[take:]
            if carry.shape[0] < block_rows:
                continue
            add_blocks(carry)
            carry = None
        whole = chunk.shape[0] - chunk.shape[0] % block_rows
        if whole:
            add_blocks(chunk[:whole])
        if whole < chunk.shape[0]:
            carry = np.array(chunk[whole:])
    if carry is not None:
        add_blocks(carry)
    total = tree.total()
    if total is None:
        raise ValueError("chunks gave no rows; the objective needs at least one")
    return finish_sums(total, params, settings)


def loss_and_grad_chunks(params: Params, chunks, **hyperparameters):
    """Objective J and its gradient over all the chunks, in one pass.

    Parameters are those of :func:`evaluate_chunks`.

    Returns
    -------
    loss : float
    grads : Params
    """
    evaluation = evaluate_chunks(params, chunks, **hyperparameters)
    return evaluation.terms.total, evaluation.grads


def flat_loss_and_grad(
    chunks,
    n_features: int,
    n_hidden: int,
    *,
    block_rows: int | None = None,
    **hyperparameters,
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The objective over ``chunks`` as a function of one flat float64 vector.

    This is the contract of :func:`sparseae.solvers.minimize_lbfgs`, so data of
    any size trains on the exact full-batch objective.

    Parameters
    ----------
    chunks : array, re-iterable of arrays, or callable
        As for :func:`evaluate_chunks`.
    n_features, n_hidden : int
        Layer sizes.
    block_rows : int, optional
        Rows per block, as for :func:`evaluate_chunks`.
    **hyperparameters
        ``sparsity_target``, ``sparsity_weight``, ``weight_decay`` and
        optionally ``penalty``, ``output``, ``loss``.

    Returns
    -------
    callable
        ``theta -> (loss, grad)``, ``grad`` a new float64 vector.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params
    >>> from sparseae.solvers import minimize_lbfgs
    >>> rng = np.random.default_rng(0)
    >>> source = ArrayChunks(rng.uniform(size=(300, 8)), chunk_rows=64)
    >>> objective = flat_loss_and_grad(source, 8, 3, sparsity_target=0.1,
    ...                                sparsity_weight=3.0, weight_decay=1e-4)
    >>> theta0 = Params.initialize(8, 3, rng=rng).vector
    >>> result = minimize_lbfgs(objective, theta0, max_iter=20)
    >>> bool(result.loss < objective(theta0)[0])
    True
    """
    settings = make_settings(**hyperparameters)

    def loss_and_grad(theta):
        params = Params.from_vector(theta, n_features, n_hidden)
        evaluation = _evaluate_chunks(params, chunks, settings, True, block_rows)
        return evaluation.terms.total, evaluation.grads.vector.astype(np.float64)

    return loss_and_grad
