"""The kernel's sigmoid, 1 / (1 + e^−z), against ½ + ½ tanh(z/2) and ``expit``.

Timed side by side in interleaved rounds (benchmarks/common.py):

- ``block``: the sigmoid alone, in place on one block of pre-activations
  (1,336 × 196, the default block of MNIST scale), 20 times per call;
- ``evaluation``: one full evaluation of the objective and its gradient at
  60,000 × 784 → 196 (``sparseae.evaluate``), with the kernel's sigmoid
  replaced by each in turn.

½ + ½ tanh(z/2) was the kernel's sigmoid until 2026-12-07; it is exact only
to a few ulps of 1 and rounds σ to 0 from z ≈ −17 in float32, which cut off
the pull of the KL term on units driven off (docs/derivation.md, section 7).

Both in float32 and float64.  Usage:
    python benchmarks/sigmoid.py [--rounds 9]

Writes benchmarks/results/sigmoid.json and prints medians and ratios.
"""

import argparse
import json

import numpy as np
from common import HYPER, RESULTS, data, interleaved, machine
from scipy.special import expit

import sparseae.core.activations as activations
import sparseae.core.kernel as kernel
from sparseae import Params, evaluate


def tanh_form(z):
    """The former sigmoid: exact only to a few ulps of 1."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


def with_expit(z):
    return expit(z, out=z)


NOW, BEFORE = "1/(1+exp(-z)) (now)", "tanh form (before)"
SIGMOIDS = {NOW: activations.sigmoid_, BEFORE: tanh_form, "scipy expit": with_expit}


def block_case(dtype, rounds):
    Z = np.random.default_rng(0).normal(scale=4, size=(1336, 196)).astype(dtype)
    buffer = Z.copy()

    def run(sigmoid):
        def call():
            for _ in range(20):
                np.copyto(buffer, Z)
                sigmoid(buffer)

        return call

    seconds = interleaved({name: run(f) for name, f in SIGMOIDS.items()}, rounds)
    return {name: value / 20 for name, value in seconds.items()}


def evaluation_case(dtype, rounds):
    X = data(60_000, 784, dtype)
    params = Params.initialize(784, 196, rng=np.random.default_rng(0)).astype(dtype)
    library = kernel.sigmoid_

    def run(sigmoid):
        def call():
            kernel.sigmoid_ = activations.sigmoid_ = sigmoid
            try:
                evaluate(params, X, **HYPER)
            finally:
                kernel.sigmoid_ = activations.sigmoid_ = library

        return call

    return interleaved({name: run(f) for name, f in SIGMOIDS.items()}, rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    results = {"machine": machine(), "cases": []}
    for dtype in (np.float32, np.float64):
        for case, timer in (("block", block_case), ("evaluation", evaluation_case)):
            seconds = timer(dtype, args.rounds)
            now, before = seconds[NOW], seconds[BEFORE]
            results["cases"].append(
                {
                    "case": case,
                    "dtype": dtype.__name__,
                    **seconds,
                    "now/before": now / before,
                }
            )
            times = "   ".join(f"{k} {v * 1e3:.3f} ms" for k, v in seconds.items())
            print(
                f"{case:10s} {dtype.__name__:7s} {times}   "
                f"now/before {now / before:.3f}"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sigmoid.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
