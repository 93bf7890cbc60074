"""Reproduce the UFLDL tutorial's sparse-autoencoder results on MNIST.

Prints a table of our figure next to the one the UFLDL tutorial states, with the
time each run took, for

* the MNIST features: 784-196, ρ=0.1, λ=3e-3, β=3, first 10,000 training images,
  400 L-BFGS iterations; the filters are saved as a picture (pen strokes);
* self-taught learning: a 784-200 autoencoder (same ρ, λ, β, 400 iterations) on
  the unlabeled training digits 5-9; the training digits 0-4 split in half, in
  file order, to train and test a softmax (λ=1e-4, 100 iterations) on its
  features, and on raw pixels for comparison;
* the stacked autoencoder: 784-200-200-softmax pretrained layer by layer on all
  60,000 training digits, then fine-tuned (400 iterations, λ=1e-4), tested on the
  10,000 test digits before and after fine-tuning.

Usage::

    python benchmarks/prepare_mnist.py          # once: writes benchmarks/data/mnist
    python benchmarks/reproduce.py              # full runs, tens of minutes
    python benchmarks/reproduce.py --quick      # subsets and 60 iterations

The table is also written, with the machine's description, as JSON to
``benchmarks/results/``, with the picture (to ``docs/img/`` with
``--write-docs-images``).
"""

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sparseae import SoftmaxClassifier, SparseAutoencoder, StackedAutoencoder
from sparseae.core.stacked import stack_forward
from sparseae.datasets import load_mnist
from sparseae.plotting import save_filters

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "mnist"
DEFAULT_RESULTS = HERE / "results"
DOCS_IMG = HERE.parent / "docs" / "img"

# The autoencoders' hyperparameters in every experiment of the tutorial.
AUTOENCODER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=3e-3)
SOFTMAX_WEIGHT_DECAY = 1e-4


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much data and how many iterations each experiment gets.

    A limit of ``None`` means all the data the experiment is defined on.
    """

    feature_images: int | None = 10000
    unlabeled: int | None = None
    labeled: int | None = None
    stacked_train: int | None = None
    stacked_test: int | None = None
    feature_units: int = 196
    self_taught_units: int = 200
    stacked_units: tuple[int, ...] = (200, 200)
    max_iter: int = 400
    softmax_max_iter: int = 100


FULL = Budget()
QUICK = Budget(
    feature_images=2000,
    unlabeled=5000,
    labeled=6000,
    stacked_train=6000,
    stacked_test=2000,
    max_iter=60,
    softmax_max_iter=60,
)


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table."""

    experiment: str
    setting: str
    ours: str
    stated: str
    seconds: float
    accuracy: float | None = None


def _percent(value):
    return f"{100 * value:.1f}%"


def _accuracy(model, X, y):
    return float(np.mean(model.predict(X) == y))


def _autoencoder(units, budget, dtype, random_state):
    return SparseAutoencoder(
        units,
        **AUTOENCODER,
        max_iter=budget.max_iter,
        random_state=random_state,
        dtype=dtype,
    )


def mnist_features(X, budget, *, image_dir, dtype, random_state=0):
    """Learn the MNIST features and save them as a picture."""
    X = X[: budget.feature_images]
    start = time.perf_counter()
    model = _autoencoder(budget.feature_units, budget, dtype, random_state).fit(X)
    seconds = time.perf_counter() - start
    side = math.isqrt(X.shape[1])
    path = save_filters(
        Path(image_dir) / "mnist_features.png",
        model.components_,
        image_shape=(side, side),
        scale=3,
    )
    setting = (
        f"{X.shape[1]}-{budget.feature_units} on {len(X):,} images, "
        f"{model.n_iter_} iterations"
    )
    return Row(
        "MNIST features", setting, f"`{path.name}`", "pen strokes; 15-20 min", seconds
    )


def self_taught(X, y, budget, *, dtype, random_state=0):
    """Self-taught learning: features from digits 5-9 classify digits 0-4."""
    unlabeled = X[y >= 5][: budget.unlabeled]
    labeled, labels = X[y <= 4][: budget.labeled], y[y <= 4][: budget.labeled]
    half = round(len(labeled) / 2)
    train, test = slice(None, half), slice(half, None)
    softmax = SoftmaxClassifier(
        weight_decay=SOFTMAX_WEIGHT_DECAY, max_iter=budget.softmax_max_iter
    )

    start = time.perf_counter()
    raw = _accuracy(
        softmax.fit(labeled[train], labels[train]), labeled[test], labels[test]
    )
    raw_seconds = time.perf_counter() - start

    start = time.perf_counter()
    autoencoder = _autoencoder(budget.self_taught_units, budget, dtype, random_state)
    autoencoder.fit(unlabeled)
    features = autoencoder.transform(labeled)
    learned = _accuracy(
        softmax.fit(features[train], labels[train]), features[test], labels[test]
    )
    seconds = time.perf_counter() - start

    split = f"train {half:,} / test {len(labeled) - half:,} digits 0-4"
    setting = (
        f"{X.shape[1]}-{budget.self_taught_units} on {len(unlabeled):,} digits 5-9, "
        f"{autoencoder.n_iter_} iterations; {split}"
    )
    return [
        Row(
            "self-taught, raw pixels",
            f"softmax on pixels; {split}",
            _percent(raw),
            "~96%",
            raw_seconds,
            raw,
        ),
        Row(
            "self-taught, learned features",
            setting,
            _percent(learned),
            "~98% (98.3%)",
            seconds,
            learned,
        ),
    ]


