"""Time per evaluation against m, n and h, with the GEMM bound beside it."""

import numpy as np

from sparseae import Params, evaluate

from .common import HYPER, data, interleaved
from .kernels import gemm_bound, gemm_bound_rows

BASE = {"m": 20_000, "n": 784, "h": 196}
SWEEPS = {
    "m": [1_000, 2_000, 5_000, 10_000, 20_000, 60_000, 120_000],
    "n": [64, 128, 256, 512, 784, 1_024, 2_048],
    "h": [16, 32, 64, 128, 196, 256, 512, 1_024],
}


def sweep(rounds=5, quick=False, log=print):
    results = {}
    for axis, values in SWEEPS.items():
        values = values[::2] if quick else values
        points = []
        for value in values:
            size = dict(BASE, **{axis: value})
            m, n, h = size["m"], size["n"], size["h"]
            X = data(m, n)
            params = Params.initialize(n, h, rng=np.random.default_rng(0))
            params = params.astype(np.float32)
            medians = interleaved(
                {
                    "sparseae f32": lambda X=X, p=params: evaluate(p, X, **HYPER),
                    "gemm whole": gemm_bound(X, params),
                    "gemm rows": gemm_bound_rows(X, params),
                },
                rounds,
            )
            medians["gemm bound"] = min(medians["gemm whole"], medians["gemm rows"])
            points.append({axis: value, **medians})
            log(f"  {axis}={value}: {medians['sparseae f32']:.4f} s")
        results[axis] = points
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    for ax, (axis, points) in zip(axes, results.items(), strict=True):
        x = np.array([p[axis] for p in points], dtype=float)
        for name, style in (("sparseae f32", "o-"), ("gemm bound", "s--")):
            ax.loglog(x, [p[name] for p in points], style, label=name)
        ours = np.array([p["sparseae f32"] for p in points])
        ax.loglog(x, ours[-1] * x / x[-1], ":", color="grey", label="linear")
        fixed = ", ".join(f"{k}={v:,}" for k, v in BASE.items() if k != axis)
        ax.set(xlabel=axis, ylabel="seconds per evaluation", title=f"{fixed}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("sparseae loss and gradient, float32, time against m, n and h")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
