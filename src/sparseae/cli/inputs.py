"""What the commands accept as data: a named data set, an array file or images."""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "image_channels",
    "DATA_HELP",
    "IMAGE_SUFFIXES",
    "load_input",
    "load_labels",
    "reading",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm"}

DATA_HELP = (
    "'patches' (8x8 patches of whitened photographs), 'digits' (scikit-learn's "
    "8x8 digits scaled to [0, 1]), a .npy, .npz or .csv file with one sample per "
    "row, or a folder of equally sized images (one sample each, as grey levels "
    "in [0, 1])"
)


def load_input(source: str, *, n_patches=10_000, seed=0, image_shape=None):
    """Load the data named by ``source``.

    Parameters
    ----------
    source : str
        See :data:`DATA_HELP`.
    n_patches : int, default=10000
        Number of patches for ``"patches"``.
    seed : int, default=0
        Seed of the patch positions for ``"patches"``.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` of a sample of an array file, when it is an image.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    image_shape : tuple of int or None
        Shape of one sample as an image, when the data are images.

    Examples
    --------
    >>> X, shape = load_input("digits")
    >>> X.shape, shape
    ((1797, 64), (8, 8))
    """
    if source == "patches":
        from ..datasets import load_patches

        if n_patches < 1:
            raise ValueError(f"--patches must be >= 1, got {n_patches}")
        return load_patches(n_patches, 8, random_state=seed), (8, 8)
    if source == "digits":
        from ..datasets import load_digits_scaled

        return load_digits_scaled()[0], (8, 8)
    path = Path(source)
    if path.suffix == ".zarr":
        # train and encode read zarr stores on Dask (before coming here).
        raise ValueError(
            f"data {source!r} is a zarr store, which this command reads only "
            "through Dask: train and encode take it (with --scheduler, or Dask's "
            "local scheduler); for the others save a sample as .npy, e.g. "
            "numpy.save('sample.npy', dask.array.from_zarr(store)[:10000].compute())"
        )
    if path.is_dir():
        return _load_images(path)
    if not path.exists():
        raise FileNotFoundError(
            f"data {source!r} is neither 'patches', 'digits', nor an existing file "
            "or folder"
        )
    X = _load_array(path)
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{path} holds values of type {X.dtype}; the data must be real numbers"
        )
    if X.ndim not in (2, 3) or X.size == 0:
        raise ValueError(
            f"{path} must hold a non-empty 2-D array (one sample per row) or a 3-D "
            f"stack of images, got shape {X.shape}"
        )
    if X.ndim == 3:
        image_shape = image_shape or X.shape[1:]
        X = X.reshape(len(X), -1)
    if image_shape is not None and X.ndim == 2:
        image_channels(image_shape, X.shape[1], path)
    return X.astype(np.float64, copy=False), image_shape and tuple(image_shape)


def image_channels(image_shape, n_features: int, source) -> int:
    """1 (grey) or 3 (colour): samples of ``n_features`` as ``image_shape`` images.

    A colour sample holds its three channels one after the other, as
    :func:`sparseae.plotting.tile_filters` reads them.

    Examples
    --------
    >>> image_channels((8, 8), 64, "x.npy"), image_channels((8, 8), 192, "x.npy")
    (1, 3)
    >>> image_channels((8, 8), 100, "x.npy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --image-shape (8, 8) has 64 pixels but ... 100 features: neither ...
    """
    pixels = int(image_shape[0]) * int(image_shape[1])
    if pixels == n_features:
        return 1
    if 3 * pixels == n_features:
        return 3
    raise ValueError(
        f"--image-shape {tuple(image_shape)} has {pixels} pixels but the samples "
        f"of {source} have {n_features} features: neither 1 (grey) nor 3 "
        "(colour) values per pixel"
    )


def load_labels(source: str, path: Path | None, n_samples: int) -> np.ndarray:
    """The labels of the data named by ``source``: from ``path``, or its own.

    Parameters
    ----------
    source : str
        The data, as for :func:`load_input`; ``"digits"`` has its labels.
    path : Path or None
        A .npy, .csv or .txt file with one label per sample, or per line:
        whole numbers (after a header line, which is skipped) or words.
    n_samples : int
        Number of samples of the data, which the labels must match.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> load_labels("digits", None, 1797)[:5]
    array([0, 1, 2, 3, 4])
    """
    if path is None:
        if source != "digits":
            raise ValueError(
                f"--labels is needed: data {source!r} has no labels of its own; "
                "give a .npy, .csv or .txt file with one label per sample"
            )
        from ..datasets import load_digits_scaled

        y = load_digits_scaled()[1]
    else:
        y = _read_labels(Path(path))
    if y.ndim != 1:
        raise ValueError(
            f"--labels {path} holds an array of shape {y.shape}; labels must be "
            f"1-D, one per sample: shape ({n_samples},)"
        )
    if y.shape != (n_samples,):
        raise ValueError(
            f"--labels {path} holds {y.shape[0]} labels "
            f"(shape {y.shape}) but the data have {n_samples} samples"
        )
    return y


def _read_labels(path: Path) -> np.ndarray:
    valid = "give a .npy, .csv or .txt file with one label per sample"
    if not path.exists():
        raise FileNotFoundError(f"--labels {str(path)!r}: no such file; {valid}")
    if path.is_dir():
        raise IsADirectoryError(f"--labels {str(path)!r} is a folder; {valid}")
    try:
        return _parse_labels(path)
    except PermissionError:
        raise PermissionError(
            f"--labels {str(path)!r}: cannot read it (Permission denied)"
        ) from None


