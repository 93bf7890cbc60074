"""``sparseae report``: the self-contained HTML report of a run or a model file."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from .inputs import DATA_HELP, load_input, load_labels
from .options import SEED, add_data_options, number
from .show import RUN_MODELS, model_file

EXAMPLE = """examples:
  sparseae train digits -o runs/digits
  sparseae report runs/digits                  # writes runs/digits/report.html
  sparseae report runs/digits/model.safetensors --data digits -o report.html
  sparseae stack digits -o runs/stack --layers 32,16
  sparseae report runs/stack                   # layers, accuracy, first layer
"""

# What 'sparseae train' and 'sparseae stack' record of a finished run,
# among it the data (for train under config.data, for stack under data).
RECORD = "metrics.json"
DEFAULT_PATCHES, DEFAULT_SEED = 10_000, 0  # as 'sparseae train' has them


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of what a model learned",
        description=textwrap.fill(
            "Measure a model's hidden units on data and write one HTML file with "
            "the run's settings, training curves, filters, mean activations, "
            "reconstructions and a card per unit; for a stacked model, each "
            "layer's figures, the accuracy (given labels) and the first layer's "
            "filters and units. TARGET is a folder written by 'sparseae train' "
            "or 'sparseae stack' (its model, or its checkpoint when the run was "
            "interrupted; the report goes beside it) or a model file. DATA "
            "defaults to the data the run was trained on, as its metrics.json "
            f"records them; it is {DATA_HELP}."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", type=Path, metavar="TARGET", help="run or model")
    parser.add_argument("--data", metavar="DATA", help="data to measure the units on")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="HTML file (default RUN/report.html or MODEL-report.html)",
    )
    parser.add_argument(
        "--top-k",
        type=number(int, low=1),
        default=9,
        help="inputs shown per unit (default 9)",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        help="labels of DATA for a stacked model's accuracy: a .npy, .csv or .txt "
        "file, one label per sample (digits has its own)",
    )
    add_data_options(
        parser,
        patches_default=None,
        patches_help="patches for 'patches' (default: the run's, else "
        f"{DEFAULT_PATCHES})",
        image_shape_help="shape of one sample (default: the model's, else square)",
    )
    parser.add_argument(
        "--seed",
        type=SEED,
        help=f"patch positions for 'patches' (default: the run's, else {DEFAULT_SEED})",
    )
    parser.set_defaults(run=run)


def _read_record(folder: Path | None) -> tuple[dict, dict]:
    """The run's metrics.json and its record of the data, or two empty dicts.

    The record has ``"source"`` and, for patches, ``"patches"`` and
    ``"seed"``; a run of 'sparseae train' adds the data's ``"fingerprint"``.
    """
    path = folder / RECORD if folder is not None else None
    if path is None or not path.is_file():
        return {}, {}
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{path} holds no JSON object, so no record of the data")
    config = metrics.get("config") if isinstance(metrics.get("config"), dict) else {}
    if isinstance(config.get("data"), dict):
        return metrics, config["data"]
    data = metrics.get("data")
    if isinstance(data, dict) and "source" in data:
        # 'sparseae stack' draws n_samples patches with the run's seed.
        patches = data["source"] == "patches"
        return metrics, {
            "source": data["source"],
            "patches": data.get("n_samples") if patches else None,
            "seed": config.get("seed") if patches else None,
        }
    return metrics, {}


def run(args) -> int:
    """Load the model and data, build the report, write it."""
    from ..models import load, read_info
    from ..models.stacked import StackedAutoencoder

    model_path = model_file(args.target, "TARGET")
    run_folder = args.target if args.target.is_dir() else None
    # A model file of a run folder has the run's record beside it.
    folder = model_path.parent if model_path.name in RUN_MODELS else None
    metrics, record = _read_record(folder)
    if run_folder is not None:
        default_output = run_folder / "report.html"
    else:
        default_output = model_path.with_name(model_path.stem + "-report.html")
    output = args.output or default_output
    if output.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"-o must name an .html file, got {str(output)!r}")
    info = read_info(model_path)
    model = load(model_path)
    stacked = isinstance(model, StackedAutoencoder)
    if args.labels is not None and not stacked:
        raise ValueError(
            f"--labels {str(args.labels)!r}: labels measure a stacked model's "
            f"accuracy, and {model_path} is a sparse autoencoder; drop --labels"
        )
    interrupted = (
        folder is not None and not metrics and model_path.name == RUN_MODELS[1]
    )
    source, patches, seed = _data(args, model_path, info, record, interrupted)
    try:
        X, loaded_shape = load_input(
            source, n_patches=patches, seed=seed, image_shape=args.image_shape
        )
    except FileNotFoundError as error:
        if args.data:
            raise
        raise FileNotFoundError(
            f"{error}; the model was trained on it: pass --data DATA"
        ) from None
    if X.shape[1] != model.n_features_in_:
        raise ValueError(
            f"{source} has {X.shape[1]} features per sample but the model "
            f"{model_path} was trained on {model.n_features_in_}"
        )
    _check_run_data(args, X, info, record, (source, patches, seed), run_folder)
    config = metrics.get("config") or {
        "data": source,
        "hyperparameters": info["params"],
    }
    image_shape = args.image_shape or info["extra"].get("image_shape") or loaded_shape
    title = f"sparseae report: {model_path.parent.name or model_path.name}"
    from ..report import write_report  # Jinja2 and Matplotlib: only here

    if stacked:
        _write_stacked(args, output, model, X, source, config, image_shape, title)
        return 0
    path = write_report(
        output,
        model,
        X,
        history=model.history_,
        config=config,
        image_shape=image_shape,
        top_k=args.top_k,
        title=title,
    )
    size = path.stat().st_size / 1e6
    print(
        f"report on {model.n_components} units and {len(X)} samples written to "
        f"{path} ({size:.1f} MB)"
    )
    return 0


def _write_stacked(args, output, model, X, source, config, image_shape, title):
    """Write a stacked model's report, with its accuracy when DATA has labels."""
    from ..report import write_report

    y = None
    if args.labels is not None or source == "digits":
        y = load_labels(source, args.labels, len(X))
    path = write_report(
        output,
        model,
        X,
        y=y,
        config=config,
        image_shape=image_shape,
        top_k=args.top_k,
        title=title,
    )
    sizes = [model.n_features_in_, *(a.n_components for a in model.autoencoders_)]
    shape = f"{' -> '.join(map(str, sizes))} -> {len(model.classes_)} classes"
    accuracy = f", accuracy {model.score(X, y):.4f}" if y is not None else ""
    print(
        f"report on the stacked model {shape} and {len(X)} samples{accuracy} "
        f"written to {path} ({path.stat().st_size / 1e6:.1f} MB)"
    )


