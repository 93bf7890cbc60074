"""The record of a training run: one entry per iteration or epoch."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.partial_sums import LossTerms

__all__ = ["HISTORY_KEYS", "Record", "append_history", "new_history"]

HISTORY_KEYS = (
    "loss",
    "reconstruction",
    "weight_decay",
    "sparsity",
    "auxiliary",
    "mean_activation",
    "time",
)


def new_history() -> dict[str, list[float]]:
    """An empty training history, one list per entry of :data:`HISTORY_KEYS`.

    Examples
    --------
    >>> sorted(new_history())[:2]
    ['auxiliary', 'loss']
    """
    return {key: [] for key in HISTORY_KEYS}


def append_history(history, terms: LossTerms, mean_activation: float, elapsed):
    """Append one iteration's figures to ``history`` in place."""
    values = (terms.total, *terms, mean_activation, elapsed)
    for key, value in zip(HISTORY_KEYS, values, strict=True):
        history[key].append(float(value))


@dataclass(eq=False)
class Record:
    """What a loop writes as it goes: the count of iterations and their figures.

    The lists are the caller's own (an estimator passes its ``history_`` and
    ``loss_curve_``), so they are up to date whenever ``on_step`` runs; the
    caller reads ``n_iter`` back.

    Attributes
    ----------
    n_iter : int
        Iterations or epochs completed.
    history : dict of str to list of float
        As made by :func:`new_history`.
    loss_curve : list of float
        The loss of each iteration or epoch.
    """

    n_iter: int
    history: dict[str, list[float]]
    loss_curve: list[float]

    def add(self, terms: LossTerms, mean_activation: float, elapsed: float) -> None:
        """Count one iteration and append its figures."""
        append_history(self.history, terms, mean_activation, elapsed)
        self.loss_curve.append(terms.total)
        self.n_iter += 1

    @property
    def elapsed(self) -> float:
        """Seconds of training recorded so far (0 for a new record)."""
        times = self.history["time"]
        return times[-1] if times else 0.0
