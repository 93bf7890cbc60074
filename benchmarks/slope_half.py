"""What leaving out the f'ᵀX half of eq. (11) saves when there is no sparsity term.

With β = 0 (top-k codes, or a plain autoencoder) the kernel no longer takes
the product f'ᵀX, which finish_sums would only have multiplied by zero
(sparseae.core.kernel.takes_slope_sums).  This times the kernel's sums both
ways, side by side in interleaved rounds (benchmarks/common.py): the library
as it is, and the same code made to take both halves, as it did before.

- ``minibatch``: 128-row batches of the k-sparse MNIST model, 784 -> 1000,
  k = 25, float32: the step of benchmarks/ksparse_mnist.py;
- ``full batch``: 60,000 x 784 -> 196 top-k (k = 25), float32, the data of the
  kernel benchmarks, on the threads the BLAS may use.

Usage:
    python benchmarks/slope_half.py [--rounds 15]

Writes benchmarks/results/slope_half.json and prints the medians and ratios.
"""

import argparse
import json

import numpy as np
from common import RESULTS, data, interleaved, machine

import sparseae.core.kernel as kernel
from sparseae import Params
from sparseae.core.objective import make_settings
from sparseae.core.partial_sums import block_sums, finish_sums

# ``repeat``: evaluations timed back to back in one call, as a training loop
# makes them (after the pause between timed calls, a lone 25 ms evaluation
# would be timed with cold caches and freshly faulted memory).
CASES = {
    "minibatch": dict(m=128, n=784, h=1000, k=25, repeat=20),
    "full batch": dict(m=60_000, n=784, h=196, k=25, repeat=1),
}


def timed(case, rounds):
    X = data(case["m"], case["n"])
    params = Params.initialize(case["n"], case["h"], rng=np.random.default_rng(0))
    params = params.astype(np.float32)
    settings = make_settings(
        sparsity_target=0.05,
        sparsity_weight=0.0,
        weight_decay=1e-5,
        activation="topk",
        k=case["k"],
        output="linear",
    )
    library = kernel.takes_slope_sums

    def evaluate(both_halves):
        def run():
            kernel.takes_slope_sums = (lambda s: True) if both_halves else library
            try:
                for _ in range(case["repeat"]):
                    finish_sums(block_sums(params, settings, X), params, settings)
            finally:
                kernel.takes_slope_sums = library

        return run

    seconds = interleaved(
        {"both halves (before)": evaluate(True), "left half (now)": evaluate(False)},
        rounds,
    )
    return {name: value / case["repeat"] for name, value in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    results = {"machine": machine(), "cases": {}}
    for name, case in CASES.items():
        seconds = timed(case, args.rounds)
        before, now = seconds["both halves (before)"], seconds["left half (now)"]
        results["cases"][name] = {**case, **seconds, "now / before": now / before}
        print(
            f"{name:10s} before {before * 1e3:8.2f} ms   now {now * 1e3:8.2f} ms   "
            f"now / before {now / before:.3f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "slope_half.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
