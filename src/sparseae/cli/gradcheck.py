"""``sparseae gradcheck``: every unit, penalty, output and loss against differences.

With the auxiliary loss for dead units too (``docs/derivation.md`` eq. 15):
top-k units, linear output, squared error, about half the units dead (ReLU
units take no auxiliary loss).  And with tied weights, W2 = W1ᵀ (eq. 16), one
row per unit.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from ..core.activations import kink_margin
from ..core.gradcheck import check_gradient
from ..core.objective import LOSSES, OUTPUTS, loss_and_grad
from ..core.params import BLOCK_NAMES, Params
from ..core.penalties import PENALTIES
from ..core.tied import tied, tied_gradient_
from .options import number

EXAMPLE = """example:
  sparseae gradcheck --seed 1 --samples 20 --features 6 --hidden 4
"""

# Penalties a piecewise-linear unit takes: KL needs ρ̂ in (0, 1); topk has no
# sparsity term, so one row stands for all.
UNIT_PENALTIES = {"relu": ("l1", "squared"), "topk": ("l1",)}
# Central differences with step ε move a pre-activation by at most ε |x| <= ε
# (binary data); a problem is drawn again until every pre-activation is this
# far from a kink of the unit, a hundred steps.
MARGIN = 1e-2
EPSILON = 1e-4
# Weight of the auxiliary loss in its rows: large enough that an error in its
# gradient shows as much as one in the main term's.
AUX_WEIGHT = 0.5


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "gradcheck",
        help="check the hand-derived gradient against finite differences",
        description=(
            "Check the analytic gradient of every hidden unit x penalty x output "
            "x loss combination against central differences (epsilon=1e-4) on a "
            "small random float64 problem. Exits 1 if the relative difference "
            "||num - ana|| / ||num + ana|| of the whole gradient exceeds "
            "--tolerance, or that of any single block exceeds 10 x --tolerance. "
            "ReLU and top-k units are piecewise linear: their problems are drawn "
            "with every pre-activation at least 0.01 from 0 and, for top-k, the "
            "k-th and (k+1)-th largest of each sample at least 0.01 apart, so "
            "that no difference crosses a kink. The auxiliary loss for dead "
            "units (aux_k, every other unit dead) is checked with top-k units, "
            "the only ones it takes, linear output and squared error, its own "
            "choice of units as far from ties. The '+tied' rows check tied "
            "weights, W2 = W1^T, one per unit: their W2 column is 0 by design, "
            "W2's own entries being read by nothing."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seed",
        type=number(int, low=0),
        default=0,
        help="random seed, an integer >= 0 (default 0)",
    )
    parser.add_argument("--samples", type=int, default=10, help="m (default 10)")
    parser.add_argument("--features", type=int, default=8, help="n (default 8)")
    parser.add_argument("--hidden", type=int, default=5, help="h (default 5)")
    parser.add_argument(
        "--tolerance",
        type=number(float, above=0, finite=True),
        default=1e-9,
        help="largest relative difference that passes, a finite number > 0 "
        "(default 1e-9)",
    )
    parser.set_defaults(run=run)


def combinations() -> list[tuple[str, str, str]]:
    """Every valid (penalty, output, loss) triple of sigmoid units."""
    return [
        (penalty, output, loss)
        for penalty, output, loss in itertools.product(PENALTIES, OUTPUTS, LOSSES)
        if not (loss == "cross_entropy" and output != "sigmoid")
    ]


def unit_combinations() -> list[tuple[str, str, str, str]]:
    """Every (activation, penalty, output, loss) checked, sigmoid's first."""
    outputs = [(output, loss) for _, output, loss in combinations()[:3]]
    rows = [("sigmoid", *triple) for triple in combinations()]
    for activation, penalties in UNIT_PENALTIES.items():
        rows += [
            (activation, penalty, output, loss)
            for penalty in penalties
            for output, loss in outputs
        ]
    return rows


