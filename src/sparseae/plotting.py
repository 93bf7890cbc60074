"""Pictures of learned filters and of training curves.

:func:`tile_filters` is the classic ``display_network``: each row of a weight
matrix (for a fitted estimator, ``components_``) becomes a small image scaled to
its own range, laid out on a near-square grid. Files are written through a
temporary name and ``os.replace``, so a reader never sees half a PNG.

Loss curves are drawn with :class:`matplotlib.figure.Figure` directly rather than
``pyplot``, so no global figure, backend or interactive state is touched.
"""

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from .io.atomic import write_bytes_atomically

__all__ = ["plot_loss_curve", "save_filters", "tile_filters"]


def tile_filters(W, *, image_shape=None, n_channels=1, padding=1):
    """Lay the rows of a weight matrix out as a grid of small images.

    Parameters
    ----------
    W : array-like of shape (n_filters, n_features)
        One filter per row, e.g. ``components_`` of shape (n_hidden, n_inputs).
        A colour filter is ``[R..., G..., B...]``, each channel row-major, as
        :func:`sparseae.datasets.sample_patches` flattens a colour patch.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` of one filter. ``None`` means square.
    n_channels : {1, 3}, default=1
        1 for grey-scale filters, 3 for RGB.
    padding : int, default=1
        Pixels of black between filters and around the grid.

    Returns
    -------
    ndarray of shape (n_rows * (height + padding) + padding, \
n_cols * (width + padding) + padding[, 3])
        Values in [0, 1]. Each filter is scaled from its own minimum (0) to its
        own maximum (1) over all its channels; a constant filter is 0.5. The
        grid has ``n_cols = ceil(sqrt(n_filters))`` columns.

    Examples
    --------
    >>> W = np.arange(5 * 4.0).reshape(5, 4)
    >>> tile = tile_filters(W)
    >>> tile.shape
    (7, 10)
    >>> tile[1:3, 1:3]
    array([[0.        , 0.33333333],
           [0.66666667, 1.        ]])
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] == 0:
        raise ValueError(
            f"W must be 2-D (n_filters, n_features) with n_filters >= 1, got shape "
            f"{W.shape}"
        )
    if n_channels not in (1, 3):
        raise ValueError(f"n_channels must be 1 or 3, got {n_channels!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    n_filters, n_features = W.shape
    height, width = _filter_shape(n_features, image_shape, n_channels)

    low = W.min(axis=1, keepdims=True)
    span = W.max(axis=1, keepdims=True) - low
    safe_span = np.where(span > 0, span, 1.0)
    scaled = np.where(span > 0, (W - low) / safe_span, 0.5)
    # (n_filters, channels, height, width) -> (n_filters, height, width, channels)
    filters = scaled.reshape(n_filters, n_channels, height, width).transpose(0, 2, 3, 1)

    n_cols = math.ceil(math.sqrt(n_filters))
    n_rows = math.ceil(n_filters / n_cols)
    step_y, step_x = height + padding, width + padding
    tile = np.zeros((n_rows * step_y + padding, n_cols * step_x + padding, n_channels))
    for k in range(n_filters):
        top = padding + (k // n_cols) * step_y
        left = padding + (k % n_cols) * step_x
        tile[top : top + height, left : left + width] = filters[k]
    return tile[..., 0] if n_channels == 1 else tile


def _filter_shape(n_features, image_shape, n_channels):
    if n_features % n_channels:
        raise ValueError(
            f"W has {n_features} features, not a multiple of n_channels={n_channels}"
        )
    pixels = n_features // n_channels
    if image_shape is None:
        side = math.isqrt(pixels)
        if side * side != pixels:
            raise ValueError(
                f"W has {pixels} pixels per channel, not a square number; pass "
                "image_shape=(height, width)"
            )
        return side, side
    height, width = image_shape
    if height * width != pixels:
        raise ValueError(
            f"image_shape {tuple(image_shape)} has {height * width} pixels but W has "
            f"{pixels} per channel ({n_features} features, n_channels={n_channels})"
        )
    return height, width


def save_filters(path, W, *, scale=8, **kwargs):
    """Write :func:`tile_filters` of ``W`` as a PNG, enlarged for viewing.

    Parameters
    ----------
    path : str or path-like
        Destination; written atomically.
    W : array-like of shape (n_filters, n_features)
        One filter per row.
    scale : int, default=8
        Each pixel becomes a ``scale`` × ``scale`` block (nearest neighbour), so
        an 8×8 filter is 64 screen pixels wide.
    **kwargs
        ``image_shape``, ``n_channels`` and ``padding`` for :func:`tile_filters`.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import io, os, tempfile
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_filters(os.path.join(folder, "w.png"), np.eye(4), scale=2)
    ...     Image.open(io.BytesIO(path.read_bytes())).size
    (14, 14)
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    tile = tile_filters(W, **kwargs)
    pixels = np.rint(tile * 255).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    write_bytes_atomically(path, buffer.getvalue())
    return Path(path)


def plot_loss_curve(path, history, *, title=None):
    """Plot training curves against iteration on a log scale and save a PNG.

    Parameters
    ----------
    path : str or path-like
        Destination; written atomically.
    history : mapping of str to sequence of float
        One curve per entry, e.g. ``{"loss": [...], "reconstruction": [...],
        "sparsity": [...], "weight_decay": [...]}``. A curve with no positive
        value cannot be drawn on a log scale (a zero weight decay, say) and is
        left out.
    title : str or None, default=None
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> history = {"loss": [1.0, 0.5, 0.3], "sparsity": [0.2, 0.1, 0.05]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_loss_curve(os.path.join(folder, "loss.png"), history)
    ...     path.read_bytes()[1:4]
    b'PNG'
    """
    curves = {}
    for name, values in history.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(
                f"history[{name!r}] must be a 1-D sequence, got shape {values.shape}"
            )
        if np.any(np.isfinite(values) & (values > 0)):
            curves[name] = values
    if not curves:
        raise ValueError(
            "history must have at least one curve with a positive value, got keys "
            f"{list(history)}"
        )
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for name, values in curves.items():
        # Non-positive points are masked so the rest of the curve still shows.
        # Entry i is recorded after iteration i + 1, as in history.csv.
        axes.plot(
            np.arange(1, len(values) + 1),
            np.where(values > 0, values, np.nan),
            label=name,
        )
    axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("value")
    axes.legend()
    if title is not None:
        axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes_atomically(path, buffer.getvalue())
    return Path(path)