def _data(args, model_path, info, record, interrupted) -> tuple:
    """DATA and, for patches, their number and seed: as given, else as recorded."""
    saved = record.get("source") or info["extra"].get("data")
    source = args.data or saved
    stopped = (
        " (the run was interrupted: metrics.json, its record of the data, is "
        "written when a run finishes)"
        if interrupted
        else ""
    )
    if source is None:
        raise ValueError(
            f"{model_path} does not record its data{stopped}: pass --data DATA "
            f"({DATA_HELP})"
        )
    if source != "patches":
        return source, DEFAULT_PATCHES, DEFAULT_SEED
    same = source == saved
    patches = args.patches or (record.get("patches") if same else None)
    seed = args.seed if args.seed is not None else record.get("seed") if same else None
    if patches is None and args.data is None:
        finish = (
            ", or finish the run (its command with --resume) and report on it then"
            if interrupted
            else ""
        )
        raise ValueError(
            f"{model_path} records that it was trained on 'patches' but not how "
            f"many{stopped}: pass --patches N and --seed S as given to 'sparseae "
            f"train' (defaults {DEFAULT_PATCHES} and {DEFAULT_SEED}){finish}"
        )
    return (
        source,
        patches or DEFAULT_PATCHES,
        DEFAULT_SEED if seed is None else seed,
    )


def _describe(source, patches, seed) -> str:
    if source == "patches":
        return f"'patches' ({patches} patches, seed {seed})"
    return repr(source)


def _check_run_data(args, X, info, record, data, run_folder) -> None:
    """Refuse data named as the run's that are not the run's.

    The run's data are checked against the fingerprint it recorded
    (metrics.json, or the training state of its model or checkpoint), else
    against its record of them.  Data of the run's source that fail the
    check (patches of another number or seed, a file changed since) are
    refused when they came from the record, and do not replace the run's
    report.html unless -o says so.  Other data, named by --data, are
    reported on as asked.
    """
    import re

    import numpy as np

    from ..training.state import data_fingerprint

    training = info.get("training")
    recorded = {
        fingerprint
        for fingerprint in (
            record.get("fingerprint"),
            training.get("fingerprint") if isinstance(training, dict) else None,
        )
        # Only data_fingerprint's digests: a model fitted by fit_file or on a
        # cluster records its data another way ("file:...", "dask-rows:...").
        if isinstance(fingerprint, str) and re.fullmatch("[0-9a-f]{32}", fingerprint)
    }
    source, patches, seed = data
    if source != (record.get("source") or info["extra"].get("data")):
        return
    if recorded:
        # The training state digests the data in the model's dtype.
        found = {
            data_fingerprint(X),
            data_fingerprint(X.astype(np.dtype(info["dtype"]))),
        }
        if recorded & found:
            return
    elif source != "patches" or (patches, seed) == (
        record.get("patches", patches),
        record.get("seed", seed),
    ):
        return
    described = _describe(source, patches, seed)
    if args.data is None and args.patches is None and args.seed is None:
        raise ValueError(
            f"DATA {described}, as the run recorded it, is not the data the model "
            "was trained on: their fingerprint differs from the one recorded (has "
            "the file changed since?); pass --data DATA and -o FILE to report on "
            "these data anyway"
        )
    if args.output is None and run_folder is not None:
        if recorded:
            why = "their fingerprint differs from the one it recorded"
        else:
            why = f"it recorded {_describe(source, record['patches'], record['seed'])}"
        if source == "patches":
            fix = "give the run's own --patches and --seed, or -o FILE"
        else:
            fix = f"{source} has changed since the run; pass -o FILE"
        raise ValueError(
            f"{described} are not the data the run in {run_folder} trained on "
            f"({why}), so without -o this report would replace "
            f"{run_folder / 'report.html'}, the report on the run's own data: {fix} "
            "to write a report on these data elsewhere"
        )
