"""Timing and reporting shared by the benchmarks.

The machine these run on may be shared, so every comparison is timed in
interleaved rounds (one call of each contender per round, in turn) and
reported as the median over rounds: slow spells caused by other processes then
fall on all contenders alike, and ratios of medians from one run are the
figures to quote.
"""

import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

SIZES = {
    "classic": (10_000, 64, 25),
    "mnist": (60_000, 784, 196),
    "wide": (60_000, 784, 1024),
}
# The hyperparameters of the UFLDL sparse autoencoder exercise.
HYPER = dict(sparsity_target=0.01, sparsity_weight=3.0, weight_decay=1e-4)


def data(m, n, dtype=np.float32, seed=0):
    """Uniform data in [0.1, 0.9], the range of the classic patches."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.9, size=(m, n)).astype(dtype)


def interleaved(contenders, rounds, pause=0.05):
    """Median seconds per call of each contender, timed in interleaved rounds.

    ``contenders`` maps a name to a zero-argument callable; each is called once
    untimed first (warm-up, compilation).  A short pause between calls lets
    idle threads of one library (OpenMP spin-waiting) go to sleep before the
    next is timed.
    """
    for run in contenders.values():
        run()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.collect()
            time.sleep(pause)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def machine():
    """What the figures were measured on."""
    import threadpoolctl

    info = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "threadpools": [
            {k: lib[k] for k in ("internal_api", "version", "num_threads")}
            | {"architecture": lib.get("architecture")}
            for lib in threadpoolctl.threadpool_info()
        ],
        "load_average": os.getloadavg(),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in lscpu.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, StopIteration):
        pass
    return info


def table(rows, columns):
    """Format a list of dicts as an aligned text table."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def save(results, name):
    """Write ``results`` as JSON under benchmarks/results/ and return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, default=float))
    return path
