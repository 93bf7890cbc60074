"""Writing a report: the page a model's kind calls for, atomically."""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import write_bytes_atomically
from .build import _is_stacked, build_report
from .stacked import build_stacked_report

__all__ = ["write_report"]


def write_report(path, model, X, **kwargs) -> Path:
    """Write the report of ``model`` on ``X`` to ``path``, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination, conventionally ``report.html``; its folder must exist.
    model : SparseAutoencoder or StackedAutoencoder
        Fitted.
    X : array-like of shape (n_samples, n_features)
        Data to measure the units on.
    **kwargs
        Passed to :func:`~sparseae.report.build_report`, or for a stacked
        model to :func:`~sparseae.report.build_stacked_report` (which takes
        the labels ``y``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if _is_stacked(model):
        html = build_stacked_report(model, X, **kwargs)
    else:
        html = build_report(model, X, **kwargs)
    return write_bytes_atomically(path, html.encode("utf-8"))
