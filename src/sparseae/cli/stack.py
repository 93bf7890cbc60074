"""``sparseae stack``: train a stacked autoencoder classifier on labelled data.

A command of its own rather than options of ``train``: a stack needs labels,
has three stages with their own budgets and weight decays, and ends in a
classifier measured by its accuracy, while ``train`` fits one unsupervised
autoencoder that can be checkpointed and resumed.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import textwrap
import time
import warnings
from pathlib import Path

from ..io import strict_json
from ..io.atomic import write_bytes_atomically
from .inputs import DATA_HELP, load_input, load_labels
from .options import SEED, add_data_options, number, options_named
from .runs import RunFolder, check_output

EXAMPLE = """examples:
  sparseae stack digits -o runs/stack --layers 32,16 --weight-decay 1e-4
  sparseae stack x.npy --labels y.csv -o runs/stack --layers 200,200 \\
      --image-shape 28 28 --fine-tune-max-iter 100

writes OUTPUT/model.safetensors (sparseae.load), OUTPUT/metrics.json (accuracy
on the training data before and after fine-tuning, seconds per stage, the
configuration) and, when the samples are images, OUTPUT/filters.png (the first
layer's filters after fine-tuning).
"""


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"must be hidden layer sizes separated by commas, each an integer "
            f">= 1, e.g. 200,200, got {text!r}"
        )
    return sizes


# argparse takes "-5,3" for an option (only "-5" looks like a negative number
# to it) and says "expected one argument"; read as a value, it reaches
# _sizes, which says what is wrong with it.
NEGATIVE_SIZES = re.compile(r"^-\d+(,-?\d+)*$")


# Options that set StackedAutoencoder parameters: (name, type, default, help).
STACK_OPTIONS = (
    ("sparsity_target", float, 0.1, "target mean activation rho of each layer"),
    ("sparsity_weight", float, 3.0, "weight beta of the sparsity penalty"),
    ("weight_decay", float, 3e-3, "weight decay lambda of the autoencoders"),
    ("softmax_weight_decay", float, 1e-4, "weight decay of the softmax layer"),
    ("fine_tune_weight_decay", float, 1e-4, "weight decay of fine-tuning"),
    ("output_activation", str, "sigmoid", "first autoencoder's output unit"),
    ("pretrain_max_iter", number(int, low=1), 400, "L-BFGS iterations per layer"),
    ("softmax_max_iter", number(int, low=1), 100, "L-BFGS iterations, softmax"),
    ("fine_tune_max_iter", number(int, low=0), 400, "L-BFGS iterations, fine-tuning"),
    ("tol", float, 1e-9, "stopping tolerance of every stage"),
    ("dtype", str, "float64", "float64 or float32"),
)


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "stack",
        help="train a stacked autoencoder classifier on labelled data",
        description=textwrap.fill(
            "Pretrain one sparse autoencoder per hidden layer, train a softmax "
            "layer on the last one's features, fine-tune the whole network on "
            f"the labels, and save it. DATA is {DATA_HELP}."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="what to train on (see above)")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="folder for the results"
    )
    parser.add_argument(
        "--layers",
        type=_sizes,
        required=True,
        metavar="H1,H2,...",
        help="hidden layer sizes, e.g. 200,200",
    )
    # The parser's own test of "looks like a negative number", widened to
    # lists; argparse has no public hook for it.  (It only matters when the
    # parser has an option that looks like a negative number, which it has not.)
    matcher = getattr(parser, "_negative_number_matcher", None)
    if matcher is not None:
        parser._negative_number_matcher = re.compile(
            f"{NEGATIVE_SIZES.pattern}|{matcher.pattern}"
        )
    parser.add_argument(
        "--labels",
        type=Path,
        help="one label per sample: a .npy, .csv or .txt file (digits has its own)",
    )
    model = parser.add_argument_group("model and training")
    for name, kind, default, text in STACK_OPTIONS:
        model.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=default,
            help=f"{text} (default %(default)s)",
        )
    model.add_argument("--seed", type=SEED, default=0, help="random_state (default 0)")
    data = parser.add_argument_group("data")
    add_data_options(data)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in OUTPUT, once this one has finished "
        "(if it fails or is interrupted, OUTPUT keeps the old run)",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Train the stack, then write the model, its figures and the filters.

    ``-o``, DATA, the labels and (in ``fit``) the options are all checked
    before anything is written, and a run replacing another (``--overwrite``)
    is written beside it and takes its place once complete
    (:class:`~sparseae.cli.runs.RunFolder`).
    """
    from ..models.stacked import StackedAutoencoder

    replacing = check_output(args.output, overwrite=args.overwrite, resumable=False)
    X, image_shape = load_input(
        args.data, n_patches=args.patches, seed=args.seed, image_shape=args.image_shape
    )
    y = load_labels(args.data, args.labels, len(X))
    params = {name: getattr(args, name) for name, _, _, _ in STACK_OPTIONS}
    model = StackedAutoencoder(args.layers, **params, random_state=args.seed)
    start = time.perf_counter()
    with (
        options_named(params),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        model.fit(X, y)
    seconds = time.perf_counter() - start
    for warning in caught:
        print(f"warning: {_as_options(str(warning.message))}", file=sys.stderr)
    run = RunFolder(args.output, replacing=replacing)
    try:
        written, metrics = _write(model, X, y, run.make(), image_shape, seconds, args)
        run.publish()
    except BaseException:
        run.discard()
        raise
    print(f"data:            {len(X)} samples of {X.shape[1]} features ({args.data})")
    print(
        f"layers:          {X.shape[1]} -> {' -> '.join(map(str, args.layers))} -> "
        f"{len(model.classes_)} classes, {seconds:.1f} s"
    )
    print(
        f"train accuracy:  {metrics['train_accuracy']:.4f} (before fine-tuning "
        f"{metrics['train_accuracy_before_fine_tuning']:.4f})"
    )
    print(f"written to {args.output}: {', '.join(written)}")
    return 0


def _as_options(message: str) -> str:
    """``message`` with the estimator's parameters named as this command's options.

    Examples
    --------
    >>> _as_options("reached fine_tune_max_iter=4; increase fine_tune_max_iter")
    'reached --fine-tune-max-iter=4; increase --fine-tune-max-iter'
    """
    names = "|".join(name for name, _, _, _ in STACK_OPTIONS)
    return re.sub(
        rf"(?<![\w-])({names})\b",
        lambda match: "--" + match.group(1).replace("_", "-"),
        message,
    )


def _write(model, X, y, folder, image_shape, seconds, args):
    """Write the model, metrics.json and the filters into ``folder``.

    Returns the names of the files written and the metrics.
    """
    extra = {"data": args.data, "image_shape": image_shape and list(image_shape)}
    model.save(folder / "model.safetensors", extra=extra)
    pretrained = copy.copy(model)
    pretrained.weights_ = model.pretrained_weights_
    pretrained.intercepts_ = model.pretrained_intercepts_
    hyperparameters = model.get_params()
    hyperparameters["dtype"] = str(hyperparameters["dtype"])
    metrics = {
        "data": {
            "source": args.data,
            "n_samples": len(X),
            "n_features": X.shape[1],
            "n_classes": len(model.classes_),
        },
        "layers": list(args.layers),
        "train_accuracy": float(model.score(X, y)),
        "train_accuracy_before_fine_tuning": float(pretrained.score(X, y)),
        "fine_tune_iterations": model.n_iter_,
        "seconds": round(seconds, 3),
        "stage_seconds": {k: round(v, 3) for k, v in model.fit_times_.items()},
        "config": {"hyperparameters": hyperparameters, "seed": args.seed},
    }
    write_bytes_atomically(
        folder / "metrics.json", (strict_json.dumps(metrics, indent=2) + "\n").encode()
    )
    written = ["model.safetensors", "metrics.json"]
    if image_shape is not None:
        from ..plotting import save_filters  # matplotlib: only when drawing
        from .inputs import image_channels

        W = model.weights_[0]
        channels = image_channels(image_shape, W.shape[1], args.data)
        save_filters(
            folder / "filters.png", W, image_shape=image_shape, n_channels=channels
        )
        written.append("filters.png")
    return written, metrics
