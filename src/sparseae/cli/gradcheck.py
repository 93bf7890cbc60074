"""``sparseae gradcheck``: every penalty × output × loss against finite differences."""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from ..core.gradcheck import check_gradient
from ..core.objective import LOSSES, OUTPUTS, loss_and_grad
from ..core.params import BLOCK_NAMES, Params
from ..core.penalties import PENALTIES

EXAMPLE = """example:
  sparseae gradcheck --seed 1 --samples 20 --features 6 --hidden 4
"""


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "gradcheck",
        help="check the hand-derived gradient against finite differences",
        description=(
            "Check the analytic gradient of every penalty x output x loss "
            "combination against central differences (epsilon=1e-4) on a small "
            "random float64 problem. Exits 1 if the relative difference "
            "||num - ana|| / ||num + ana|| of the whole gradient exceeds "
            "--tolerance, or that of any single block exceeds 10 x --tolerance."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--samples", type=int, default=10, help="m (default 10)")
    parser.add_argument("--features", type=int, default=8, help="n (default 8)")
    parser.add_argument("--hidden", type=int, default=5, help="h (default 5)")
    parser.add_argument(
        "--tolerance", type=float, default=1e-9, help="threshold (default 1e-9)"
    )
    parser.set_defaults(run=run)


def combinations() -> list[tuple[str, str, str]]:
    """Every valid (penalty, output, loss) triple."""
    return [
        (penalty, output, loss)
        for penalty, output, loss in itertools.product(PENALTIES, OUTPUTS, LOSSES)
        if not (loss == "cross_entropy" and output != "sigmoid")
    ]


def random_problem(rng, m: int, n: int, h: int) -> tuple[np.ndarray, Params]:
    """Binary data and initial parameters with small random biases."""
    # Binary data keeps reconstructions away from the targets, so that every
    # block's gradient is large next to the O(epsilon^2) truncation error.
    X = (rng.random((m, n)) < 0.3).astype(np.float64)
    params = Params.initialize(n, h, rng=rng)
    params.b1[...] = 0.1 * rng.standard_normal(h)
    params.b2[...] = 0.1 * rng.standard_normal(n)
    return X, params


def run(args) -> int:
    """Check every combination, print a table, and return 1 if any fails."""
    for name in ("samples", "features", "hidden"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    rng = np.random.default_rng(args.seed)
    X, params = random_problem(rng, args.samples, args.features, args.hidden)
    columns = (*BLOCK_NAMES, "all")
    print(
        f"{'penalty':8} {'output':8} {'loss':14} "
        + " ".join(f"{c:>9}" for c in columns)
    )
    failed = 0
    for penalty, output, loss in combinations():
        result = check_gradient(
            lambda p, penalty=penalty, output=output, loss=loss: loss_and_grad(
                p,
                X,
                sparsity_target=0.1,
                sparsity_weight=3.0,
                weight_decay=1e-3,
                penalty=penalty,
                output=output,
                loss=loss,
            ),
            params,
        )
        differences = result.relative_differences
        ok = differences["all"] < args.tolerance and result.worst < 10 * args.tolerance
        failed += not ok
        print(
            f"{penalty:8} {output:8} {loss:14} "
            + " ".join(f"{differences[c]:9.1e}" for c in columns)
            + ("" if ok else "  FAIL")
        )
    total = len(combinations())
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0
