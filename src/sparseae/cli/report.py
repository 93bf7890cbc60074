"""``sparseae report``: the self-contained HTML report of a run or a model file."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from .inputs import DATA_HELP, load_input
from .options import SEED, add_data_options, number

EXAMPLE = """examples:
  sparseae train digits -o runs/digits
  sparseae report runs/digits                  # writes runs/digits/report.html
  sparseae report runs/digits/model.safetensors --data digits -o report.html
"""


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of what a model learned",
        description=textwrap.fill(
            "Measure a model's hidden units on data and write one HTML file with "
            "the run's settings, training curves, filters, mean activations, "
            "reconstructions and a card per unit. TARGET is a folder written by "
            "'sparseae train' (its model, or its checkpoint when the run was "
            "interrupted; the report goes beside it) or a model file. DATA "
            f"defaults to the data the model was trained on; it is {DATA_HELP}."
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
    add_data_options(
        parser,
        patches_default=None,
        patches_help="patches for 'patches' (default: the run's, else 10000)",
        image_shape_help="shape of one sample (default: the model's, else square)",
    )
    parser.add_argument(
        "--seed", type=SEED, help="patch positions for 'patches' (default: the run's)"
    )
    parser.set_defaults(run=run)


def _locate(target: Path) -> tuple[Path, Path, dict]:
    """The model file, the report's path by default, and the run's metrics."""
    if not target.is_dir():
        return target, target.with_name(target.stem + "-report.html"), {}
    model = target / "model.safetensors"
    if not model.is_file() and (target / "checkpoint.safetensors").is_file():
        model = target / "checkpoint.safetensors"
    if not model.is_file():
        raise FileNotFoundError(
            f"{target} holds no model.safetensors or checkpoint.safetensors: not a "
            "run folder of 'sparseae train'"
        )
    metrics_path = target / "metrics.json"
    metrics = {}
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{metrics_path} is not JSON: {error}") from None
    return model, target / "report.html", metrics


def run(args) -> int:
    """Load the model and data, build the report, write it."""
    from ..models import load, read_info

    model_path, default_output, metrics = _locate(args.target)
    output = args.output or default_output
    if output.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"-o must name an .html file, got {str(output)!r}")
    info = read_info(model_path)
    model = load(model_path)
    config = metrics.get("config") if isinstance(metrics, dict) else None
    recorded = config.get("data", {}) if isinstance(config, dict) else {}
    recorded = recorded if isinstance(recorded, dict) else {}
    source = args.data or recorded.get("source") or info["extra"].get("data")
    if source is None:
        raise ValueError(
            f"{model_path} does not record its data: pass --data DATA ({DATA_HELP})"
        )
    patches = args.patches or recorded.get("patches") or 10_000
    seed = args.seed if args.seed is not None else recorded.get("seed") or 0
    image_shape = args.image_shape or info["extra"].get("image_shape")
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
    from ..report import write_report  # Jinja2 and Matplotlib: only here

    path = write_report(
        output,
        model,
        X,
        history=info["history"],
        config=config or {"data": source, "hyperparameters": info["params"]},
        image_shape=image_shape or loaded_shape,
        top_k=args.top_k,
        title=f"sparseae report: {model_path.parent.name or model_path.name}",
    )
    size = path.stat().st_size / 1e6
    print(
        f"report on {model.n_components} units and {len(X)} samples written to "
        f"{path} ({size:.1f} MB)"
    )
    return 0
