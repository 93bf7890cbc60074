"""scikit-learn's 8×8 handwritten digits, scaled to [0, 1] for a sigmoid decoder."""

import numpy as np
from sklearn.datasets import load_digits

from ._checks import check_float_dtype

__all__ = ["load_digits_scaled"]


def load_digits_scaled(*, n_class=10, dtype=np.float64):
    """Load :func:`sklearn.datasets.load_digits` with pixels scaled to [0, 1].

    The digits are 8×8 images with 17 grey levels, 0 to 16; dividing by 16 puts
    them in the range of a sigmoid output layer.

    Parameters
    ----------
    n_class : int, default=10
        Keep the digits 0 to ``n_class - 1``.
    dtype : {float64, float32}, default=np.float64
        Floating dtype of ``X``.

    Returns
    -------
    X : ndarray of shape (n_samples, 64)
        Pixels in [0, 1], each image flattened row by row.
    y : ndarray of shape (n_samples,)
        The digit shown.

    Examples
    --------
    >>> X, y = load_digits_scaled()
    >>> X.shape, float(X.min()), float(X.max()), y[:5]
    ((1797, 64), 0.0, 1.0, array([0, 1, 2, 3, 4]))
    """
    dtype = check_float_dtype(dtype)
    X, y = load_digits(n_class=n_class, return_X_y=True)
    return (X / 16).astype(dtype, copy=False), y
