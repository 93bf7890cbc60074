"""Checks of the data that scikit-learn's ``validate_data`` leaves to the caller.

``validate_data`` converts, counts features and samples; these checks add
what an autoencoder needs on top, with messages that name the input, the
offending values and the fix on one line.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["check_dense_real", "check_finite"]


def check_dense_real(X, name: str = "X") -> None:
    """Refuse sparse matrices and complex arrays before any conversion.

    Sparse input is refused rather than densified behind the caller's back:
    the reconstruction x̂ − X is dense whatever X is, so a sparse X would save
    no memory and converting it silently could exhaust it.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> check_dense_real(sp.eye(3, format="csr"))
    Traceback (most recent call last):
    ...
    TypeError: X is a sparse csr_matrix of shape (3, 3); pass X.toarray(): ...
    """
    if sp.issparse(X):
        raise TypeError(
            f"{name} is a sparse {type(X).__name__} of shape {X.shape}; pass "
            f"{name}.toarray(): the reconstruction of a sparse autoencoder is dense "
            "whatever the data, so sparse input would save no memory"
        )
    if getattr(getattr(X, "dtype", None), "kind", None) == "c":
        # scikit-learn's own wording, which its estimator checks look for.
        raise ValueError(
            f"Complex data not supported: {name} has dtype {X.dtype}; pass "
            f"{name}.real or abs({name})"
        )


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise a ``ValueError`` saying how many values are NaN or infinite and where.

    Examples
    --------
    >>> check_finite(np.array([[0.5, np.nan], [np.inf, 1.0]]))
    Traceback (most recent call last):
    ...
    ValueError: X contains 2 non-finite values (1 NaN, 1 inf), the first at row 0, \
column 1; the autoencoder needs finite numbers: impute or drop them
    """
    # A sum costs no memory and is finite for nearly all valid data; only
    # data that fails it is searched element by element.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum()):
            return
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    n_bad, n_nan = int(bad.sum()), int(np.count_nonzero(np.isnan(X)))
    where = f"row {first[0]}, column {first[1]}" if len(first) == 2 else str(first)
    overflow = ""
    if n_bad > n_nan and X.dtype != np.float64:
        overflow = (
            f" (values beyond ±{np.finfo(X.dtype).max:.3g} become inf in {X.dtype}: "
            "use dtype=float64 or scale the data)"
        )
    raise ValueError(
        f"{name} contains {n_bad} non-finite values ({n_nan} NaN, {n_bad - n_nan} "
        f"inf), the first at {where}{overflow}; the autoencoder needs finite "
        "numbers: impute or drop them"
    )
