"""Checks of parameters and data that scikit-learn leaves to the caller.

``validate_data`` converts, counts features and samples; these checks add
what an autoencoder needs on top, with messages that name the input, the
offending values and the fix on one line.  :class:`NumberInterval` is
scikit-learn's ``Interval`` without its acceptance of ``True`` and ``False``
as numbers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval

from ._feedback import warn_caller

__all__ = [
    "SPARSE_FORMATS",
    "NumberInterval",
    "check_finite",
    "check_in_memory",
    "check_real",
    "check_target_range",
]

# What fit, partial_fit and transform take without conversion; validate_data
# turns every other sparse format into the first.  Rows are what the kernel
# slices, so CSC is converted too (a copy of the non-zeros only).
SPARSE_FORMATS = ["csr"]


class NumberInterval(Interval):
    """scikit-learn's ``Interval`` that refuses booleans.

    ``Interval(Real, 0, None)`` accepts ``False`` (a bool is an int in
    Python), so a hand-edited ``"weight_decay": false`` or a mistaken
    ``weight_decay=True`` would train; this one names the parameter and the
    value instead.

    Examples
    --------
    >>> from numbers import Real
    >>> weight = NumberInterval(Real, 0, None, closed="left")
    >>> weight.is_satisfied_by(0.5), weight.is_satisfied_by(False)
    (True, False)
    >>> str(weight)
    'a float in the range [0.0, inf)'

    Its description is scikit-learn's: "not a bool" in it would read, for a
    valid number that is merely out of range, as if the value were a bool.
    """

    def is_satisfied_by(self, val):
        """Whether ``val`` is a number (not a bool) in the interval."""
        return not isinstance(val, bool | np.bool_) and super().is_satisfied_by(val)


def check_in_memory(estimator, X, remedy: str) -> None:
    """Refuse a Dask collection, which NumPy would compute into memory whole.

    ``remedy`` says what to use instead.
    """
    if type(X).__module__.startswith("dask"):
        raise TypeError(
            f"{type(estimator).__name__} takes arrays in memory, got a dask "
            f"{type(X).__name__}, which would be computed into memory whole; "
            f"{remedy}"
        )


def check_real(X, name: str = "X") -> None:
    """Refuse complex arrays (dense or sparse) before any conversion.

    Examples
    --------
    >>> check_real(np.ones(2, dtype=complex))
    Traceback (most recent call last):
    ...
    ValueError: Complex data not supported: X has dtype complex128; pass X.real \
or abs(X)
    """
    if getattr(getattr(X, "dtype", None), "kind", None) == "c":
        # scikit-learn's own wording, which its estimator checks look for.
        raise ValueError(
            f"Complex data not supported: {name} has dtype {X.dtype}; pass "
            f"{name}.real or abs({name})"
        )


def check_finite(X, name: str = "X", *, offset: tuple[int, int] = (0, 0)) -> None:
    """Raise a ``ValueError`` saying how many values are NaN or infinite and where.

    A sparse matrix is checked on its stored values.  ``offset``: the row and
    column of ``X[0, 0]`` in the data it is a part of (a chunk's place), added
    to the position reported.

    Examples
    --------
    >>> check_finite(np.array([[0.5, np.nan], [np.inf, 1.0]]))
    Traceback (most recent call last):
    ...
    ValueError: X contains 2 non-finite values (1 NaN, 1 inf), the first at row 0, \
column 1; the autoencoder needs finite numbers: impute or drop them
    """
    values = X.data if sp.issparse(X) else X
    # A sum costs no memory and is finite for nearly all valid data; only
    # data that fails it is searched element by element.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):
            return
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    if sp.issparse(X):
        coo = X.tocoo()
        first = (int(coo.row[bad][0]), int(coo.col[bad][0]))
    else:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
    n_bad, n_nan = int(bad.sum()), int(np.count_nonzero(np.isnan(values)))
    if len(first) == 2:
        where = f"row {offset[0] + first[0]}, column {offset[1] + first[1]}"
    else:
        where = str(first)
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


def check_target_range(X, *, output: str, loss: str) -> None:
    """Check that ``X`` can be reconstructed by the output layer it is trained with.

    Only training needs this: encoding is defined for any finite input.  With
    a linear output every value can be reconstructed.  With a sigmoid output
    and cross-entropy, values outside [0, 1] make the objective unbounded
    below, so they are refused; with the squared error the objective stays
    well defined (the part outside [0, 1] is a constant floor under the
    error), so any value outside [0, 1] gives a ``UserWarning`` and training
    goes on.

    Examples
    --------
    >>> check_target_range(np.array([[0.0, 2.0]]), output="sigmoid",
    ...                    loss="cross_entropy")
    Traceback (most recent call last):
    ...
    ValueError: X has values in [0, 2], but loss='cross_entropy' needs targets \
in [0, 1] (outside them it is unbounded below): scale the data into [0, 1] (e.g. \
MinMaxScaler) or use loss='squared'
    """
    if output != "sigmoid" or X.shape[0] == 0:
        return
    low, high = float(X.min()), float(X.max())
    if low >= 0 and high <= 1:
        return
    found = f"X has values in [{low:.3g}, {high:.3g}], but "
    if loss == "cross_entropy":
        raise ValueError(
            found + "loss='cross_entropy' needs targets in [0, 1] (outside them it is "
            "unbounded below): scale the data into [0, 1] (e.g. MinMaxScaler) or use "
            "loss='squared'"
        )
    # At the user's line, however deep the call (fit, fit_file, resume_fit).
    warn_caller(
        found + "output_activation='sigmoid' reconstructs values in [0, 1] only, so "
        "the error on the rest cannot vanish: scale the data into [0, 1] (e.g. "
        "MinMaxScaler) or use output_activation='linear'",
        UserWarning,
    )
