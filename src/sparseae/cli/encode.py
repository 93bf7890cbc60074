"""``sparseae encode``: hidden activations of data under a saved model."""

from __future__ import annotations

import argparse
import io
import textwrap
from pathlib import Path

import numpy as np

from ..io.atomic import write_bytes_atomically
from . import cluster
from .inputs import DATA_HELP, load_input
from .options import SEED, check_output_file, number

EXAMPLE = """example:
  sparseae train digits -o runs/digits
  sparseae encode runs/digits/model.safetensors digits -o codes.npy
  sparseae encode runs/digits/model.safetensors digits -o codes.csv
"""


def _npy(codes, names) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, codes, allow_pickle=False)
    return buffer.getvalue()


def _npz(codes, names) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, codes=codes)
    return buffer.getvalue()


def _csv(codes, names) -> bytes:
    buffer = io.StringIO()
    # 17 significant digits: the text reads back as the same floats.
    np.savetxt(
        buffer, codes, fmt="%.17g", delimiter=",", header=",".join(names), comments=""
    )
    return buffer.getvalue().encode()


WRITERS = {".npy": _npy, ".npz": _npz, ".csv": _csv}


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "encode",
        help="write the hidden activations of data under a model",
        description=textwrap.fill(
            "Encode INPUT with MODEL (a file written by 'sparseae train' or "
            "SparseAutoencoder.save) and write the activations, one row per "
            "sample, to a .npy, .npz (array 'codes') or .csv file (a header of "
            "unit names, then one line per sample), or with --scheduler or a "
            "zarr INPUT to a .zarr store. An existing OUTPUT is replaced only "
            "with --overwrite, and never when it is INPUT or MODEL; what an "
            "encoding killed mid-write (SIGKILL) left beside OUTPUT, hidden "
            "temporary files or stores named .OUTPUT.XXXXXXXX.tmp, is removed by "
            f"the next encoding to OUTPUT. INPUT is {DATA_HELP}."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="model file")
    parser.add_argument("input", metavar="INPUT", help="data to encode")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="where to write the activations: a .npy, .npz or .csv file, or a "
        ".zarr store with --scheduler or a zarr INPUT",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUTPUT if it exists (it is written atomically)",
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
    cluster.add_options(parser, train=False)
    parser.set_defaults(run=run)


def inputs(args) -> list[Path]:
    """The files ``encode`` reads: MODEL, and INPUT unless it is a data set."""
    named = args.input in ("patches", "digits")
    return [args.model] + ([] if named else [Path(args.input)])


def run(args) -> int:
    """Encode and save."""
    from ..models import load

    if cluster.wanted(args):
        return cluster.run_encode(args, read=inputs(args))
    suffix = args.output.suffix.lower()
    if suffix not in WRITERS:
        raise ValueError(
            f"-o must name a .npy, .npz or .csv file, got {str(args.output)!r}"
        )
    check_output_file(
        args.output, "-o/--output", overwrite=args.overwrite, inputs=inputs(args)
    )
    model = load(args.model)
    X, _ = load_input(args.input, n_patches=args.patches, seed=args.seed)
    if X.shape[1] != model.n_features_in_:
        raise ValueError(
            f"{args.input} has {X.shape[1]} features per sample but the model "
            f"{args.model} was trained on {model.n_features_in_}"
        )
    codes = model.transform(X)
    names = model.get_feature_names_out()
    cluster.remove_leftovers(args.output)
    write_bytes_atomically(args.output, WRITERS[suffix](codes, names))
    print(f"{codes.shape[0]} x {codes.shape[1]} activations written to {args.output}")
    return 0
