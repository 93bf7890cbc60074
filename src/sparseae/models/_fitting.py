"""How a :class:`~sparseae.SparseAutoencoder` drives its training loops.

The estimator validates and builds its ``Settings``; these methods turn them
into an objective over the flat parameter vector, hand it to the loops of
:mod:`sparseae.training`, keep the fitted attributes and the training state up
to date after every step (so that a callback can save a consistent model), and
say, with a ``ConvergenceWarning``, when a run ended early for a reason worth
knowing.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..core.decoder_norm import normalize_decoder_, unit_decoder
from ..core.params import Params
from ..core.tied import tie_
from ..solvers import NonFiniteLossError
from ..solvers.minibatch import make_optimizer
from ..training.history import Record, new_history
from ..training.lbfgs import (
    LbfgsSettings,
    convergence_problem,
    fit_lbfgs,
    start_lbfgs,
)
from ..training.minibatch import (
    DIVERGENCE_FACTOR,
    MinibatchSettings,
    resolve_batch_size,
    train_minibatch,
)
from ..training.state import LbfgsRun
from ._feedback import still_falling, warn_caller

__all__ = ["TrainingMixin"]

# Step sizes that work on data in [0, 1] with the classic hyperparameters.
AUTO_LEARNING_RATE = {"sgd": 0.1, "adam": 1e-3}


class TrainingMixin:
    """The training orchestration of :class:`~sparseae.SparseAutoencoder`."""

    def _can_extend(self, state) -> bool:
        """Whether a finished fit ended at a ``max_iter`` since raised."""
        if state.fingerprint is None or self.n_iter_ >= self.max_iter:
            return False  # partial_fit's state, or no iterations left
        if isinstance(state, LbfgsRun):
            return True  # a converged run stops again at once
        start = state.start_loss or 0.0
        diverged = start > 0 and self.loss_curve_[-1] > DIVERGENCE_FACTOR * start
        converged = state.no_improvement >= self.n_iter_no_change
        return not (diverged or converged)

    def _fit_lbfgs(self, X, settings, callback=None, fingerprint=None) -> None:
        """Minimise the exact objective over ``X`` from the current weights.

        Starts afresh, or goes on from the :class:`LbfgsRun` in
        ``_training_state``.  The weights, ``n_iter_``, ``history_``,
        ``loss_curve_`` and the training state are brought up to date after
        every iteration, so that ``callback(model, progress)`` sees, and can
        save, a consistent model.
        """
        n, h, dtype = X.shape[1], self.n_components, X.dtype

        def objective(theta, compute_grad):
            # No copy in float64: the kernel neither keeps nor modifies params.
            params = Params.from_vector(theta.astype(dtype, copy=False), n, h)
            return evaluate(params, X, settings, compute_grad=compute_grad)

        evaluate = self._evaluator()

        run = self._training_state
        if not isinstance(run, LbfgsRun):
            try:
                state = start_lbfgs(objective, self._params().to_vector())
            except NonFiniteLossError as error:
                raise NonFiniteLossError(
                    f"L-BFGS cannot start: {error}; X has values up to "
                    f"{_largest_magnitude(X):.3g} in {X.dtype.name}, too large "
                    "for the objective's squares and sums: scale the data (e.g. "
                    "StandardScaler)"
                ) from None
            run = self._training_state = LbfgsRun(state, fingerprint=fingerprint)
        # Kept up to date in place by the solver: a callback may save it.
        run.fitting = True
        record = Record(self.n_iter_, self.history_, self.loss_curve_)

        def on_step(theta, progress):
            self.n_iter_ = record.n_iter
            self._store_unit(Params.from_vector(theta.astype(dtype), n, h))
            return callback is not None and callback(self, progress)

        outcome = fit_lbfgs(
            objective,
            run.solver,
            LbfgsSettings(self.max_iter, self.tol, self.lbfgs_memory),
            record,
            on_step,
        )
        run.fitting = outcome.stopped
        self._store_unit(Params.from_vector(outcome.result.theta.astype(dtype), n, h))
        self.n_iter_ = outcome.result.n_iter
        problem = convergence_problem(
            outcome,
            self.max_iter,
            kinked=settings.activation != "sigmoid",
            start_loss=self.loss_curve_[0] if self.loss_curve_ else None,
        )
        if problem is not None and outcome.result.n_iter >= self.max_iter:
            # The budget ended the run: worth a warning only if still falling.
            fall = still_falling(self.loss_curve_)
            problem = fall and f"{problem} ({fall})"
        if problem:
            warn_caller(problem, ConvergenceWarning)

    def _train_minibatch(self, X, settings, callback=None, *, fitting: bool) -> None:
        """Train by minibatches from the current weights and training state.

        ``fitting`` is True for ``fit`` (epochs up to ``max_iter``, early
        stopping, a ``ConvergenceWarning`` at the limit), False for the one
        epoch of ``partial_fit``.  With ``aux_k``, each step's evaluation gets
        the units dead after ``dead_after`` samples (one pass over ``X`` by
        default) as ``settings.dead``.
        """
        state = self._training_state
        params = self._params().copy()
        if self.unit_norm_decoder and state.decoder_direction is not None:
            # Go on from V itself, not from the unit W2 the model shows: the
            # same bits as a run never stopped.
            params.W2[...] = state.decoder_direction
        self._store(params)  # the model's weights are views of the loop's theta
        if self.unit_norm_decoder:
            state.decoder_direction = params.W2  # V, moved in place by the steps
        n, h = X.shape[1], self.n_components
        decay = self.rho_decay if self.rho_estimate == "running" else 0.0
        batch_size = resolve_batch_size(self.batch_size, X.shape[0])
        steps = -(-X.shape[0] // batch_size)

        evaluate = self._evaluator()

        def objective(theta, batch, rho_hat, dead):
            params = Params.from_vector(theta, n, h)
            if self.unit_norm_decoder:
                normalize_decoder_(params)  # J is unchanged; steps keep their scale
            return evaluate(
                params,
                batch,
                settings if dead is None else settings._replace(dead=dead),
                previous_rho_hat=rho_hat,
                rho_decay=decay,
            )

        record = Record(self.n_iter_, self.history_, self.loss_curve_)

        def on_step(progress):
            self.n_iter_ = record.n_iter
            if self.tied_weights:
                # theta's W2 is read and moved by nothing: written for the callback.
                tie_(params)
            if self.unit_norm_decoder:
                self._show_unit_decoder(params)
            return callback(self, progress)

        budget = self.max_iter if fitting else self.n_iter_ + 1
        dead_after = None
        if settings.aux_k is not None:
            dead_after = X.shape[0] if self.dead_after is None else self.dead_after
        loop = MinibatchSettings(
            batch_size, budget, self.tol, self.n_iter_no_change, dead_after
        )
        rate = state.optimizer.learning_rate
        try:
            end = train_minibatch(
                objective,
                params.vector,
                X,
                state,
                loop,
                record,
                on_step if callback is not None else None,
            )
        except NonFiniteLossError as error:
            # The optimiser may have taken the failed step into its moments, so
            # the run cannot be resumed; partial_fit starts a fresh optimiser.
            self._training_state = None
            raise NonFiniteLossError(
                f"{self.solver} diverged in epoch {record.n_iter + 1}, step "
                f"{state.position + 1} of {steps}: {error}; the model keeps the "
                f"parameters before that step. Lower learning_rate (got {rate!r}) "
                "or scale the data"
            ) from None
        finally:
            self.n_iter_ = record.n_iter
        if fitting and end != "stopped":
            state.fitting = False
        if self.tied_weights:
            tie_(params)  # after the last step's W1
        if self.unit_norm_decoder:
            # The last step moved V off unit columns: the model shows V / ‖V‖,
            # and the training state keeps V for resume_fit.
            self._show_unit_decoder(params)
        if end == "diverged":
            warn_caller(
                f"{self.solver} diverged: the mean loss of epoch {self.n_iter_}, "
                f"{self.loss_curve_[-1]:.4g}, is over {DIVERGENCE_FACTOR} times the "
                f"{state.start_loss:.4g} of the first step, so training stopped "
                f"there; lower learning_rate (got {rate!r})",
                ConvergenceWarning,
            )
        elif (
            fitting
            and end != "stopped"
            and len(self.loss_curve_) >= 2
            and self.loss_curve_[-1] > self.loss_curve_[0]
        ):
            # Below the divergence factor, but worse than where it started:
            # epoch means, which average out the noise of single batches
            # (partial_fit is left out: its next data may differ in scale).
            warn_caller(
                f"{self.solver} made the model worse: the mean loss of epoch "
                f"{self.n_iter_}, {self.loss_curve_[-1]:.4g}, is above the "
                f"{self.loss_curve_[0]:.4g} of the first; lower learning_rate "
                f"(got {rate!r})",
                ConvergenceWarning,
            )
        fall = still_falling(self.loss_curve_)
        if fitting and end == "budget" and fall is not None:
            warn_caller(
                f"{self.solver} reached max_iter={self.max_iter} epochs before "
                f"converging ({fall.replace('iterations', 'epochs')}); increase "
                "max_iter or tol",
                ConvergenceWarning,
            )

    def _show_unit_decoder(self, params: Params) -> None:
        """Set ``decoder_weights_`` to V / ‖V‖ of the loop's ``params`` (a copy)."""
        unit, _ = unit_decoder(params)
        self.decoder_weights_ = unit.W2

    def _generator(self) -> np.random.Generator:
        return np.random.default_rng(
            check_random_state(self.random_state).randint(2**31)
        )

    def _initialize(self, X) -> np.random.Generator:
        rng = self._generator()
        params = Params.initialize(
            X.shape[1], self.n_components, rng=rng, dtype=X.dtype
        )
        self._store(tie_(params) if self.tied_weights else params)
        self.n_iter_ = 0
        self.history_ = new_history()
        self.loss_curve_ = []
        return rng

    def _make_optimizer(self):
        rate = self.learning_rate
        if rate == "auto":
            rate = AUTO_LEARNING_RATE[self.solver]
        # Python floats: the optimiser's state is saved as JSON, which holds no
        # NumPy scalar (np.float32(0.01) is a valid learning_rate).
        rate = float(rate)
        if self.solver == "sgd":
            return make_optimizer(
                "sgd", learning_rate=rate, momentum=float(self.momentum)
            )
        return make_optimizer("adam", learning_rate=rate)


def _largest_magnitude(X) -> float:
    """The largest |x| of training data: array, CSR matrix, file chunks, cluster."""
    if hasattr(X, "largest_magnitude"):  # the Dask estimator's data
        return float(X.largest_magnitude())
    if hasattr(X, "toarray"):
        return float(abs(X).max())
    if isinstance(X, np.ndarray):
        return float(np.abs(X).max())
    return max((float(np.abs(chunk).max()) for chunk in X), default=0.0)
