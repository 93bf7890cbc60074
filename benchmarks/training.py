"""Training: the classic demo's wall time and time per L-BFGS iteration.

- ``classic demo``: ``SparseAutoencoder`` on 10,000 8x8 natural-image patches
  (``sparseae.datasets.load_patches``), 64-25-64, ρ=0.01, λ=1e-4, β=3, 400
  L-BFGS iterations, float64 (the demo's default) and float32.  (An earlier
  version also timed SciPy's L-BFGS-B with its vector work on one BLAS
  thread, patched in; the package's own L-BFGS does that itself now.)
- ``per iteration``: the same estimator against scikit-learn's
  ``MLPRegressor`` (logistic hidden layer of the same size, identity output,
  L-BFGS, squared loss, L2 penalty), both fitted to reconstruct X, each timed
  for a few iterations and divided by the iterations run.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sparseae import SparseAutoencoder

from .common import HYPER, data, interleaved


def patches():
    try:
        from sparseae.datasets import load_patches
    except ImportError:
        return data(10_000, 64, np.float64), "random data in [0.1, 0.9]"
    return load_patches(n_patches=10_000, patch_size=8, random_state=0), "patches"


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, X) if isinstance(model, MLPRegressor) else model.fit(X)
        return time.perf_counter() - start


def sparse_autoencoder(h, max_iter, dtype):
    return SparseAutoencoder(
        n_components=h, **HYPER, max_iter=max_iter, random_state=0, dtype=dtype
    )


def classic_demo(rounds, log=print):
    X, source = patches()
    log(f"  classic demo on {source}, {rounds} rounds")
    fitted = {}

    def contender(dtype):
        def run():
            model = sparse_autoencoder(25, 400, dtype)
            fitted[np.dtype(dtype).name] = (_fit(model, X), model)

        return run

    medians = interleaved(
        {np.dtype(dtype).name: contender(dtype) for dtype in (np.float64, np.float32)},
        rounds,
    )
    return {
        "data": source,
        "seconds": medians,
        "iterations": {k: model.n_iter_ for k, (_, model) in fitted.items()},
        "final_loss": {k: model.loss_curve_[-1] for k, (_, model) in fitted.items()},
    }


def per_iteration(sizes, iterations, rounds, log=print):
    rows = []
    for name, (m, n, h) in sizes.items():
        X = data(m, n)
        models = {
            "sparseae": lambda h=h, k=iterations[name]: sparse_autoencoder(
                h, k, np.float32
            ),
            "sklearn MLPRegressor": lambda h=h, k=iterations[name]: MLPRegressor(
                hidden_layer_sizes=(h,),
                activation="logistic",
                solver="lbfgs",
                alpha=HYPER["weight_decay"],
                max_iter=k,
                tol=0.0,
                random_state=0,
            ),
        }
        per_iter = {key: [] for key in models}
        log(f"  {name}: {iterations[name]} iterations x {rounds[name]} rounds")
        for _ in range(rounds[name]):
            for key, make in models.items():
                model = make()
                seconds = _fit(model, X)
                per_iter[key].append(seconds / max(model.n_iter_, 1))
        medians = {key: float(np.median(v)) for key, v in per_iter.items()}
        rows.append(
            {
                "size": name,
                "seconds_per_iteration": medians,
                "ratio": medians["sparseae"] / medians["sklearn MLPRegressor"],
            }
        )
    return rows


def conversions(m, n, h, repeats=50):
    """Seconds for the float64 <-> float32 copies an L-BFGS step makes."""
    theta = np.random.default_rng(0).standard_normal(2 * n * h + n + h)
    start = time.perf_counter()
    for _ in range(repeats):
        theta.astype(np.float32).astype(np.float64)
    return (time.perf_counter() - start) / repeats
