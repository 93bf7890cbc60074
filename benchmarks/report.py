"""Size and build time of the HTML report at MNIST scale.

60,000 samples of 784 features (28x28 images), 196 hidden units, the 9 inputs
that activate each unit most: the report must stay under 5 MB and build in
under 10 s.  The weights are the random initial ones (one L-BFGS iteration):
the report's cost depends on the shapes, not on how well the model is trained.

Data, the first found of: MNIST as benchmarks/prepare_mnist.py writes it
(benchmarks/data/mnist), Debian's Fashion-MNIST (package dataset-fashion-mnist),
or uniform noise in [0, 1] (--data synthetic forces it).  Noise is the worst
case for the size: its PNG pictures do not compress.

Usage: python benchmarks/report.py [--data {auto,mnist,fashion,synthetic}]
       [--output report.html]
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from sparseae import SparseAutoencoder
from sparseae.datasets import load_mnist
from sparseae.report import build_report, write_report

MNIST = Path(__file__).resolve().parent / "data" / "mnist"
FASHION = Path("/usr/share/datasets/fashion-mnist")
SHAPE, N_COMPONENTS, TOP_K = (60_000, 784), 196, 9
LIMIT_MB, LIMIT_SECONDS = 5.0, 10.0


def load(which):
    if which in ("auto", "mnist") and MNIST.is_dir():
        return load_mnist(MNIST, dtype=np.float32)[0], f"MNIST ({MNIST})"
    if which in ("auto", "fashion") and FASHION.is_dir():
        return load_mnist(FASHION, dtype=np.float32)[0], f"Fashion-MNIST ({FASHION})"
    if which in ("mnist", "fashion"):
        raise SystemExit(f"{which} is not on this machine")
    X = np.random.default_rng(0).uniform(size=SHAPE).astype(np.float32)
    return X, "synthetic: uniform noise in [0, 1]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", choices=("auto", "mnist", "fashion", "synthetic"), default="auto"
    )
    parser.add_argument("--output", type=Path, help="keep the report here")
    args = parser.parse_args()

    X, source = load(args.data)
    assert X.shape == SHAPE, X.shape
    model = SparseAutoencoder(N_COMPONENTS, max_iter=1, random_state=0)
    with warnings.catch_warnings(action="ignore"):
        model.fit(X)

    start = time.perf_counter()
    html = build_report(model, X, image_shape=(28, 28), top_k=TOP_K)
    seconds = time.perf_counter() - start
    size = len(html.encode("utf-8")) / 1e6

    with tempfile.TemporaryDirectory() as folder:
        path = args.output or Path(folder) / "report.html"
        start = time.perf_counter()
        write_report(path, model, X, image_shape=(28, 28), top_k=TOP_K)
        with_write = time.perf_counter() - start

    threads = ", ".join(
        f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info()
    )
    print(f"data:         {source}, {SHAPE[0]} x {SHAPE[1]}, {X.dtype}")
    print(f"model:        {N_COMPONENTS} hidden units, top {TOP_K} inputs per unit")
    print(f"threads:      {threads}")
    print(f"report size:  {size:.2f} MB (limit {LIMIT_MB} MB)")
    print(f"build time:   {seconds:.2f} s (limit {LIMIT_SECONDS} s)")
    print(f"with writing: {with_write:.2f} s")
    ok = size <= LIMIT_MB and seconds <= LIMIT_SECONDS
    print("within limits" if ok else "OVER A LIMIT")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
