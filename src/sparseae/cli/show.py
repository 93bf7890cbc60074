"""``sparseae show``: what a saved model is, and a picture of its filters."""

from __future__ import annotations

import argparse
import io
import math
import textwrap
from pathlib import Path

# Picture formats --filters may name, by suffix (Pillow's format names).
PICTURE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
SCALE = 8  # screen pixels per filter pixel, as plotting.save_filters

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
        "--filters",
        type=Path,
        help="picture to write, in the format its suffix names: "
        f"{', '.join(PICTURE_FORMATS)} (default MODEL-filters.png)",
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

    path = args.filters or args.model.with_name(args.model.stem + "-filters.png")
    if not args.no_filters and path.suffix.lower() not in PICTURE_FORMATS:
        raise ValueError(
            f"--filters {str(path)!r} has suffix {path.suffix!r}; a picture can "
            f"be {', '.join(PICTURE_FORMATS)}"
        )
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
    n = model.n_features_in_
    if n % args.channels:
        raise ValueError(
            f"--channels {args.channels}: the model's {n} features are not "
            f"divisible by {args.channels}, so they are not {args.channels} values "
            "per pixel"
        )
    side = math.isqrt(n // args.channels)
    if shape is None and side * side * args.channels != n:
        print(
            f"filters:         not drawn: {n // args.channels} pixels are not a "
            "square image (train with --image-shape to record the shape)"
        )
        return 0
    _save_picture(path, model.components_, shape, args.channels)
    print(f"filters:         {path}")
    return 0


def _save_picture(path: Path, W, image_shape, n_channels: int) -> None:
    """Tile the filters and write them in the format ``path``'s suffix names."""
    import numpy as np
    from PIL import Image

    from ..io.atomic import write_bytes_atomically
    from ..plotting import tile_filters

    tile = tile_filters(W, image_shape=image_shape, n_channels=n_channels)
    pixels = np.rint(tile * 255).astype(np.uint8)
    pixels = pixels.repeat(SCALE, axis=0).repeat(SCALE, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=PICTURE_FORMATS[path.suffix.lower()])
    write_bytes_atomically(path, buffer.getvalue())