def top_k(n_hidden: int) -> int:
    """The k of the top-k rows: about half the units, at least one."""
    return max(1, n_hidden // 2)


def auxiliary_combinations(n_hidden: int) -> list[tuple[str, str, str, str]]:
    """The (activation, penalty, output, loss) rows checked with the auxiliary loss.

    None with a single hidden unit, which leaves aux_k no valid value.
    """
    if n_hidden < 2:
        return []
    return [("topk", "l1", "linear", "squared")]


def auxiliary_setup(n_hidden: int) -> tuple[int, np.ndarray]:
    """aux_k and the dead units of the auxiliary rows: every other unit, from 0."""
    return min(top_k(n_hidden), n_hidden - 1), np.arange(n_hidden) % 2 == 0


# Tied, J is a quartic in W1 (the encoder and the decoder both move), so the
# central differences' O(eps^2) error, zero for the untied linear-output rows'
# quadratic in W2, reaches 1e-8 at eps = 1e-4: the tied rows take a smaller
# step, whose rounding error in float64 is still far below the tolerance.
TIED_EPSILON = 1e-5


def tied_combinations() -> list[tuple[str, str, str, str]]:
    """The rows checked with tied weights, W2 = W1ᵀ (eq. 16): one per unit."""
    return [
        ("sigmoid", "kl", "sigmoid", "squared"),
        ("relu", "l1", "linear", "squared"),
        ("topk", "kl", "linear", "squared"),
    ]


def tied_objective(params: Params, X, **hyper):
    """J and its gradient at W2 = W1ᵀ; W2's own entries are read by nothing."""
    J, grads = loss_and_grad(tied(params), X, **hyper)
    return J, tied_gradient_(grads)


def random_problem(rng, m: int, n: int, h: int) -> tuple[np.ndarray, Params]:
    """Binary data and initial parameters with small random biases."""
    # Binary data keeps reconstructions away from the targets, so that every
    # block's gradient is large next to the O(epsilon^2) truncation error.
    X = (rng.random((m, n)) < 0.3).astype(np.float64)
    params = Params.initialize(n, h, rng=rng)
    params.b1[...] = 0.1 * rng.standard_normal(h)
    params.b2[...] = 0.1 * rng.standard_normal(n)
    return X, params


def problem_away_from_kinks(
    rng,
    m: int,
    n: int,
    h: int,
    activation: str,
    k: int | None = None,
    tries=1000,
    *,
    aux_k: int | None = None,
    dead: np.ndarray | None = None,
) -> tuple[np.ndarray, Params]:
    """A :func:`random_problem` whose pre-activations keep :data:`MARGIN` from kinks.

    With ``aux_k`` and ``dead``, from those of the auxiliary code too.

    Raises
    ------
    ValueError
        If ``tries`` problems in a row come too close (many samples or units
        make it unlikely that none does).
    """
    for _ in range(tries):
        X, params = random_problem(rng, m, n, h)
        z = X @ params.W1.T + params.b1
        if kink_margin(z, activation, k, aux_k, dead) >= MARGIN:
            return X, params
    raise ValueError(
        f"no problem of {m} samples and {h} hidden units in {tries} draws has every "
        f"{activation} pre-activation {MARGIN} from a kink; use fewer --samples or "
        "--hidden"
    )


def run(args) -> int:
    """Check every combination, print a table, and return 1 if any fails."""
    for name in ("samples", "features", "hidden"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    m, n, h = args.samples, args.features, args.hidden
    rng = np.random.default_rng(args.seed)
    problems = {"sigmoid": random_problem(rng, m, n, h)}
    for activation in UNIT_PENALTIES:
        problems[activation] = problem_away_from_kinks(
            rng, m, n, h, activation, top_k(h)
        )
    aux_k, dead = auxiliary_setup(h)
    auxiliary = {"aux_k": aux_k, "aux_weight": AUX_WEIGHT, "dead": dead}
    for activation, *_ in auxiliary_combinations(h):
        problems[activation + "+aux"] = problem_away_from_kinks(
            rng, m, n, h, activation, top_k(h), aux_k=aux_k, dead=dead
        )
    columns = (*BLOCK_NAMES, "all")
    print(
        f"{'unit':12} {'penalty':8} {'output':8} {'loss':14} "
        + " ".join(f"{c:>9}" for c in columns)
    )
    failed = 0
    rows = [(*row, "") for row in unit_combinations()]
    rows += [(*row, "+aux") for row in auxiliary_combinations(h)]
    rows += [(*row, "+tied") for row in tied_combinations()]
    for activation, penalty, output, loss, variant in rows:
        name = activation + variant
        aux = variant == "+aux"
        X, params = problems[activation + ("+aux" if aux else "")]
        hyper = dict(
            sparsity_target=0.1,
            sparsity_weight=3.0,
            weight_decay=1e-3,
            penalty=penalty,
            output=output,
            loss=loss,
            activation=activation,
            k=top_k(h) if activation == "topk" else None,
            **(auxiliary if aux else {}),
        )
        function = tied_objective if variant == "+tied" else loss_and_grad
        result = check_gradient(
            lambda p, X=X, hyper=hyper, f=function: f(p, X, **hyper),
            params,
            epsilon=TIED_EPSILON if variant == "+tied" else EPSILON,
        )
        differences = result.relative_differences
        ok = differences["all"] < args.tolerance and result.worst < 10 * args.tolerance
        failed += not ok
        print(
            f"{name:12} {penalty if activation != 'topk' else '-':8} "
            f"{output:8} {loss:14} "
            + " ".join(f"{differences[c]:9.1e}" for c in columns)
            + ("" if ok else "  FAIL")
        )
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0