def _parse_labels(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with reading(path, "a .npy array of labels"), open(path, "rb") as file:
            y = np.load(file, allow_pickle=False)
        return y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if suffix not in (".csv", ".txt"):
        raise ValueError(
            f"--labels {path} has suffix {suffix!r}; labels must be a .npy, .csv "
            "or .txt file"
        )
    with reading(path, "a text file of labels"):
        words = [line.strip() for line in path.read_text().splitlines()]
    words = [word for word in words if word]
    try:
        return np.array([int(word) for word in words])
    except ValueError:
        pass
    try:
        # A header line, then whole numbers.
        return np.array([int(word) for word in words[1:]])
    except ValueError:
        return np.array(words)


@contextmanager
def reading(path: Path, what: str):
    """Turn whatever a parser raises on a damaged file into a ValueError naming it.

    NumPy, zipfile and Pillow raise a dozen types (EOFError, BadZipFile,
    struct.error, SyntaxError, ...) on damaged files, most without the file
    name; the command must say which file and stay on one line.
    """
    try:
        yield
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as error:
        raise ValueError(
            f"cannot read {path} as {what}: {type(error).__name__}: {error}"
        ) from error


def _load_array(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    # The files are opened here, not by np.load, which leaves its own handle
    # open when the content turns out to be damaged.
    if suffix == ".npy":
        with reading(path, "a .npy array"), open(path, "rb") as file:
            return np.load(file, allow_pickle=False)
    if suffix == ".npz":
        with reading(path, "a .npz archive"), open(path, "rb") as file:
            with np.load(file, allow_pickle=False) as archive:
                arrays = dict(archive.items())
        if not arrays:
            raise ValueError(
                f"{path} is an empty .npz archive (it holds no arrays); save the "
                "data in it, e.g. numpy.savez(path, X=X)"
            )
        if len(arrays) != 1 and "X" not in arrays:
            raise ValueError(
                f"{path} holds arrays {list(arrays)}; name the data 'X' or keep one"
            )
        return arrays["X"] if "X" in arrays else next(iter(arrays.values()))
    if suffix == ".csv":
        return _load_csv(path)
    raise ValueError(
        f"{path} has suffix {suffix!r}; the data must be a .npy, .npz or .csv file, "
        "a folder of images, 'patches' or 'digits'"
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_rows(lines):
    """``(line number, cells)`` of each line that holds data, numbered from 1."""
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()  # np.loadtxt's comments
        if line:
            yield number, line.split(",")


def _bad_csv_cell(path: Path, number: int, column: int, cell: str) -> ValueError:
    hint = ""
    if any(separator in cell.strip() for separator in ";\t "):
        hint = " (the values must be separated by commas)"
    return ValueError(
        f"{path} line {number}, column {column}: {cell.strip()!r} is not a "
        f"number{hint}; a .csv file must hold numbers only, after an optional "
        "header line of names"
    )


def _load_csv(path: Path) -> np.ndarray:
    """The numbers of a .csv file, after a header line when there is one.

    The first line is a header when none of its cells is a number; a line
    that mixes numbers and other cells, an empty cell, or a line of another
    length is refused with its line number in the file.
    """
    with reading(path, "a .csv file of numbers"):
        # utf-8-sig drops a byte-order mark; a header in another encoding is
        # dropped all the same, and a damaged number is reported below.
        lines = path.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
    rows = _csv_rows(lines)
    first = next(rows, None)
    if first is not None:
        number, cells = first
        # Numbers with another separator (``0.1;0.2``) are no header.
        words = re.split(r"[,;\s]+", ",".join(cells))
        if not any(_is_number(word) for word in words):
            lines[number - 1] = ""  # a header
    try:
        with warnings.catch_warnings():
            # An empty file is reported by the caller, with its name.
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(lines, delimiter=",", ndmin=2)
    except ValueError as error:
        width = None
        for number, cells in _csv_rows(lines):
            for column, cell in enumerate(cells, 1):
                if not _is_number(cell):
                    raise _bad_csv_cell(path, number, column, cell) from None
            if width is None:
                width, start = len(cells), number
            elif len(cells) != width:
                raise ValueError(
                    f"{path} line {number} has {len(cells)} values but line "
                    f"{start} has {width}; every row must have as many"
                ) from None
        raise ValueError(
            f"cannot read {path} as a .csv file of numbers: {error}"
        ) from error


def _grey_levels(image) -> np.ndarray:
    """An image's grey levels in [0, 1], as floats.

    Images of 8 bits a channel (and palette, bilevel and colour images) are
    converted to 8-bit grey and divided by 255; single-channel images of wider
    integers (16-bit PNG, 32-bit TIFF) are divided by their type's maximum,
    and floating images (32-bit TIFF) are taken as they are.
    """
    if image.mode == "F" or image.mode.startswith("I"):
        pixels = np.asarray(image)
        if pixels.dtype.kind in "iu":
            return pixels / float(np.iinfo(pixels.dtype).max)
        return pixels.astype(np.float64)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


def _load_images(folder: Path):
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        folders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        inside = (
            f"; its subfolders ({', '.join(folders[:3])}"
            f"{', ...' if len(folders) > 3 else ''}) are not searched: give one "
            "of them, or move the images up"
            if folders
            else ""
        )
        raise ValueError(
            f"folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            + inside
        )
    images = []
    for file in files:
        with reading(file, "an image"), Image.open(file) as image:
            pixels = _grey_levels(image)
        if images and pixels.shape != images[0].shape:
            raise ValueError(
                f"{file} is {pixels.shape[1]}x{pixels.shape[0]} pixels but "
                f"{files[0].name} is {images[0].shape[1]}x{images[0].shape[0]}; "
                "all images must have the same size"
            )
        images.append(pixels)
    return np.stack(images).reshape(len(images), -1), images[0].shape
