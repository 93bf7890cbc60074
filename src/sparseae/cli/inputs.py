"""What the commands accept as data: a named data set, an array file or images."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["DATA_HELP", "IMAGE_SUFFIXES", "load_input", "load_labels"]

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
    if image_shape is not None and int(np.prod(image_shape)) != X.shape[1]:
        raise ValueError(
            f"--image-shape {tuple(image_shape)} has {int(np.prod(image_shape))} "
            f"pixels but the samples of {path} have {X.shape[1]} features"
        )
    return X.astype(np.float64, copy=False), image_shape and tuple(image_shape)


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
        with _reading(path, "a .npy array of labels"), open(path, "rb") as file:
            y = np.load(file, allow_pickle=False)
        return y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if suffix not in (".csv", ".txt"):
        raise ValueError(
            f"--labels {path} has suffix {suffix!r}; labels must be a .npy, .csv "
            "or .txt file"
        )
    with _reading(path, "a text file of labels"):
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
def _reading(path: Path, what: str):
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
        with _reading(path, "a .npy array"), open(path, "rb") as file:
            return np.load(file, allow_pickle=False)
    if suffix == ".npz":
        with _reading(path, "a .npz archive"), open(path, "rb") as file:
            with np.load(file, allow_pickle=False) as archive:
                arrays = dict(archive.items())
        if len(arrays) != 1 and "X" not in arrays:
            raise ValueError(
                f"{path} holds arrays {list(arrays)}; name the data 'X' or keep one"
            )
        return arrays["X"] if "X" in arrays else next(iter(arrays.values()))
    if suffix == ".csv":
        with _reading(path, "a .csv file of numbers"):
            with open(path) as file:
                first = file.readline()
            try:
                [float(value) for value in first.split(",")]
                header = 0
            except ValueError:
                header = 1
            with warnings.catch_warnings():
                # An empty file is reported below, with its name.
                warnings.simplefilter("ignore", UserWarning)
                return np.loadtxt(path, delimiter=",", skiprows=header, ndmin=2)
    raise ValueError(
        f"{path} has suffix {suffix!r}; the data must be a .npy, .npz or .csv file, "
        "a folder of images, 'patches' or 'digits'"
    )


def _load_images(folder: Path):
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(
            f"folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    images = []
    for file in files:
        with _reading(file, "an image"), Image.open(file) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float64) / 255
        if images and pixels.shape != images[0].shape:
            raise ValueError(
                f"{file} is {pixels.shape[1]}x{pixels.shape[0]} pixels but "
                f"{files[0].name} is {images[0].shape[1]}x{images[0].shape[0]}; "
                "all images must have the same size"
            )
        images.append(pixels)
    return np.stack(images).reshape(len(images), -1), images[0].shape
