"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the array in C order, big-endian. Files may be
gzipped; that is detected from the content (bytes ``1f 8b``), not the file name.

Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST under
``/usr/share/datasets/fashion-mnist`` (:data:`DEBIAN_FASHION_MNIST`), with the
standard file names, so ``load_mnist(DEBIAN_FASHION_MNIST)`` reads it.
``benchmarks/prepare_mnist.py`` writes MNIST itself in the same layout.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..io.atomic import write_bytes_atomically
from ._checks import check_float_dtype

__all__ = ["DEBIAN_FASHION_MNIST", "load_mnist", "read_idx", "write_idx"]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_CODE_TO_DTYPE = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE = {dtype.str[1:]: code for code, dtype in _CODE_TO_DTYPE.items()}
# The format allows up to 255 dimensions; real files have 1 to 4, so a larger
# count almost always means the file is not IDX at all.
_MAX_NDIM = 8


def read_idx(path):
    """Read an IDX file, gzipped or not, into a native-endian array.

    Parameters
    ----------
    path : str or path-like
        The file to read.

    Returns
    -------
    ndarray
        The array, with the shape and dtype (uint8, int8, int16, int32, float32
        or float64) that the header declares.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty, is not IDX (bad magic, dtype code or dimension
        count), is corrupt gzip, or its payload is shorter or longer than the
        header declares. The message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "x-idx2-ubyte.gz")
    ...     path = write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    ...     read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    with open(path, "rb") as file:
        data = file.read()
    if not data:
        raise ValueError(f"{path}: file is empty, expected an IDX file")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data: {exc}") from exc
    return _parse(data, path)


def _parse(data, path):
    if len(data) < 4:
        raise ValueError(
            f"{path}: {len(data)} bytes is too short for an IDX header (4 bytes)"
        )
    if data[:2] != b"\x00\x00":
        raise ValueError(
            f"{path}: bad magic number {data[:4].hex(' ')}, an IDX file starts "
            "with 00 00 <dtype code> <ndim>"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        valid = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise ValueError(
            f"{path}: unsupported IDX dtype code 0x{code:02X}, valid codes are {valid}"
        )
    if not 1 <= ndim <= _MAX_NDIM:
        raise ValueError(
            f"{path}: dimension count {ndim} in the header, expected 1 to {_MAX_NDIM}"
        )
    start = 4 + 4 * ndim
    if len(data) < start:
        raise ValueError(
            f"{path}: header declares {ndim} dimensions but the file ends after "
            f"{len(data)} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    found = len(data) - start
    if found != expected:
        what = "truncated" if found < expected else "trailing bytes"
        raise ValueError(
            f"{path}: {what}: header declares shape {shape} of {dtype.name} "
            f"({expected} bytes of data) but the file has {found}"
        )
    array = np.frombuffer(data, dtype, offset=start).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array, *, compress=None):
    """Write an array as an IDX file, atomically.

    The file is written to a temporary name in the same folder and then moved
    into place, so readers never see a half-written file.

    Parameters
    ----------
    path : str or path-like
        Destination.
    array : array-like
        Of dtype uint8, int8, int16, int32, float32 or float64, with 1 to 8
        dimensions.
    compress : bool or None, default=None
        Gzip the file. ``None`` gzips when ``path`` ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_idx(os.path.join(folder, "y-idx1-ubyte"), np.arange(3.0))
    ...     (path.name, path.stat().st_size, read_idx(path))
    ('y-idx1-ubyte', 32, array([0., 1., 2.]))
    >>> write_idx("y-idx1-ubyte", np.arange(3, dtype=np.int64))
    Traceback (most recent call last):
    ...
    ValueError: array dtype int64 has no IDX code; valid dtypes are uint8, ...
    """
    array = np.asarray(array)
    kind = array.dtype.str[1:]
    if kind not in _KIND_TO_CODE:
        valid = ", ".join(d.name for d in _CODE_TO_DTYPE.values())
        raise ValueError(
            f"array dtype {array.dtype} has no IDX code; valid dtypes are {valid}. "
            "Cast it first, e.g. array.astype(np.int32)"
        )
    if not 1 <= array.ndim <= _MAX_NDIM:
        raise ValueError(
            f"array must have 1 to {_MAX_NDIM} dimensions, got shape {array.shape}"
        )
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX dimensions must be below 2**32, got {array.shape}")
    path = Path(path)
    header = bytes([0, 0, _KIND_TO_CODE[kind], array.ndim])
    header += np.asarray(array.shape, ">u4").tobytes()
    data = header + np.ascontiguousarray(array, array.dtype.newbyteorder(">")).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        # mtime=0 makes the same array give the same bytes.
        data = gzip.compress(data, compresslevel=6, mtime=0)
    write_bytes_atomically(path, data)
    return path


def load_mnist(folder, kind="train", *, dtype=np.float64):
    """Load MNIST-format images and labels from a folder of IDX files.

    Looks for ``{kind}-images-idx3-ubyte`` and ``{kind}-labels-idx1-ubyte``,
    each plain or with ``.gz``: the layout of the original MNIST distribution,
    of Fashion-MNIST, of Debian's ``dataset-fashion-mnist`` package
    (:data:`DEBIAN_FASHION_MNIST`, ``/usr/share/datasets/fashion-mnist``) and of
    what ``benchmarks/prepare_mnist.py`` writes.

    Parameters
    ----------
    folder : str or path-like
        Folder holding the files.
    kind : {"train", "t10k"}, default="train"
        Training (60,000 images) or test (10,000 images) split.
    dtype : {float64, float32}, default=np.float64
        Floating dtype of the returned images.

    Returns
    -------
    X : ndarray of shape (n_samples, n_rows * n_cols)
        Images flattened row by row, scaled to [0, 1] (pixel / 255). The
        images file must hold uint8 pixels and the labels file integers.
    y : ndarray of shape (n_samples,)
        Labels as int64.

    Examples
    --------
    With Debian's package installed, ``load_mnist(DEBIAN_FASHION_MNIST, "t10k")``
    gives 10,000 images of shape (784,). A two-image stand-in:

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     images = np.full((2, 28, 28), 255, dtype=np.uint8)
    ...     _ = write_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), images)
    ...     labels = np.array([3, 7], dtype=np.uint8)
    ...     _ = write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte"), labels)
    ...     X, y = load_mnist(folder, "t10k")
    >>> X.shape, float(X.max()), y
    ((2, 784), 1.0, array([3, 7]))
    """
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}")
    dtype = check_float_dtype(dtype)
    folder = Path(folder)
    images_path = _find(folder, f"{kind}-images-idx3-ubyte")
    labels_path = _find(folder, f"{kind}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    # Scaling by 255 is right for bytes only, and labels of other types would
    # be truncated to integers without a word.
    if images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: images must be uint8 (ubyte) pixels, got "
            f"{images.dtype}; read other IDX files with read_idx"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"{labels_path}: labels must be integers (an integer IDX type), got "
            f"{labels.dtype}; read other IDX files with read_idx"
        )
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{folder}: expected images of shape (n, rows, cols) and labels of "
            f"shape (n,), got {images.shape} and {labels.shape}"
        )
    X = images.reshape(len(images), -1).astype(dtype)
    X /= 255
    return X, labels.astype(np.int64)


def _find(folder, stem):
    candidates = [folder / stem, folder / f"{stem}.gz"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no {stem} file in {folder}: looked for {looked}. Run "
        "benchmarks/prepare_mnist.py for MNIST, or pass "
        f"{DEBIAN_FASHION_MNIST} (Debian package dataset-fashion-mnist)"
    )
