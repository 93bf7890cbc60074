"""Top-k units on MNIST with and without the auxiliary loss for dead units.

The auxiliary loss of Gao et al. (2024), as one objective with an exact
gradient (docs/derivation.md eq. 15): the error of reconstructing each image
from its code plus the ReLU of the ``aux_k`` largest pre-activations among the
dead units, weighted by α (Gao et al.'s 1/32, and 1 for contrast), a unit
being dead once it has not fired for one pass over the data.  The fits of
one k share data, initialisation, solver and budget; each fitted model is
measured on the training images by ``sparseae.metrics.summarize`` (dead:
units active on no image; FVU: fraction of variance unexplained; L0: mean
active units per image).

Usage:
    python benchmarks/prepare_mnist.py        # once
    python benchmarks/auxk.py --quick         # 3,000 images, 10 epochs
    python benchmarks/auxk.py                 # 10,000 images, 20 epochs

Writes benchmarks/results/auxk[_quick].json and prints a table.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from common import machine
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder
from sparseae.datasets import load_mnist
from sparseae.metrics import summarize

HERE = Path(__file__).resolve().parent
MNIST = HERE / "data" / "mnist"
RESULTS = HERE / "results"

SIZES = {
    "quick": dict(m=3000, h=256, epochs=10),
    # About eight minutes on a shared 2-core machine.
    "full": dict(m=10000, h=256, epochs=20),
}
KS = (16, 32)
AUX_K = 128
# (aux_k, aux_weight) of the fits of each k: none, Gao et al.'s weight, 1.
VARIANTS = ((None, 1 / 32), (AUX_K, 1 / 32), (AUX_K, 1.0))


def model_for(k, aux_k, aux_weight, h, epochs, seed=0):
    """Top-k units trained as in benchmarks/frontier.py, with ``aux_k`` or not."""
    return SparseAutoencoder(
        n_components=h,
        hidden_activation="topk",
        k=k,
        aux_k=aux_k,
        aux_weight=aux_weight,
        output_activation="linear",
        weight_decay=1e-4,
        solver="adam",
        learning_rate=2e-3,
        batch_size=128,
        max_iter=epochs,
        n_iter_no_change=epochs,
        random_state=seed,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small subset")
    args = parser.parse_args(argv)
    size = SIZES["quick" if args.quick else "full"]
    if not (MNIST / "train-images-idx3-ubyte.gz").exists():
        raise SystemExit("no MNIST: run python benchmarks/prepare_mnist.py first")
    X, _ = load_mnist(MNIST, "train")
    X = X[np.random.default_rng(0).choice(len(X), size["m"], replace=False)]
    print(
        f"MNIST: {X.shape[0]} x {X.shape[1]}, {size['h']} top-k units, "
        f"{size['epochs']} epochs of Adam (lr 2e-3, batches of 128); auxiliary "
        f"loss: aux_k {AUX_K}, dead after {X.shape[0]} samples",
        flush=True,
    )
    print(
        f"{'k':>3} {'aux_k':>6} {'weight':>7} {'dead':>5} {'dead (count)':>13} "
        f"{'FVU':>7} {'L0':>6} {'seconds':>8}",
        flush=True,
    )
    rows = []
    for k in KS:
        for aux_k, aux_weight in VARIANTS:
            model = model_for(k, aux_k, aux_weight, size["h"], size["epochs"])
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            seconds = time.perf_counter() - start
            summary = summarize(model, X)
            row = dict(
                k=k,
                aux_k=aux_k,
                aux_weight=aux_weight if aux_k is not None else None,
                dead=summary["dead_units"]["count"],
                # Dead by the training loop's own count at the end: units that
                # have not fired in the last pass over the data.
                dead_by_count=int((model.n_samples_since_fired_ >= len(X)).sum()),
                fvu=summary["fvu"],
                l0=summary["l0"],
                seconds=round(seconds, 1),
                final_loss=model.loss_curve_[-1],
                final_auxiliary=model.history_["auxiliary"][-1],
            )
            rows.append(row)
            weight = "-" if aux_k is None else f"{aux_weight:.4g}"
            print(
                f"{k:3d} {str(aux_k):>6} {weight:>7} {row['dead']:5d} "
                f"{row['dead_by_count']:13d} {row['fvu']:7.4f} {row['l0']:6.2f} "
                f"{seconds:8.1f}",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"auxk{'_quick' if args.quick else ''}.json"
    results = dict(
        size=size,
        variants=VARIANTS,
        dead_after=size["m"],
        rows=rows,
        machine=machine(),
    )
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
