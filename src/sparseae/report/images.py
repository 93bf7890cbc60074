"""Small pictures for the report, straight from NumPy arrays to inline PNG.

A report on 196 units draws several hundred pictures; one Matplotlib figure
each would take minutes, so filters, inputs and heat maps go from an array to
a PNG through Pillow, and the browser enlarges them (``image-rendering:
pixelated`` keeps the pixels square).  Every picture is returned as a
``data:`` URI, so the report needs no other file and makes no request.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

__all__ = [
    "ImageLayout",
    "diverging",
    "grey",
    "grid",
    "histogram_bars",
    "png_data_uri",
]

# The diverging colour map of the heat maps: negative blue, zero white,
# positive red (the end colours of ColorBrewer's RdBu).
_NEGATIVE = np.array([33, 102, 172], dtype=np.float64)
_POSITIVE = np.array([178, 24, 43], dtype=np.float64)
_WHITE = np.array([255, 255, 255], dtype=np.float64)


def png_data_uri(pixels: np.ndarray) -> str:
    """Encode a uint8 image as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    pixels : ndarray of shape (height, width) or (height, width, 3), dtype uint8
        Grey levels or RGB.

    Returns
    -------
    str

    Examples
    --------
    >>> png_data_uri(np.zeros((2, 3), dtype=np.uint8))[:22]
    'data:image/png;base64,'
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def grey(values, low, high) -> np.ndarray:
    """Map ``values`` linearly from ``[low, high]`` to grey levels 0-255.

    Values outside the range are clipped; ``low == high`` gives mid-grey.

    Examples
    --------
    >>> grey(np.array([0.0, 0.5, 1.0, 2.0]), 0.0, 1.0).tolist()
    [0, 128, 255, 255]
    """
    values = np.asarray(values, dtype=np.float64)
    if not high > low:
        return np.full(values.shape, 128, dtype=np.uint8)
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
    return np.rint(scaled * 255).astype(np.uint8)


def diverging(values, limit) -> np.ndarray:
    """Colour ``values`` blue (−limit) through white (0) to red (+limit).

    Returns
    -------
    ndarray of shape values.shape + (3,), dtype uint8

    Examples
    --------
    >>> diverging(np.array([-1.0, 0.0, 1.0]), 1.0).tolist()
    [[33, 102, 172], [255, 255, 255], [178, 24, 43]]
    """
    values = np.asarray(values, dtype=np.float64)
    t = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values)
    t = t[..., None]
    end = np.where(t < 0, _NEGATIVE, _POSITIVE)
    return np.rint(_WHITE + np.abs(t) * (end - _WHITE)).astype(np.uint8)


class ImageLayout:
    """How a row of the data is drawn: as an image, or as a strip of features.

    Parameters
    ----------
    n_features : int
        Length of a sample.
    image_shape : tuple of int or None
        ``(height, width)`` of a sample; ``None`` means a square image when
        ``n_features`` is a square number, else no image.  A shape with a
        third as many pixels as features is an RGB image stored channel after
        channel, as :func:`sparseae.plotting.tile_filters` reads it.

    Examples
    --------
    >>> ImageLayout(64, None).shape, ImageLayout(192, (8, 8)).n_channels
    ((8, 8), 3)
    >>> ImageLayout(10, None).is_image
    False
    """

    def __init__(self, n_features: int, image_shape=None):
        self.n_features = int(n_features)
        self.n_channels = 1
        if image_shape is None:
            side = math.isqrt(self.n_features)
            self.shape = (side, side) if side * side == self.n_features else None
            return
        height, width = (int(v) for v in image_shape)
        pixels = height * width
        if pixels * 3 == self.n_features and pixels != self.n_features:
            self.n_channels = 3
        elif pixels != self.n_features:
            raise ValueError(
                f"image_shape {(height, width)} has {pixels} pixels but the data "
                f"have {self.n_features} features (neither 1 nor 3 channels)"
            )
        self.shape = (height, width)

    @property
    def is_image(self) -> bool:
        """Whether a sample is drawn as an image."""
        return self.shape is not None

    def images(self, rows) -> np.ndarray:
        """Rows of the data as images of shape (n, height, width[, 3])."""
        rows = np.asarray(rows, dtype=np.float64)
        height, width = self.shape
        images = rows.reshape(len(rows), self.n_channels, height, width)
        images = images.transpose(0, 2, 3, 1)
        return images[..., 0] if self.n_channels == 1 else images


def grid(images, *, n_cols=None, padding=1, fill=0) -> np.ndarray:
    """Lay uint8 images of one shape out on a grid, row by row.

    Parameters
    ----------
    images : ndarray of shape (n, height, width[, 3]), dtype uint8
    n_cols : int or None, default=None
        Columns; ``None`` is ``ceil(sqrt(n))``.
    padding : int, default=1
        Pixels between images and around the grid.
    fill : int, default=0
        Grey level of the padding.

    Returns
    -------
    ndarray of dtype uint8

    Examples
    --------
    >>> grid(np.full((3, 2, 2), 255, dtype=np.uint8)).shape
    (7, 7)
    """
    n, height, width = images.shape[:3]
    n_cols = n_cols or math.ceil(math.sqrt(n))
    n_rows = math.ceil(n / n_cols)
    shape = (
        n_rows * (height + padding) + padding,
        n_cols * (width + padding) + padding,
    )
    canvas = np.full(shape + images.shape[3:], fill, dtype=np.uint8)
    for k, image in enumerate(images):
        top = padding + (k // n_cols) * (height + padding)
        left = padding + (k % n_cols) * (width + padding)
        canvas[top : top + height, left : left + width] = image
    return canvas


def histogram_bars(counts, *, width=120, height=40) -> list[dict]:
    """Bars of an SVG histogram, counts on a log scale so the tails show.

    Parameters
    ----------
    counts : sequence of int
        One count per equal-width bin.
    width, height : int, default=120, 40
        Size of the drawing area in SVG units.

    Returns
    -------
    list of dict
        One ``{"x", "y", "width", "height", "count"}`` per non-empty bin, in
        SVG coordinates (y grows downwards), rounded to 0.1.

    Examples
    --------
    >>> [bar["height"] for bar in histogram_bars([0, 1, 9], width=30, height=10)]
    [3.0, 10.0]
    """
    counts = np.asarray(counts, dtype=np.float64)
    top = np.log1p(counts.max()) if counts.size and counts.max() > 0 else 1.0
    step = width / max(len(counts), 1)
    bars = []
    for k, count in enumerate(counts):
        if count <= 0:
            continue
        bar_height = round(float(height * np.log1p(count) / top), 1)
        bars.append(
            {
                "x": round(k * step, 1),
                "y": round(height - bar_height, 1),
                "width": round(step * 0.9, 1),
                "height": bar_height,
                "count": int(count),
            }
        )
    return bars
