"""What a training run tells its callback.

``SparseAutoencoder.fit(X, callback=...)`` calls ``callback(model, progress)``
after every L-BFGS iteration or minibatch step, with the model in a consistent
state that :func:`sparseae.save` can write and ``resume_fit`` can continue.  A
callback that returns True stops training there.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.objective import LossTerms

__all__ = ["Progress"]


class Progress(NamedTuple):
    """A snapshot of training, passed to callbacks.

    Attributes
    ----------
    iteration : int
        Completed iterations: L-BFGS iterations, or epochs for minibatch solvers.
    max_iter : int
        The iteration budget of the run.
    step : int
        Minibatch steps done in the epoch in progress (0 for L-BFGS).
    steps_per_iteration : int
        Minibatch steps in one epoch (1 for L-BFGS).
    terms : LossTerms
        The loss terms: of the last iterate for L-BFGS, averaged over the
        epoch so far for minibatch solvers.
    mean_activation : float
        Mean over hidden units of the ρ̂ behind ``terms``.
    elapsed : float
        Seconds since training began.
    """

    iteration: int
    max_iter: int
    step: int
    steps_per_iteration: int
    terms: LossTerms
    mean_activation: float
    elapsed: float

    @property
    def fraction(self) -> float:
        """Share of the iteration budget done, in [0, 1].

        Examples
        --------
        >>> from sparseae.core.objective import LossTerms
        >>> Progress(2, 10, 5, 10, LossTerms(1.0, 0.0, 0.0), 0.1, 3.0).fraction
        0.25
        """
        done = self.iteration + self.step / self.steps_per_iteration
        return min(1.0, done / self.max_iter)
