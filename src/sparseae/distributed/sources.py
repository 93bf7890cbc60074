"""Dask arrays whose chunks the workers read from files themselves."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np

from ..core.chunked import NpyChunks

__all__ = ["from_npy", "from_zarr", "open_data"]

# Default rows per chunk: about 64 MiB of float32.
_CHUNK_ELEMENTS = 1 << 24


def _check_chunk_rows(chunk_rows):
    """``chunk_rows`` as an int, refused unless None or a positive int."""
    if chunk_rows is None:
        return None
    if isinstance(chunk_rows, bool | np.bool_) or not isinstance(
        chunk_rows, int | np.integer
    ):
        raise ValueError(
            f"chunk_rows must be a positive int or None (the default), got "
            f"{chunk_rows!r}"
        )
    if chunk_rows < 1:
        raise ValueError(
            f"chunk_rows must be a positive int or None (the default), got {chunk_rows}"
        )
    return int(chunk_rows)


def _read_rows(path, start, stop):
    """Rows ``start:stop`` of a ``.npy`` file, read on whichever worker runs this."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def from_npy(path, chunk_rows: int | None = None) -> da.Array:
    """A dask array of a ``.npy`` file's rows, read by the tasks that use them.

    Each chunk is a task that reads its row range from the file (which every
    worker must see at ``path``), so no data pass through the client and a
    lost chunk can be read again.

    Parameters
    ----------
    path : str or Path
        A 2-D array in C order.
    chunk_rows : int, optional
        Rows per chunk, a positive int; by default about 16 million numbers.

    Returns
    -------
    dask.array.Array of shape (n_rows, n_features)

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(12.0).reshape(6, 2))
    >>> from_npy(path, chunk_rows=4).chunks
    ((4, 2), (2,))
    """
    chunk_rows = _check_chunk_rows(chunk_rows)
    source = NpyChunks(path)  # checks the header: 2-D, C order
    (m, n), dtype = source.shape, source.dtype
    rows = chunk_rows or max(1, _CHUNK_ELEMENTS // max(n, 1))
    path = str(Path(path).resolve())
    chunks = [
        da.from_delayed(
            _delayed_read(path, start, min(start + rows, m)),
            shape=(min(rows, m - start), n),
            dtype=dtype,
        )
        for start in range(0, m, rows)
    ]
    return da.concatenate(chunks, axis=0) if chunks else da.zeros((0, n), dtype)


def _delayed_read(path, start, stop):
    from dask import delayed

    return delayed(_read_rows, pure=True)(path, start, stop)


def from_zarr(store, component: str | None = None) -> da.Array:
    """A dask array of a zarr array (a path, URL or store), in its own chunks."""
    return da.from_zarr(store, component=component)


def open_data(path, chunk_rows: int | None = None) -> da.Array:
    """A ``.npy`` file or a zarr store (``.zarr``) as a dask array.

    Raises
    ------
    ValueError
        For any other kind of path (the suffix may be in any case), or a
        ``chunk_rows`` that is not a positive int.
    """
    chunk_rows = _check_chunk_rows(chunk_rows)
    text = str(path).rstrip("/").lower()
    if text.endswith(".npy"):
        return from_npy(path, chunk_rows)
    if text.endswith(".zarr"):
        X = from_zarr(path)
        return X if chunk_rows is None else X.rechunk({0: chunk_rows})
    raise ValueError(
        f"path must be a .npy file or a .zarr store for Dask, got {str(path)!r}"
    )
