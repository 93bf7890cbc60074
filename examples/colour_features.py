"""Colour features: a linear-decoder sparse autoencoder on ZCA-whitened patches.

The UFLDL exercise "Learning color features with Sparse Autoencoders": 8×8 RGB
patches (192 values each) from the colour photographs that ship offline, ZCA
whitened with ε = 0.1, then a 192-400 sparse autoencoder with a linear output
(whitened values are not in [0, 1]), ρ = 0.035, λ = 3e-3, β = 5, 400 L-BFGS
iterations. The learned filters, mapped back through the whitening to pixel
space, are edges of many orientations and frequencies, and colour-opponent blobs
(red-green, blue-yellow).

Usage::

    python examples/colour_features.py                       # 100,000 patches
    python examples/colour_features.py --n-patches 20000 --max-iter 100

The picture goes to runs/colour_features/ (or --output); only
``--write-docs-images`` replaces the one in docs/img/ that the documentation
shows.

The full run takes several minutes on two cores.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder, ZCAWhitening
from sparseae.datasets import load_colour_images, sample_patches
from sparseae.plotting import save_filters

DEFAULT_OUTPUT = Path("runs") / "colour_features"
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def learn_colour_features(n_patches=100000, max_iter=400, random_state=0):
    """Whiten colour patches and fit the linear-decoder autoencoder to them.

    Returns the fitted whitening and autoencoder, and the filters in pixel space
    (one row of 192 values per hidden unit, channel by channel).
    """
    patches = sample_patches(
        load_colour_images(),
        patch_size=8,
        n_patches=n_patches,
        random_state=random_state,
    )
    zca = ZCAWhitening(epsilon=0.1)
    whitened = zca.fit_transform(patches)
    autoencoder = SparseAutoencoder(
        400,
        sparsity_target=0.035,
        sparsity_weight=5.0,
        weight_decay=3e-3,
        output_activation="linear",
        max_iter=max_iter,
        random_state=random_state,
    )
    with warnings.catch_warnings():
        # A fixed budget of iterations, as in the exercise.
        warnings.simplefilter("ignore", ConvergenceWarning)
        autoencoder.fit(whitened)
    # A hidden unit responds to W1 (x − μ) W_zca, so its filter on pixels is
    # W1 W_zca (W_zca is symmetric).
    filters = autoencoder.components_ @ zca.whitening_
    return zca, autoencoder, filters


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patches", type=int, default=100000)
    parser.add_argument("--max-iter", type=int, default=400)
    parser.add_argument(
        "--output", type=Path, help=f"folder of the picture (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--write-docs-images",
        action="store_true",
        help="write the picture to docs/img, replacing the documentation's",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = DOCS_IMG if args.write_docs_images else DEFAULT_OUTPUT

    start = time.perf_counter()
    _, autoencoder, filters = learn_colour_features(args.n_patches, args.max_iter)
    seconds = time.perf_counter() - start
    args.output.mkdir(parents=True, exist_ok=True)
    path = save_filters(args.output / "colour_features.png", filters, n_channels=3)
    sys.stdout.write(
        f"{args.n_patches} patches, {autoencoder.n_iter_} iterations, "
        f"{seconds:.0f} s -> {path}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