def stacked(X, y, X_test, y_test, budget, *, dtype, random_state=0):
    """The stacked autoencoder before and after fine-tuning."""
    X, y = X[: budget.stacked_train], y[: budget.stacked_train]
    X_test, y_test = X_test[: budget.stacked_test], y_test[: budget.stacked_test]
    model = StackedAutoencoder(
        budget.stacked_units,
        **AUTOENCODER,
        softmax_weight_decay=SOFTMAX_WEIGHT_DECAY,
        fine_tune_weight_decay=SOFTMAX_WEIGHT_DECAY,
        pretrain_max_iter=budget.max_iter,
        softmax_max_iter=budget.softmax_max_iter,
        fine_tune_max_iter=budget.max_iter,
        random_state=random_state,
        dtype=dtype,
    ).fit(X, y)
    before = _pretrained_accuracy(model, X_test, y_test)
    after = _accuracy(model, X_test, y_test)
    times = model.fit_times_
    pretrain = sum(v for k, v in times.items() if k != "fine-tune")
    units = "-".join(str(u) for u in (X.shape[1], *budget.stacked_units))
    setting = f"{units}-softmax, train {len(X):,}, test {len(X_test):,}"
    return [
        Row(
            "stacked, before fine-tuning",
            f"{setting}; pretraining + softmax",
            _percent(before),
            "87.7%",
            pretrain,
            before,
        ),
        Row(
            "stacked, after fine-tuning",
            f"{setting}; {model.n_iter_} fine-tuning iterations",
            _percent(after),
            "97.6%",
            times.get("fine-tune", 0.0),
            after,
        ),
    ]


def _pretrained_accuracy(model, X, y):
    _, scores = stack_forward(
        model.pretrained_weights_, model.pretrained_intercepts_, X.astype(model.dtype)
    )
    return float(np.mean(model.classes_[scores.argmax(axis=1)] == y))


def run(train, test, budget, *, image_dir, dtype=np.float64):
    """Run the three experiments; return the table's rows."""
    (X, y), (X_test, y_test) = train, test
    logging.info("MNIST features")
    rows = _logged([mnist_features(X, budget, image_dir=image_dir, dtype=dtype)])
    logging.info("self-taught learning")
    rows += _logged(self_taught(X, y, budget, dtype=dtype))
    logging.info("stacked autoencoder")
    rows += _logged(stacked(X, y, X_test, y_test, budget, dtype=dtype))
    return rows


def _logged(rows):
    # Each figure is logged as it comes, so that a long run shows its progress.
    for row in rows:
        logging.info("%s: %s (%s)", row.experiment, row.ours, _duration(row.seconds))
    return rows


def format_table(rows):
    """The rows as a Markdown table."""
    lines = [
        "| experiment | setting | ours | stated | time |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.experiment} | {row.setting} | **{row.ours}** | {row.stated} | "
            f"{_duration(row.seconds)} |"
        )
    return "\n".join(lines)


def _duration(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def machine():
    """A short description of the computer, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subsets, 60 iterations")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument(
        "--image-dir", type=Path, help="where the picture goes (default --results)"
    )
    parser.add_argument(
        "--write-docs-images",
        action="store_true",
        help="save the picture to docs/img, replacing the documentation's",
    )
    parser.add_argument("--max-iter", type=int, help="override the iteration budget")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    if args.max_iter is not None:
        budget = dataclasses.replace(
            budget, max_iter=args.max_iter, softmax_max_iter=args.max_iter
        )
    image_dir = args.image_dir or (DOCS_IMG if args.write_docs_images else args.results)
    try:
        train = load_mnist(args.data, "train")
        test = load_mnist(args.data, "t10k")
    except FileNotFoundError as error:
        sys.stderr.write(f"{error}\nRun python benchmarks/prepare_mnist.py first.\n")
        return 2
    args.results.mkdir(parents=True, exist_ok=True)
    image_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    start = time.perf_counter()
    with warnings.catch_warnings():
        # The classic experiments run fixed iteration budgets by design.
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = run(train, test, budget, image_dir=image_dir, dtype=args.dtype)
    total = time.perf_counter() - start

    table = format_table(rows)
    sys.stdout.write(f"{table}\n\ntotal {_duration(total)}\n")
    record = {
        "mode": "quick" if args.quick else "full",
        "budget": dataclasses.asdict(budget),
        "dtype": args.dtype,
        "machine": machine(),
        "total_seconds": total,
        "rows": [dataclasses.asdict(row) for row in rows],
        "table": table,
    }
    name = f"reproduce-{record['mode']}-{args.dtype}.json"
    (args.results / name).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
