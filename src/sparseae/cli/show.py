"""``sparseae show``: what a saved model is, and a picture of its filters."""

from __future__ import annotations

import argparse
import math
import textwrap
from pathlib import Path

EXAMPLE = """example:
  sparseae show runs/digits/model.safetensors
  sparseae show runs/rgb/model.safetensors --filters rgb.png --channels 3
"""


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "show",
        help="summarise a saved model and draw its filters",
        description=textwrap.fill(
            "Print a saved model's settings, training and figures, and draw its "
            "filters (the rows of components_) as a picture, beside the model "
            "unless --filters says where."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="model file")
    parser.add_argument(
        "--filters", type=Path, help="picture to write (default MODEL-filters.png)"
    )
    parser.add_argument(
        "--channels", type=int, choices=(1, 3), default=1, help="1 grey, 3 colour"
    )
    parser.add_argument(
        "--no-filters", action="store_true", help="print the summary only"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Print the summary and write the picture."""
    from ..models import load, read_info

    info = read_info(args.model)
    model = load(args.model)
    params = info["params"]
    history = info["history"]
    training = info["training"]
    print(f"model:           {args.model}")
    print(
        f"written by:      sparseae {info['library_version']} "
        f"(format {info['format_version']}), {info['dtype']}"
    )
    print(f"shape:           {model.n_features_in_} -> {model.n_components} hidden")
    print(
        f"objective:       rho={params['sparsity_target']} "
        f"beta={params['sparsity_weight']} lambda={params['weight_decay']} "
        f"penalty={params['penalty']} output={params['output_activation']} "
        f"loss={params['loss']}"
    )
    print(f"solver:          {params['solver']}, {model.n_iter_} iterations")
    if history["loss"]:
        print(
            f"last iteration:  loss {history['loss'][-1]:.6g}, mean activation "
            f"{history['mean_activation'][-1]:.4g}"
        )
    if training is not None and training["fitting"]:
        print("state:           interrupted mid-fit; resume_fit continues it")
    for key, value in info["extra"].items():
        print(f"{key + ':':16} {value}")
    if args.no_filters:
        return 0
    shape = info["extra"].get("image_shape")
    side = math.isqrt(model.n_features_in_ // args.channels)
    if shape is None and side * side * args.channels != model.n_features_in_:
        print(
            f"filters:         not drawn: {model.n_features_in_} features are not "
            "a square image (train with --image-shape to record the shape)"
        )
        return 0
    from ..plotting import save_filters  # matplotlib: only when drawing

    path = args.filters or args.model.with_name(args.model.stem + "-filters.png")
    save_filters(path, model.components_, image_shape=shape, n_channels=args.channels)
    print(f"filters:         {path}")
    return 0
