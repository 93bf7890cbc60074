"""Random image patches and the classic demo's normalisation to [0.1, 0.9].

A patch is flattened row by row; a colour patch is flattened channel by channel,
``[R (row-major), G (row-major), B (row-major)]``, the layout that
:func:`sparseae.plotting.tile_filters` expects with ``n_channels=3``.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import check_finite, check_float_dtype, random_integers
from .images import load_natural_images

__all__ = ["load_patches", "normalize_patches", "sample_patches"]


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def sample_patches(
    images, *, patch_size=8, n_patches=10000, random_state=None, dtype=np.float64
):
    """Sample square patches at random positions of random images.

    Each patch picks an image uniformly, then a top-left corner uniformly among
    the positions where the patch fits.

    Parameters
    ----------
    images : sequence of ndarray of shape (height, width) or (height, width, c)
        All grey-scale or all with the same number of channels; sizes may differ.
    patch_size : int, default=8
        Side of the square patches; at most the smallest image side.
    n_patches : int, default=10000
        Number of patches.
    random_state : int, RandomState, Generator or None, default=None
        Seed or generator, as in scikit-learn, or a ``numpy.random.Generator``.
    dtype : {float64, float32}, default=np.float64
        Dtype of the result.

    Returns
    -------
    ndarray of shape (n_patches, patch_size**2 * c)
        One flattened patch per row (``c = 1`` for grey-scale images).

    Examples
    --------
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> sample_patches([image], patch_size=2, n_patches=3, random_state=0)
    array([[ 1.,  2.,  5.,  6.],
           [ 5.,  6.,  9., 10.],
           [ 2.,  3.,  6.,  7.]])
    """
    images = [np.asarray(image) for image in images]
    if not images:
        raise ValueError("images must contain at least one image, got none")
    trailing = {image.shape[2:] for image in images}
    if len(trailing) > 1 or any(image.ndim not in (2, 3) for image in images):
        shapes = [image.shape for image in images]
        raise ValueError(
            "images must all be (height, width) or all (height, width, c) with the "
            f"same c, got shapes {shapes}"
        )
    _check_positive_int("patch_size", patch_size)
    _check_positive_int("n_patches", n_patches)
    dtype = check_float_dtype(dtype)
    smallest = min(min(image.shape[:2]) for image in images)
    if patch_size > smallest:
        raise ValueError(
            "patch_size must be a positive int no larger than every image side "
            f"(here {smallest}), got {patch_size}"
        )
    integers = random_integers(random_state)
    which = integers(len(images), size=n_patches)
    heights = np.array([image.shape[0] for image in images])
    widths = np.array([image.shape[1] for image in images])
    rows = integers(heights[which] - patch_size + 1)
    cols = integers(widths[which] - patch_size + 1)

    n_features = patch_size**2 * int(np.prod(images[0].shape[2:], dtype=int))
    patches = np.empty((n_patches, n_features), dtype=dtype)
    for k, image in enumerate(images):
        mine = which == k
        # (height - p + 1, width - p + 1, [c,] p, p): a view, nothing copied.
        windows = sliding_window_view(image, (patch_size, patch_size), axis=(0, 1))
        patches[mine] = windows[rows[mine], cols[mine]].reshape(-1, n_features)
    return patches


def normalize_patches(patches):
    """Normalise patches as the classic sparse-autoencoder demo does.

    Remove each patch's own mean, clip at three standard deviations of all the
    values, and map [-3σ, 3σ] linearly onto [0.1, 0.9], which suits a sigmoid
    output layer.

    Parameters
    ----------
    patches : array-like of shape (n_patches, n_features)
        One flattened patch per row.

    Returns
    -------
    ndarray of shape (n_patches, n_features)
        Values in [0.1, 0.9]; floating dtype of the input (float64 for integers).

    Examples
    --------
    >>> normalize_patches([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    array([[0.26905989, 0.5       , 0.73094011],
           [0.5       , 0.5       , 0.5       ]])
    """
    patches = np.asarray(patches)
    if not np.issubdtype(patches.dtype, np.floating):
        patches = patches.astype(np.float64)
    if patches.ndim != 2 or patches.size == 0:
        raise ValueError(
            "patches must be 2-D (n_patches, n_features) with at least one patch "
            f"and one feature, got shape {patches.shape}"
        )
    # One NaN would make the shared σ NaN and so every patch.
    check_finite(patches, "patches")
    centred = patches - patches.mean(axis=1, keepdims=True)
    limit = 3 * centred.std()
    if limit == 0:
        return np.full_like(centred, 0.5)
    return (np.clip(centred, -limit, limit) / limit + 1) * 0.4 + 0.1


def load_patches(n_patches=10000, patch_size=8, random_state=0, *, dtype=np.float64):
    """Load the classic demo's data: normalised patches of whitened images.

    Whitened :func:`~sparseae.datasets.load_natural_images`, then
    :func:`sample_patches`, then :func:`normalize_patches`.

    Parameters
    ----------
    n_patches : int, default=10000
        Number of patches.
    patch_size : int, default=8
        Side of the square patches.
    random_state : int, RandomState, Generator or None, default=0
        Seed or generator for the patch positions.
    dtype : {float64, float32}, default=np.float64
        Dtype of the result.

    Returns
    -------
    ndarray of shape (n_patches, patch_size**2)
        Values in [0.1, 0.9].

    Examples
    --------
    >>> X = load_patches(1000)
    >>> X.shape, float(X.min()) >= 0.1, float(X.max()) <= 0.9
    ((1000, 64), True, True)
    """
    dtype = check_float_dtype(dtype)
    patches = sample_patches(
        load_natural_images(),
        patch_size=patch_size,
        n_patches=n_patches,
        random_state=random_state,
    )
    return normalize_patches(patches).astype(dtype, copy=False)
