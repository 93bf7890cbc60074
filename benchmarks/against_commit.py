"""One evaluation of this checkout against the same at another commit, side by side.

Each side runs in a process of its own, importing ``sparseae`` from its own
source tree (this checkout's ``src``, or a ``git worktree`` of the commit made
in a temporary folder), with the same NumPy, BLAS and data.  The two are
timed in interleaved rounds, alternating which goes first; each round takes
the best of 3 evaluations per side, and the figure is the median of the
per-round ratios.

The default commit, b120dac, is the project as it stood when issue 11
("Scale out on Dask", whose item 4 asks the one-pass in-memory path to stay
within 3% of "today's" speed) was filed: its kernel kept a2 of every row when
that took at most 16 MiB and of as many rows as 1/32 of the data's bytes held
beyond, so it took five products for those rows and six for the rest.  (The
older 0869058 kept 1/8 of the data's bytes; it was superseded a week before
the issue.)

    python benchmarks/against_commit.py                     # MNIST scale, float32
    python benchmarks/against_commit.py --dtype float64 --rounds 9
    python benchmarks/against_commit.py --rows 10000 --features 64 --hidden 25
    python benchmarks/against_commit.py --rows 20000  # a2 all kept by b120dac

Prints the rounds and the ratio (this checkout / the commit).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run by each side: build the data, then time on every line read from stdin.
WORKER = """
import sys, time
import numpy as np
from sparseae import Params, evaluate
m, n, h, dtype = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
X = np.random.default_rng(0).uniform(0.1, 0.9, (m, n)).astype(dtype)
params = Params.initialize(n, h, rng=np.random.default_rng(1)).astype(dtype)
hyper = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=3e-3)
evaluate(params, X, **hyper)
for _ in sys.stdin:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        evaluate(params, X, **hyper)
        times.append(time.perf_counter() - start)
    print(min(times), flush=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commit", default="b120dac")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=196)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    shape = [str(args.rows), str(args.features), str(args.hidden), args.dtype]
    with tempfile.TemporaryDirectory() as folder:
        other = Path(folder) / "other"
        subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "worktree",
                "add",
                "-q",
                "--detach",
                str(other),
                args.commit,
            ],
            check=True,
        )
        try:
            sides = {
                "this checkout": ROOT / "src",
                args.commit: other / "src",
            }
            workers = {
                name: subprocess.Popen(
                    [sys.executable, "-c", WORKER, *shape],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(src)},
                )
                for name, src in sides.items()
            }
            times = {name: [] for name in workers}
            names = list(workers)
            for round_ in range(args.rounds):
                for name in names if round_ % 2 else names[::-1]:
                    workers[name].stdin.write("go\n")
                    workers[name].stdin.flush()
                    times[name].append(float(workers[name].stdout.readline()))
            for worker in workers.values():
                worker.stdin.close()
                worker.wait()
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)],
                check=True,
            )
    ours, theirs = times[names[0]], times[names[1]]
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(f"{args.rows} x {args.features} -> {args.hidden}, {args.dtype}")
    for name in names:
        print(f"  {name:>14s}: " + " ".join(f"{t:.3f}" for t in times[name]) + " s")
    print("  per round, this / commit: " + " ".join(f"{r:.3f}" for r in ratios))
    print(f"  median ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
