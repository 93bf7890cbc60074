"""Run the sparseae benchmarks: ``python benchmarks/run.py`` from the repository.

Sections (all by default; choose with ``--only``):

  kernels    one loss-and-gradient evaluation: sparseae f32/f64, PyTorch eager
             and torch.compile, the GEMM bound; classic, MNIST and wide sizes
  training   the classic demo's 400 L-BFGS iterations; time per L-BFGS
             iteration against scikit-learn's MLPRegressor
  memory     peak resident memory of full-batch training at MNIST scale
  outofcore  training from a memory-mapped file 4x a memory cap it sets itself
  scaling    time per evaluation against m, n and h (scaling.png: results/,
             or docs/img with --write-docs-images)
  distributed  one evaluation in memory against a 2-worker LocalCluster
             (needs pip install "sparseae[distributed]"; docs/distributed.md)

Prints tables of medians and ratios and writes everything as JSON under
benchmarks/results/.  ``--quick`` runs fewer rounds and smaller cases (a few
minutes instead of about half an hour).  PyTorch (``pip install torch``) is
optional; without it those rows are skipped with a message.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This folder, first on the path when run as a file, would let
# benchmarks/distributed.py shadow the ``distributed`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from benchmarks import common, kernels, memory, scaling, training  # noqa: E402

SECTIONS = ("kernels", "training", "memory", "outofcore", "scaling", "distributed")


def run_kernels(args, log):
    sizes = {name: common.SIZES[name] for name in args.sizes}
    if args.quick:
        sizes.pop("wide", None)
    rounds = {"classic": 30, "mnist": 3 if args.quick else 7, "wide": 3}
    try:
        import torch  # noqa: F401

        use_torch = not args.no_torch
    except ImportError:
        log("  PyTorch is not installed: its rows are skipped (pip install torch)")
        use_torch = False
    rows = kernels.run(sizes, rounds, use_torch, not args.no_compile, log=log)
    for row in rows:
        log(f"\n{row['size']} ({row['m']} x {row['n']} -> {row['h']}), median s:")
        log(
            common.table(
                [{"contender": k, "seconds": v} for k, v in row["seconds"].items()],
                ["contender", "seconds"],
            )
        )
        log(
            common.table(
                [{"ratio": k, "value": v} for k, v in row["ratios"].items()],
                ["ratio", "value"],
            )
        )
    return rows


def run_training(args, log):
    demo = training.classic_demo(rounds=1 if args.quick else 3, log=log)
    log(f"\nclassic demo, 400 L-BFGS iterations, median s: {demo['seconds']}")
    sizes = dict(common.SIZES)
    iterations = {"classic": 50, "mnist": 5, "wide": 2}
    rounds = {"classic": 3, "mnist": 2, "wide": 1}
    if args.quick:
        sizes.pop("wide")
        rounds["mnist"] = 1
    per_iteration = training.per_iteration(sizes, iterations, rounds, log=log)
    log("\nseconds per L-BFGS iteration, float32:")
    log(
        common.table(
            [
                {"size": r["size"], **r["seconds_per_iteration"], "ratio": r["ratio"]}
                for r in per_iteration
            ],
            ["size", "sparseae", "sklearn MLPRegressor", "ratio"],
        )
    )
    shape = common.SIZES["mnist"]
    return {
        "classic_demo": demo,
        "per_iteration": per_iteration,
        "mnist_theta_float32_round_trip_seconds": training.conversions(*shape),
    }


def run_memory(args, log):
    max_iter = 5 if args.quick else 10
    rows = memory.peak(max_iter=max_iter, log=log)
    # The solver's state does not grow with the rows: the same at 4 x the rows.
    rows += memory.peak(
        m=240_000,
        max_iter=max_iter,
        dtypes=("float32",),
        hows=("evaluation", "estimator"),
        log=log,
    )
    columns = ("how", "dtype", "rows", "peak_over_data", "growth_over_data")
    log(
        common.table(
            [
                {k: r[k] for k in columns} | {"peak MB": r["peak_rss"] / memory.MB}
                for r in rows
            ],
            [*columns[:3], "peak MB", *columns[3:]],
        )
    )
    return rows


def run_outofcore(args, log):
    file_mb, budget_mb = (512, 128) if args.quick else (1536, 384)
    row = memory.outofcore(file_mb=file_mb, budget_mb=budget_mb, log=log)
    log(
        common.table(
            [row],
            [
                "file_bytes",
                "budget",
                "peak_rss",
                "rss_after_imports",
                "seconds",
                "evaluations",
                "loss",
            ],
        )
    )
    return row


def run_scaling(args, log):
    results = scaling.sweep(rounds=2 if args.quick else 5, quick=args.quick, log=log)
    folder = ROOT / "docs" / "img" if args.write_docs_images else common.RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scaling.png"
    scaling.plot(results, path)
    log(f"  plot: {path}")
    return results


def run_distributed(args, log):
    try:
        import distributed  # noqa: F401
    except ImportError:
        log('  Dask is not installed: skipped (pip install "sparseae[distributed]")')
        return None
    from benchmarks import distributed as cluster_benchmark

    row = cluster_benchmark.run(rounds=3 if args.quick else 7, log=log)
    log(
        common.table(
            [{"contender": k, "seconds": v} for k, v in row["seconds"].items()],
            ["contender", "seconds"],
        )
    )
    log(f"  {row['cluster']}: cluster / memory {row['cluster_over_memory']:.3f}")
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--sizes",
        nargs="+",
        choices=common.SIZES,
        default=list(common.SIZES),
        help="sizes for the kernels section (default all)",
    )
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--write-docs-images",
        action="store_true",
        help="save scaling.png to docs/img (default benchmarks/results)",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="skip torch.compile (its compilation takes minutes)",
    )
    args = parser.parse_args(argv)

    def log(text):
        print(text, flush=True)

    results = {"machine": common.machine(), "quick": args.quick}
    for section in args.only:
        log(f"== {section}")
        results[section] = globals()[f"run_{section}"](args, log)
    results["machine"]["load_average_after"] = common.machine()["load_average"]
    log(f"\nresults: {common.save(results, 'run')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
