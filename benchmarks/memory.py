"""Peak memory of full-batch training, and training from a file larger than memory.

Each measurement runs in a child process (``python -m benchmarks.memory``),
which reports its own peak resident set (``VmHWM``, Linux) as JSON:

- ``peak``: loads an MNIST-sized float32 array from a ``.npy`` file into
  memory and either evaluates the objective and its gradient over all of it
  three times (``evaluation``: the in-memory path itself, one pass of row
  blocks) or trains full-batch L-BFGS on it, through the estimator and through
  the bare kernel with :func:`sparseae.solvers.minimize_lbfgs`.  Reported
  against the data's bytes, both as the whole process (which includes about
  110 MB of imported libraries) and as the growth over the process after its
  imports.  Training adds the solver's state, 2 × ``memory`` + about 8 vectors
  of the 308,308 parameters in float64 (about 64 MB), which does not grow
  with the rows: ``peak(m=240_000, ...)`` measures the same at 4 × the rows.
- ``outofcore``: after a warm-up, the child caps its own address space
  (``RLIMIT_AS``) at what it has plus a budget, then trains on a memory-mapped
  ``.npy`` file several times that budget with :class:`sparseae.core.chunked.NpyChunks`;
  going over the budget would fail with ``MemoryError``.
"""

import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
HOW = ("evaluation", "kernel", "estimator")


def _status(field):
    # Linux's own counters of this process.  ``ru_maxrss`` would do, but it
    # carries the parent's peak across fork and exec.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def _rss():
    """Peak resident set so far (VmHWM), in bytes."""
    return _status("VmHWM")


def _address_space():
    return _status("VmSize")


def child_peak(path, how, max_iter):
    from sklearn.exceptions import ConvergenceWarning

    from sparseae import Params, SparseAutoencoder, evaluate
    from sparseae.solvers import minimize_lbfgs

    from .common import HYPER

    imported = _rss()
    X = np.load(path)
    loaded = _rss()
    m, n = X.shape
    start = time.perf_counter()
    if how == "evaluation":
        params = Params.initialize(n, 196, rng=np.random.default_rng(0), dtype=X.dtype)
        for _ in range(3):
            evaluate(params, X, **HYPER)
    elif how == "estimator":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            SparseAutoencoder(
                n_components=196, **HYPER, max_iter=max_iter, dtype=X.dtype
            ).fit(X)
    else:
        theta = Params.initialize(n, 196, rng=np.random.default_rng(0)).vector

        def objective(theta):
            params = Params.from_vector(theta.astype(X.dtype), n, 196)
            result = evaluate(params, X, **HYPER)
            return result.terms.total, result.grads.vector.astype(np.float64)

        minimize_lbfgs(objective, theta, max_iter=max_iter)
    return {
        "how": how,
        "data_bytes": X.nbytes,
        "rss_after_imports": imported,
        "rss_after_load": loaded,
        "peak_rss": _rss(),
        "seconds": time.perf_counter() - start,
    }


def child_outofcore(path, budget, max_iter, chunk_rows):
    from sparseae import Params, evaluate
    from sparseae.core.chunked import NpyChunks, flat_loss_and_grad
    from sparseae.solvers import minimize_lbfgs

    from .common import HYPER, data

    source = NpyChunks(path, chunk_rows=chunk_rows)
    n = source.shape[1]
    # Warm-up: thread pools, BLAS buffers and allocator arenas exist before
    # the cap, so it measures what the data costs.
    evaluate(
        Params.initialize(n, 196, rng=np.random.default_rng(1)), data(4096, n), **HYPER
    )
    imported, space = _rss(), _address_space()
    resource.setrlimit(resource.RLIMIT_AS, (space + budget, space + budget))
    theta = Params.initialize(n, 196, rng=np.random.default_rng(0)).vector
    objective = flat_loss_and_grad(source, n, 196, **HYPER)
    start = time.perf_counter()
    result = minimize_lbfgs(objective, theta, max_iter=max_iter)
    return {
        "file_bytes": os.path.getsize(path),
        "rows": source.shape[0],
        "budget": budget,
        "address_space_cap": space + budget,
        "rss_after_imports": imported,
        "peak_rss": _rss(),
        "seconds": time.perf_counter() - start,
        "evaluations": result.n_evaluations,
        "iterations": result.n_iter,
        "loss": result.loss,
    }


def _spawn(*args):
    env = dict(os.environ, MALLOC_ARENA_MAX="2")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_npy(path, m, n, dtype=np.float32, rows_per_write=20_000):
    """A .npy of uniform [0.1, 0.9] data, written without holding it."""
    from .common import data

    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    header = {"descr": descr, "fortran_order": False, "shape": (m, n)}
    with open(path, "wb") as file:
        np.lib.format.write_array_header_2_0(file, header)
        for seed, start in enumerate(range(0, m, rows_per_write)):
            rows = min(rows_per_write, m - start)
            file.write(data(rows, n, dtype, seed=seed).tobytes())


def peak(
    m=60_000, n=784, max_iter=10, dtypes=(np.float32, np.float64), hows=HOW, log=print
):
    rows = []
    for dtype, how in itertools.product(dtypes, hows):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "X.npy"
            write_npy(path, m, n, dtype)
            log(f"  peak memory, {how}, {np.dtype(dtype)}, {m} rows")
            row = _spawn("peak", path, how, max_iter)
            row["dtype"] = np.dtype(dtype).name
            row["rows"] = m
            row["peak_over_data"] = row["peak_rss"] / row["data_bytes"]
            row["growth_over_data"] = (
                row["peak_rss"] - row["rss_after_imports"]
            ) / row["data_bytes"]
            rows.append(row)
    return rows


def outofcore(file_mb=1536, budget_mb=384, max_iter=3, log=print):
    n = 784
    m = file_mb * MB // (n * 4)
    # A quarter of the budget per chunk: the rest holds the L-BFGS history
    # (about 50 MB at h=196), the gradient sums and the block buffers.
    chunk_rows = budget_mb * MB // 4 // (n * 4)
    folder = Path(tempfile.mkdtemp())
    path = folder / "X.npy"
    try:
        log(f"  out of core: writing {file_mb} MB, budget {budget_mb} MB")
        write_npy(path, m, n)
        row = _spawn("outofcore", path, budget_mb * MB, max_iter, chunk_rows)
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
    row["file_over_budget"] = row["file_bytes"] / row["budget"]
    row["growth_over_budget"] = (row["peak_rss"] - row["rss_after_imports"]) / row[
        "budget"
    ]
    return row


if __name__ == "__main__":
    kind, path, *rest = sys.argv[1:]
    if kind == "peak":
        print(json.dumps(child_peak(path, rest[0], int(rest[1]))))
    else:
        print(json.dumps(child_outofcore(path, *map(int, rest))))
