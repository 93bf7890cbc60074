"""JSON that every reader accepts: no bare ``NaN`` or ``Infinity``.

Python's :func:`json.dumps` writes a non-finite float as ``NaN``, ``Infinity``
or ``-Infinity``, which strict JSON (RFC 8259) has no words for: ``jq``,
JavaScript's ``JSON.parse`` and many other readers refuse the whole file.
:func:`dumps` writes such a value as ``null`` instead (a figure that could not
be computed, e.g. the fraction of variance unexplained of one sample), and
NumPy scalars as the Python numbers they hold.
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["dumps", "finite_or_none"]


def finite_or_none(value):
    """``value`` with non-finite floats as None and NumPy scalars as Python's.

    Dicts, lists and tuples are copied with their items converted; tuples
    become lists, as JSON writes them.

    Examples
    --------
    >>> finite_or_none({"fvu": float("nan"), "l0": np.float32(2.5), "n": [np.int64(3)]})
    {'fvu': None, 'l0': 2.5, 'n': [3]}
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(item) for item in value]
    return value


def dumps(value, **kwargs) -> str:
    """:func:`json.dumps` of ``value``, writing non-finite floats as ``null``.

    Keyword arguments go to :func:`json.dumps` (``allow_nan`` is always False).

    Examples
    --------
    >>> dumps({"fvu": float("nan"), "loss": float("inf"), "score": 0.5})
    '{"fvu": null, "loss": null, "score": 0.5}'
    """
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)
