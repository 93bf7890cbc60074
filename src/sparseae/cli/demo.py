"""``sparseae demo``: the classic natural-image experiment of the course."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from .options import SEED, check_output_file, number

DEFAULT_OUTPUT = Path("filters.png")

EXAMPLE = """example:
  sparseae demo                      # writes filters.png in this folder
  sparseae demo --output out/filters.png --seed 3 --max-iter 200
"""


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "demo",
        help="learn edge filters from natural-image patches",
        description=(
            "Train the classic 64-25-64 sparse autoencoder (rho=0.01, lambda=1e-4, "
            "beta=3) with L-BFGS on 10,000 8x8 patches of whitened photographs "
            "that ship with scikit-image and scikit-learn, and save the 25 "
            "learned filters as a picture."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=(
            "where to write the filter picture, a .png file (default filters.png, "
            "which each demo replaces)"
        ),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an --output that exists (it is written atomically)",
    )
    parser.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--max-iter",
        type=number(int, low=1),
        default=400,
        help="L-BFGS iterations (default 400)",
    )
    parser.add_argument(
        "--patches",
        type=number(int, low=1),
        default=10_000,
        help="number of patches (default 10000)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="floating type of the computation (default float64)",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Train, print the figures of the run, and save the filters."""
    # The default picture is the demo's own, replaced by each run, so that
    # the README's one command can be run again; a file named with --output
    # may be something else of the user's, and is replaced only when asked.
    overwrite = args.overwrite or args.output is None
    args.output = DEFAULT_OUTPUT if args.output is None else args.output
    # Checked before the minute of training that the picture would cost.
    if args.output.suffix.lower() != ".png":
        raise ValueError(
            f"--output {str(args.output)!r} has suffix {args.output.suffix!r}; the "
            "filter picture is a PNG: give a .png file"
        )
    check_output_file(args.output, "--output", overwrite=overwrite)

    from sklearn.exceptions import ConvergenceWarning

    from ..datasets import load_patches
    from ..models.autoencoder import SparseAutoencoder
    from ..plotting import save_filters

    start = time.perf_counter()
    X = load_patches(n_patches=args.patches, patch_size=8, random_state=args.seed)
    loaded = time.perf_counter()
    model = SparseAutoencoder(
        n_components=25,
        sparsity_target=0.01,
        sparsity_weight=3.0,
        weight_decay=1e-4,
        max_iter=args.max_iter,
        random_state=args.seed,
        dtype=np.dtype(args.dtype),
    )
    with warnings.catch_warnings():
        # The classic experiment runs a fixed budget of iterations by design.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    trained = time.perf_counter()
    save_filters(args.output, model.components_)
    history = model.history_
    print(f"data:            {X.shape[0]} patches of 8x8 from whitened photographs")
    print(f"iterations:      {model.n_iter_}")
    print(f"loss:            {history['loss'][-1]:.6f}")
    print(f"  reconstruction {history['reconstruction'][-1]:.6f}")
    print(f"  weight decay   {history['weight_decay'][-1]:.6f}")
    print(f"  sparsity       {history['sparsity'][-1]:.6f}")
    print(f"mean activation: {history['mean_activation'][-1]:.4f} (target 0.01)")
    print(
        f"time:            {loaded - start:.1f} s data, {trained - loaded:.1f} s "
        f"training, {time.perf_counter() - start:.1f} s in all"
    )
    print(f"filters:         {args.output}")
    return 0
