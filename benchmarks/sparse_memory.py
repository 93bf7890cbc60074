"""Peak memory of training on a large sparse matrix, against its dense size.

``python -m benchmarks.sparse_memory [--rows 100000] [--features 10000]
[--density 0.01] [--n-components 64] [--max-iter 3]``

A child process builds a CSR matrix of random values in (0, 1] (each row has
``density × features`` non-zeros, spread over the columns), then fits a
``SparseAutoencoder`` with a few L-BFGS iterations on it and reports, as JSON,
its peak resident set (``VmHWM``, Linux) before and after the fit, the peak of
the NumPy allocations during the fit (``tracemalloc``), and the bytes the
matrix would take dense.  The kernel densifies one tile of rows at a time, so
the growth should be a small multiple of the sparse matrix and the
(n_samples, n_components) activations, nowhere near the dense bytes.
"""

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20


def _peak_rss() -> int:
    """Peak resident set of this process so far (VmHWM), in bytes."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def random_csr(rows, features, density, seed=0):
    """CSR float32 with ``density × features`` sorted, distinct columns per row."""
    import scipy.sparse as sp

    per_row = max(1, round(density * features))
    stride = features // per_row
    rng = np.random.default_rng(seed)
    # One column in each of per_row equal strips: distinct and sorted.
    columns = np.arange(per_row, dtype=np.int32) * stride
    indices = columns + rng.integers(0, stride, (rows, per_row), dtype=np.int32)
    data = rng.random(rows * per_row, dtype=np.float32)
    np.subtract(1, data, out=data)  # (0, 1]: every stored value non-zero
    indptr = np.arange(0, rows * per_row + 1, per_row, dtype=np.int64)
    return sp.csr_matrix((data, indices.ravel(), indptr), shape=(rows, features))


def child(args) -> dict:
    from sklearn.exceptions import ConvergenceWarning

    from sparseae import SparseAutoencoder

    X = random_csr(args.rows, args.features, args.density)
    sparse_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    before = _peak_rss()
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SparseAutoencoder(
            args.n_components,
            max_iter=args.max_iter,
            dtype=np.float32,
            random_state=0,
        ).fit(X)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _peak_rss()
    return {
        "shape": list(X.shape),
        "density": X.nnz / (X.shape[0] * X.shape[1]),
        "n_components": args.n_components,
        "iterations": int(model.n_iter_),
        "seconds": round(seconds, 1),
        "dense_mb": round(X.shape[0] * X.shape[1] * 4 / MB, 1),
        "sparse_mb": round(sparse_bytes / MB, 1),
        "peak_rss_before_fit_mb": round(before / MB, 1),
        "peak_rss_after_fit_mb": round(after / MB, 1),
        "fit_rss_growth_mb": round((after - before) / MB, 1),
        "fit_traced_peak_mb": round(traced_peak / MB, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--n-components", type=int, default=64)
    parser.add_argument("--max-iter", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    # A fresh process: its peak resident set is this measurement's alone.
    command = [sys.executable, "-m", "benchmarks.sparse_memory", "--child"]
    command += [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()]
    command.remove("--child=False")
    output = subprocess.run(
        command, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(output.splitlines()[-1])
    print(json.dumps(result, indent=2))
    ratio = result["fit_rss_growth_mb"] / result["dense_mb"]
    print(
        f"fit grew the process by {result['fit_rss_growth_mb']} MB "
        f"({100 * ratio:.2f}% of the {result['dense_mb']} MB dense array; the "
        f"sparse matrix holds {result['sparse_mb']} MB)"
    )


if __name__ == "__main__":
    main()
