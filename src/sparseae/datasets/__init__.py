"""Data for sparse autoencoders: natural-image patches, digits and IDX files."""

from .digits import load_digits_scaled
from .idx import DEBIAN_FASHION_MNIST, load_mnist, read_idx, write_idx
from .images import load_colour_images, load_natural_images, whiten_image
from .patches import load_patches, normalize_patches, sample_patches

__all__ = [
    "DEBIAN_FASHION_MNIST",
    "load_colour_images",
    "load_digits_scaled",
    "load_mnist",
    "load_natural_images",
    "load_patches",
    "normalize_patches",
    "read_idx",
    "sample_patches",
    "whiten_image",
    "write_idx",
]
