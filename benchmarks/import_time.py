"""What starting sparseae costs: ``import sparseae`` and ``sparseae --help``.

Each contender runs in a fresh interpreter, interleaved with the others round
after round (a slow spell of a shared machine then falls on all alike), and
the median over rounds is reported:

- ``import`` seconds: the import statement alone, timed inside the process;
- ``process`` seconds: the whole process, interpreter start-up included, as a
  user waiting for ``sparseae --help`` sees it;
- peak RSS: the process's resident-set high-water mark (``ru_maxrss``).

``sparseae core`` is ``import sparseae`` followed by the first use of a
numpy-level name (``sparseae.loss_and_grad``), which loads ``sparseae.core``;
``sparseae estimator`` the first use of ``sparseae.SparseAutoencoder``, which
loads scikit-learn and SciPy: what the lazy names defer.

``import numpy`` is the baseline: ``import sparseae`` should cost at most
0.3 s and 50 MB more, and ``sparseae --help`` at most 0.5 s in all.

Usage: ``python benchmarks/import_time.py [--rounds N]``.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

# Code run in each fresh interpreter: the statement timed, then the figures.
PROBE = """
import resource, sys, time
start = time.perf_counter()
{statement}
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# ru_maxrss is in KiB on Linux, in bytes on macOS.
print("@@", seconds, peak * (1 if sys.platform == "darwin" else 1024), file=sys.stderr)
"""

HELP = """
import contextlib, io
from sparseae.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--help"])
    except SystemExit:
        pass
"""

CONTENDERS = {
    "python": "pass",
    "import numpy": "import numpy",
    "import sparseae": "import sparseae",
    "sparseae core": "import sparseae; sparseae.loss_and_grad",
    "sparseae estimator": "import sparseae; sparseae.SparseAutoencoder",
    "sparseae --help": HELP,
}


def run_once(statement: str) -> tuple[float, float, float]:
    """Import and process seconds and peak RSS bytes of one fresh process."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
    )
    process = time.perf_counter() - start
    line = next(x for x in result.stderr.splitlines() if x.startswith("@@"))
    _, seconds, peak = line.split()
    return float(seconds), process, float(peak)


def measure(rounds: int) -> dict[str, dict[str, float]]:
    """Median figures of every contender over interleaved rounds."""
    samples = {name: [] for name in CONTENDERS}
    for statement in CONTENDERS.values():  # warm the file-system cache
        run_once(statement)
    for _ in range(rounds):
        for name, statement in CONTENDERS.items():
            samples[name].append(run_once(statement))
    return {
        name: {
            key: statistics.median(values[i] for values in runs)
            for i, key in enumerate(("import_s", "process_s", "peak_rss_mb"))
        }
        | {"rounds": len(runs)}
        for name, runs in samples.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (15)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    figures = measure(args.rounds)
    for entry in figures.values():
        entry["peak_rss_mb"] /= 2**20
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"median of {args.rounds} fresh processes each ({sys.version.split()[0]})")
    print(f"{'':18} {'import s':>9} {'process s':>10} {'peak RSS MB':>12}")
    for name, entry in figures.items():
        print(
            f"{name:18} {entry['import_s']:9.3f} {entry['process_s']:10.3f} "
            f"{entry['peak_rss_mb']:12.1f}"
        )
    numpy, package = figures["import numpy"], figures["import sparseae"]
    extra_s = package["import_s"] - numpy["import_s"]
    extra_mb = package["peak_rss_mb"] - numpy["peak_rss_mb"]
    print(
        f"import sparseae over import numpy: {extra_s:+.3f} s (target <= 0.3), "
        f"{extra_mb:+.1f} MB (target <= 50)"
    )
    print(
        f"sparseae --help, whole process: "
        f"{figures['sparseae --help']['process_s']:.3f} s (target <= 0.5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
