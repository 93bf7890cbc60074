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
# The model files of a run folder, in the order looked for: the finished
# model, else the checkpoint of an interrupted run.
RUN_MODELS = ("model.safetensors", "checkpoint.safetensors")
# Class labels printed before the rest are counted.
SHOWN_CLASSES = 12

EXAMPLE = """examples:
  sparseae show runs/digits/model.safetensors
  sparseae show runs/digits                   # the run's model (or checkpoint)
  sparseae show runs/rgb/model.safetensors --filters rgb.png --channels 3
"""


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "show",
        help="summarise a saved model and draw its filters",
        description=textwrap.fill(
            "Print a saved model's settings, training and figures, and draw its "
            "filters (the rows of components_; for a stacked model, the first "
            "layer's weights) as a picture, beside the model unless --filters "
            "says where. MODEL is a model file or a run folder of 'sparseae "
            "train' or 'sparseae stack' (its model, or its checkpoint when the "
            "run was interrupted)."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model", type=Path, metavar="MODEL", help="model file or run folder"
    )
    picture = parser.add_mutually_exclusive_group()
    picture.add_argument(
        "--filters",
        type=Path,
        help="picture to write, in the format its suffix names: "
        f"{', '.join(PICTURE_FORMATS)} (default MODEL-filters.png)",
    )
    picture.add_argument(
        "--no-filters", action="store_true", help="print the summary only"
    )
    parser.add_argument(
        "--channels", type=int, choices=(1, 3), default=1, help="1 grey, 3 colour"
    )
    parser.set_defaults(run=run)


def model_file(target: Path, argument: str = "MODEL") -> Path:
    """The model file ``target`` names: itself, or the model of a run folder.

    ``argument`` is the command-line argument that gave ``target``, for the
    error message.

    Raises
    ------
    FileNotFoundError
        If ``target`` is a folder holding no model file.
    """
    if not target.is_dir():
        return target
    for name in RUN_MODELS:
        if (target / name).is_file():
            return target / name
    raise FileNotFoundError(
        f"{argument} {target} is a folder that holds no {' or '.join(RUN_MODELS)}: "
        "pass a model file, or a run folder written by 'sparseae train' or "
        "'sparseae stack'"
    )


def run(args) -> int:
    """Print the summary and write the picture."""
    from ..models import load, read_info
    from ..models.stacked import StackedAutoencoder

    model_path = model_file(args.model)
    path = args.filters or model_path.with_name(model_path.stem + "-filters.png")
    if not args.no_filters and path.suffix.lower() not in PICTURE_FORMATS:
        raise ValueError(
            f"--filters {str(path)!r} has suffix {path.suffix!r}; a picture can "
            f"be {', '.join(PICTURE_FORMATS)}"
        )
    info = read_info(model_path)
    model = load(model_path)
    print(f"model:           {model_path}")
    print(
        f"written by:      sparseae {info['library_version']} "
        f"(format {info['format_version']}), {info['dtype']}"
    )
    if isinstance(model, StackedAutoencoder):
        _describe_stack(info, model)
        W = model.weights_[0]
        drawn = " (first layer" + (", fine-tuned)" if model.n_iter_ else ")")
    else:
        _describe_autoencoder(info, model)
        W, drawn = model.components_, ""
    for key, value in info["extra"].items():
        print(f"{key + ':':16} {value}")
    if args.no_filters:
        return 0
    shape = info["extra"].get("image_shape")
    n = W.shape[1]
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
    _save_picture(path, W, shape, args.channels)
    print(f"filters:         {path}{drawn}")
    return 0


def _describe_autoencoder(info: dict, model) -> None:
    params = info["params"]
    history = info["history"]
    training = info["training"]
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


def _describe_stack(info: dict, model) -> None:
    """The layers of a StackedAutoencoder and how each stage was trained."""
    params, times = info["params"], info["fit_times"]
    sizes = [model.n_features_in_, *params["hidden_layer_sizes"]]
    classes = [str(c) for c in model.classes_]
    print(
        f"shape:           {' -> '.join(map(str, sizes))} hidden -> "
        f"{len(classes)} classes (stacked autoencoder classifier)"
    )
    if len(classes) > SHOWN_CLASSES:
        classes = [*classes[:SHOWN_CLASSES], f"... ({len(classes)} in all)"]
    print(f"classes:         {', '.join(classes)}")
    print(
        f"objective:       rho={params['sparsity_target']} "
        f"beta={params['sparsity_weight']} lambda={params['weight_decay']} "
        f"output={params['output_activation']} (autoencoders); softmax "
        f"lambda={params['softmax_weight_decay']}; fine-tuning "
        f"lambda={params['fine_tune_weight_decay']}"
    )
    for depth, autoencoder in enumerate(model.autoencoders_, start=1):
        history = autoencoder.history_
        last = (
            f", loss {history['loss'][-1]:.6g}, mean activation "
            f"{history['mean_activation'][-1]:.4g}"
            if history["loss"]
            else ""
        )
        print(
            f"{f'layer {depth}:':16} {sizes[depth - 1]} -> {sizes[depth]}, pretrained "
            f"{autoencoder.n_iter_} iterations (lbfgs){last}"
            + _seconds(times.get(f"pretrain layer {depth}"))
        )
    print(
        f"softmax:         {sizes[-1]} -> {len(model.classes_)} classes, at most "
        f"{params['softmax_max_iter']} iterations (lbfgs)"
        + _seconds(times.get("softmax"))
    )
    if params["fine_tune_max_iter"] == 0:
        print("fine-tuning:     none (fine_tune_max_iter=0)")
    else:
        print(
            f"fine-tuning:     {model.n_iter_} iterations (lbfgs, at most "
            f"{params['fine_tune_max_iter']})" + _seconds(times.get("fine-tune"))
        )


def _seconds(value) -> str:
    return "" if value is None else f", {value:.2f} s"


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
