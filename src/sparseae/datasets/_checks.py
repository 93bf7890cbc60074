"""Checks of the loaders' common parameters, each with a message naming it."""

import numpy as np

__all__ = ["check_finite", "check_float_dtype", "random_integers"]


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as a NumPy dtype, refused unless float32 or float64.

    Data in [0, 1] cast to an integer type would become zeros and ones.

    Examples
    --------
    >>> check_float_dtype("float32")
    dtype('float32')
    >>> check_float_dtype(int)
    Traceback (most recent call last):
    ...
    ValueError: dtype must be float32 or float64 (a name or a type), got int
    """
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if dtype is None or checked not in (np.float32, np.float64):
        given = dtype.__name__ if isinstance(dtype, type) else repr(dtype)
        raise ValueError(
            f"{name} must be float32 or float64 (a name or a type), got {given}"
        )
    return checked


def random_integers(random_state):
    """A function ``(high, size=None)`` of ints in [0, high) from ``random_state``.

    ``random_state`` is None, an int seed, a ``numpy.random.RandomState`` or a
    ``numpy.random.Generator``.
    """
    from sklearn.utils import check_random_state  # keeps idx.py light to import

    if isinstance(random_state, np.random.Generator):
        return random_state.integers
    try:
        return check_random_state(random_state).randint
    except (TypeError, ValueError):
        raise ValueError(
            "random_state must be None, an int in [0, 2**32 - 1], a "
            "numpy.random.RandomState or a numpy.random.Generator, got "
            f"{random_state!r}"
        ) from None


def check_finite(array: np.ndarray, name: str) -> None:
    """Refuse NaN or infinite values of a 2-D ``array``, naming the first.

    Examples
    --------
    >>> check_finite(np.array([[0.0, np.nan]]), "image")
    Traceback (most recent call last):
    ...
    ValueError: image must be finite, got nan at row 0, column 1
    """
    if not np.isfinite(array).all():
        row, column = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(
            f"{name} must be finite, got {array[row, column]} at row {row}, "
            f"column {column}"
        )
