"""Ten natural photographs that ship offline, whitened as in Olshausen's IMAGES.mat.

The classic sparse-autoencoder demo samples patches from ten whitened natural
images (``IMAGES.mat``, Olshausen & Field 1996) that cannot be had offline. These
ten photographs stand in for them. All ship inside scikit-image or scikit-learn:

========  =====================================================  ===============
name      photograph, credit                                     licence
========  =====================================================  ===============
camera    man with a camera; Lav Varshney                        CC0
astronaut Eileen Collins; NASA Great Images database             public domain
coffee    coffee cup; Rachel Michetti, Pikolo Espresso Bar       CC0
chelsea   Chelsea the cat; Stefan van der Walt                   CC0
rocket    DSCOVR launch on Falcon 9; SpaceX                      public domain
grass     grass; linolafett on DeviantArt                        CC0
gravel    gravel; CC0Textures (Gravel04)                         CC0
brick     brick wall; CC0Textures (Bricks25)                     CC0
china     Chinese temple; danielbuechele on Flickr               CC BY 2.0
flower    flower; vultilion on Flickr                            CC BY 2.0
========  =====================================================  ===============

The first eight are ``skimage.data``; ``china`` and ``flower`` come from
:func:`sklearn.datasets.load_sample_images` and, being CC BY 2.0
(https://creativecommons.org/licenses/by/2.0/), require that credit when shown
or redistributed.

References
----------
.. [1] B. A. Olshausen and D. J. Field, "Emergence of simple-cell receptive field
   properties by learning a sparse code for natural images", Nature 381, 1996.
"""

from numbers import Real

import numpy as np
import skimage.data
from skimage.color import rgb2gray
from sklearn.datasets import load_sample_images

from ._checks import check_finite

__all__ = [
    "COLOUR_IMAGE_NAMES",
    "IMAGE_NAMES",
    "load_colour_images",
    "load_natural_images",
    "whiten_image",
]

IMAGE_NAMES = (
    "camera",
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "grass",
    "gravel",
    "brick",
    "china",
    "flower",
)
COLOUR_IMAGE_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower")
# The variance of each image in Olshausen's IMAGES.mat.
_TARGET_VARIANCE = 0.1


def _load_uint8(names):
    sklearn_images = None
    out = []
    for name in names:
        if name in ("china", "flower"):
            if sklearn_images is None:
                sklearn_images = load_sample_images().images
            out.append(sklearn_images[0 if name == "china" else 1])
        else:
            out.append(getattr(skimage.data, name)())
    return out


def load_natural_images(*, whiten=True, f0=None):
    """Load the ten photographs as grey-scale float64 images.

    Parameters
    ----------
    whiten : bool, default=True
        Whiten each image with :func:`whiten_image` (zero mean, variance 0.1,
        flattened spectrum), as in Olshausen's ``IMAGES.mat``. If False, return
        the grey levels in [0, 1].
    f0 : float or None, default=None
        Cut-off of the whitening filter, passed to :func:`whiten_image`.

    Returns
    -------
    list of ndarray of shape (height, width)
        In the order of :data:`IMAGE_NAMES`; sizes differ (300 to 640 pixels a
        side).

    Examples
    --------
    >>> images = load_natural_images()
    >>> len(images), images[0].shape
    (10, (512, 512))
    >>> round(float(images[0].var()), 6), abs(float(images[0].mean())) < 1e-12
    (0.1, True)
    """
    images = []
    for image in _load_uint8(IMAGE_NAMES):
        grey = rgb2gray(image) if image.ndim == 3 else image / 255.0
        images.append(whiten_image(grey, f0=f0) if whiten else grey)
    return images


def load_colour_images():
    """Load the six colour photographs as floats in [0, 1].

    Returns
    -------
    list of ndarray of shape (height, width, 3)
        RGB, float64, in the order of :data:`COLOUR_IMAGE_NAMES`.

    Examples
    --------
    >>> images = load_colour_images()
    >>> len(images), images[0].shape, float(images[0].max())
    (6, (512, 512, 3), 1.0)
    """
    return [image / 255.0 for image in _load_uint8(COLOUR_IMAGE_NAMES)]


def whiten_image(image, *, f0=None):
    """Whiten a grey-scale image in the manner of Olshausen and Field.

    Natural images have an amplitude spectrum falling roughly as 1/f. Multiplying
    the spectrum by ``f * exp(-(f / f0)**4)`` flattens it (the ramp) while
    suppressing the highest frequencies, where noise and aliasing live (the
    cut-off). The result is scaled to variance 0.1.

    Parameters
    ----------
    image : array-like of shape (height, width)
        Grey levels.
    f0 : float or None, default=None
        Cut-off in cycles per picture. ``None`` means 0.4 times the smaller side
        (Olshausen's 200 cycles for 512 pixels). For a non-square image,
        frequencies are counted in cycles per smaller side so the filter stays
        isotropic.

    Returns
    -------
    ndarray of shape (height, width)
        Zero mean, variance 0.1, float64.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> white = whiten_image(rng.random((64, 48)))
    >>> white.shape, round(float(white.var()), 6)
    ((64, 48), 0.1)
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(
            "image must be a 2-D grey-scale array at least 2 pixels a side, got "
            f"shape {image.shape}; convert colour images with skimage.color.rgb2gray"
        )
    check_finite(image, "image")
    side = min(image.shape)
    if f0 is None:
        f0 = 0.4 * side
    elif isinstance(f0, bool) or not isinstance(f0, Real) or not f0 > 0:
        raise ValueError(f"f0 must be a positive number of cycles, got {f0!r}")
    fy = np.fft.fftfreq(image.shape[0])[:, None] * side
    fx = np.fft.fftfreq(image.shape[1])[None, :] * side
    f = np.hypot(fy, fx)  # (height, width), cycles per smaller side
    spectrum = np.fft.fft2(image - image.mean())
    white = np.fft.ifft2(spectrum * f * np.exp(-((f / f0) ** 4))).real
    std = white.std()
    if std == 0:
        raise ValueError("image is constant, so it cannot be whitened")
    return white * (np.sqrt(_TARGET_VARIANCE) / std)
