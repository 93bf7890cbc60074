"""``sparseae encode``: hidden activations of data under a saved model."""

from __future__ import annotations

import argparse
import io
import textwrap
from pathlib import Path

import numpy as np

from ..io.atomic import write_bytes_atomically
from .inputs import DATA_HELP, load_input
from .options import SEED, number

EXAMPLE = """example:
  sparseae train digits -o runs/digits
  sparseae encode runs/digits/model.safetensors digits -o codes.npy
"""


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "encode",
        help="write the hidden activations of data under a model",
        description=textwrap.fill(
            "Encode INPUT with MODEL (a file written by 'sparseae train' or "
            "SparseAutoencoder.save) and write the activations, one row per "
            f"sample, to a .npy file. INPUT is {DATA_HELP}."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="model file")
    parser.add_argument("input", metavar="INPUT", help="data to encode")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="where to write the .npy"
    )
    parser.add_argument(
        "--patches",
        type=number(int, low=1),
        default=10_000,
        help="patches for 'patches' (10000)",
    )
    parser.add_argument(
        "--seed", type=SEED, default=0, help="patch positions for 'patches' (0)"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Encode and save."""
    from ..models import load

    if args.output.suffix != ".npy":
        raise ValueError(f"-o must name a .npy file, got {str(args.output)!r}")
    model = load(args.model)
    X, _ = load_input(args.input, n_patches=args.patches, seed=args.seed)
    if X.shape[1] != model.n_features_in_:
        raise ValueError(
            f"{args.input} has {X.shape[1]} features per sample but the model "
            f"{args.model} was trained on {model.n_features_in_}"
        )
    codes = model.transform(X)
    buffer = io.BytesIO()
    np.save(buffer, codes, allow_pickle=False)
    write_bytes_atomically(args.output, buffer.getvalue())
    print(f"{codes.shape[0]} x {codes.shape[1]} activations written to {args.output}")
    return 0
