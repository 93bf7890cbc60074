"""One evaluation in memory against one on a LocalCluster, side by side.

``python benchmarks/distributed.py [--rounds 7]`` from the repository (about
a minute):

- ``memory``: :func:`sparseae.evaluate` at 60,000 x 784 -> 196, float32, on
  the machine's cores (threads), with ``block_rows`` of 1,875 (32 blocks).
- ``cluster``: the same evaluation by :class:`sparseae.distributed.ClusterData`
  on a LocalCluster of 2 worker processes with 1 thread each, the data read
  by the workers from a ``.npy`` file in 4 chunks of 8 blocks and persisted
  there; θ goes out and the tree of sums comes back every evaluation.  Two
  clusters, one after the other, each timed against ``memory`` in its own
  rounds: :func:`sparseae.distributed.local_cluster` (the workers keep
  glibc's malloc thresholds; what ``sparseae train --scheduler local:N``
  starts) and a LocalCluster with Dask's defaults (its nanny sets
  ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker).
- ``fixed cost``: the same cluster evaluating 4 chunks of 16 rows: the
  framework's own cost per evaluation (θ out, 4 + 3 + 1 tasks, the sums back).

The two results are checked to be equal to the last bit.  Timed in
interleaved rounds (medians), as the other benchmarks.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a file, this folder would come first on the path and this module
# would shadow the ``distributed`` package it uses.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402


def run(
    m=60_000,
    n=784,
    h=196,
    block_rows=1875,
    chunk_rows=15_000,
    rounds=7,
    dask_defaults=False,
    log=print,
):
    from distributed import Client, LocalCluster
    from sparseae import Params
    from sparseae.core.objective import _evaluate, make_settings
    from sparseae.distributed import ClusterData, from_npy, local_cluster
    from sparseae.distributed._evaluate import align

    settings = make_settings(**common.HYPER)
    X = common.data(m, n)
    params = Params.initialize(n, h, rng=np.random.default_rng(0), dtype=X.dtype)
    tiny = common.data(64, n)
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "X.npy", X)
        np.save(Path(folder) / "tiny.npy", tiny)
        start = (
            (lambda **kw: LocalCluster(n_workers=2, threads_per_worker=1, **kw))
            if dask_defaults
            else (lambda **kw: local_cluster(2, **kw))
        )
        with (
            start(processes=True, dashboard_address=":0", silence_logs=40) as cluster,
            Client(cluster) as client,
        ):
            data = ClusterData(
                align(from_npy(Path(folder) / "X.npy", chunk_rows), block_rows),
                block_rows,
                h,
                client,
            )
            small = ClusterData(
                align(from_npy(Path(folder) / "tiny.npy", 16), 16), 16, h, client
            )
            log(f"  cluster chunks: {data.X.chunks[0]}")
            local = _evaluate(params, X, settings, block_rows=block_rows)
            remote = data.evaluate(params, settings)
            same = bool(
                np.array_equal(local.grads.vector, remote.grads.vector)
                and local.terms == remote.terms
            )
            log(f"  in memory and on the cluster bit-identical: {same}")
            seconds = common.interleaved(
                {
                    "memory": lambda: _evaluate(
                        params, X, settings, block_rows=block_rows
                    ),
                    "cluster": lambda: data.evaluate(params, settings),
                    "fixed cost": lambda: small.evaluate(params, settings),
                },
                rounds,
            )
    return {
        "m": m,
        "n": n,
        "h": h,
        "dtype": "float32",
        "block_rows": block_rows,
        "chunk_rows": chunk_rows,
        "workers": "2 processes x 1 thread",
        "cluster": (
            "LocalCluster, Dask's defaults" if dask_defaults else "local_cluster"
        ),
        "seconds": seconds,
        "cluster_over_memory": seconds["cluster"] / seconds["memory"],
        "bit_identical": same,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (7)")
    args = parser.parse_args(argv)
    results = {"machine": common.machine()}
    rows = []
    for dask_defaults in (False, True):
        row = run(rounds=args.rounds, dask_defaults=dask_defaults)
        rows.append(row)
        print(
            common.table(
                [{"contender": k, "seconds": v} for k, v in row["seconds"].items()],
                ["contender", "seconds"],
            )
        )
        print(f"{row['cluster']}: cluster / memory {row['cluster_over_memory']:.3f}")
    results["distributed"] = rows
    print(f"results: {common.save(results, 'distributed')}")


if __name__ == "__main__":
    main()
