"""The scikit-learn estimator: validates, orchestrates a solver, stores the result."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..core.objective import LOSSES, OUTPUTS, _evaluate, make_settings
from ..core.params import Params
from ..core.penalties import PENALTIES
from ..core.sparsity import RHO_ESTIMATES
from ..solvers import NonFiniteLossError
from ..solvers.minibatch import make_optimizer
from ..training.history import Record, new_history
from ..training.lbfgs import LbfgsSettings, convergence_problem, fit_lbfgs
from ..training.minibatch import (
    DIVERGENCE_FACTOR,
    MinibatchSettings,
    resolve_batch_size,
    train_minibatch,
)
from ..training.state import MinibatchState, data_fingerprint
from ._transform import AutoencoderTransformMixin
from ._validation import check_dense_real, check_finite

__all__ = ["SparseAutoencoder"]

# Step sizes that work on data in [0, 1] with the classic hyperparameters.
AUTO_LEARNING_RATE = {"sgd": 0.1, "adam": 1e-3}


def _minibatch_solver(estimator) -> bool:
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit needs solver='sgd' or 'adam', got solver={estimator.solver!r}"
        )
    return True


class SparseAutoencoder(
    AutoencoderTransformMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Sparse autoencoder with sigmoid hidden units (``docs/derivation.md`` eq. 1-5).

    Learns ``W1, b1, W2, b2`` minimising mean squared (or cross-entropy)
    reconstruction error plus weight decay plus a sparsity penalty on the mean
    activation of each hidden unit.  ``transform`` returns the hidden
    activations, which lie in (0, 1).  Full-batch L-BFGS descends on the exact
    objective; SGD and Adam take minibatches and estimate the mean activations
    as ``rho_estimate`` says (``docs/minibatch.md``).

    Parameters
    ----------
    n_components : int, default=100
        Number of hidden units h.
    sparsity_target : float, default=0.05
        Target mean activation ρ, in (0, 1).
    sparsity_weight : float, default=3.0
        Weight β of the sparsity penalty.
    weight_decay : float, default=1e-4
        Weight λ of the weight decay ``(λ/2)(‖W1‖² + ‖W2‖²)``.
    penalty : {"kl", "squared", "l1"}, default="kl"
        Sparsity penalty on the mean activations.
    output_activation : {"sigmoid", "linear"}, default="sigmoid"
        Output unit. Use "linear" for data not in [0, 1].
    loss : {"squared", "cross_entropy"}, default="squared"
        Reconstruction loss; cross-entropy needs a sigmoid output.
    solver : {"lbfgs", "sgd", "adam"}, default="lbfgs"
        Full-batch L-BFGS on the exact objective, minibatch SGD with momentum,
        or minibatch Adam.
    max_iter : int, default=400
        Maximum number of iterations (L-BFGS) or epochs (SGD, Adam).
    lbfgs_memory : int, default=10
        Number of correction pairs L-BFGS keeps.
    batch_size : int or "auto", default="auto"
        Samples per minibatch (SGD, Adam); "auto" is ``min(256, n_samples)``.
        A number larger than the data is clipped to it with a warning, as
        scikit-learn's MLP does (``partial_fit`` on a stream's short last chunk
        is valid).
    learning_rate : float or "auto", default="auto"
        Step size of SGD and Adam; "auto" is 0.1 for SGD and 1e-3 for Adam.
    momentum : float, default=0.9
        Momentum of SGD, in [0, 1).
    rho_estimate : {"batch", "running"}, default="batch"
        Mean activations ρ̂ used in the sparsity term of a minibatch: the
        batch's own, or the running average ``ρ̂_t = α ρ̂_{t-1} + (1-α) ρ̂_B``.
        "running" removes most of the bias of small batches when ρ is small
        (batches of 32 with ρ = 0.01) but lags about ``1/(1-α)`` steps behind
        the weights, which large fast steps cannot afford; see
        ``docs/minibatch.md``.
    rho_decay : float, default=0.95
        α of the running estimate, in [0, 1).
    tol : float, default=1e-9
        L-BFGS stops when the loss decreases by less than ``tol`` relatively
        in one iteration; SGD and Adam when the epoch loss has not beaten its
        best by ``tol`` relatively for ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=10
        Epochs without improvement before SGD and Adam stop.
    random_state : int, RandomState instance or None, default=None
        Seed of the weight initialisation and of the minibatch order.
    verbose : int, default=0
        When positive, minibatch solvers log each epoch's loss at INFO level to
        the ``sparseae.training.minibatch`` logger.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating type of the computation and of the fitted weights.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in_)
        Encoder weights W1; each row is a learned feature.
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases b1.
    decoder_weights_ : ndarray of shape (n_features_in_, n_components)
        Decoder weights W2.
    intercept_visible_ : ndarray of shape (n_features_in_,)
        Output biases b2.
    loss_curve_ : list of float
        Objective after each iteration (L-BFGS) or mean minibatch objective
        of each epoch (SGD, Adam).
    history_ : dict of str to list
        Per iteration or epoch: ``"loss"``, ``"reconstruction"``,
        ``"weight_decay"``, ``"sparsity"``, ``"mean_activation"`` and ``"time"``
        (seconds since fit began).
    n_iter_ : int
        Iterations or epochs run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.

    See Also
    --------
    sparseae.load : Read a model written by :meth:`save`.
    sparseae.io.checkpoints.Checkpointer : Save checkpoints during ``fit``.

    Notes
    -----
    What the estimator accepts (``docs/reliability.md``):

    - Dense arrays of real numbers, or anything NumPy turns into one (object
      arrays of numbers, numbers written as strings).  NaN and infinite values
      are refused with their count and the first position.  Sparse matrices are
      refused: the reconstruction is dense whatever X is, so they would save no
      memory.
    - With a sigmoid output, values in [0, 1] only; the error suggests
      scaling or ``output_activation="linear"``.
    - A single sample.  ρ̂ is then that sample's activations, so the penalty
      asks each unit to take the value ρ on it; the objective and its gradient
      stay exact, only "sparse across samples" has no meaning yet.
      ``partial_fit`` on a stream may well end with one sample.
    - If the loss or its gradient becomes NaN or infinite (a learning rate far
      too large, data far out of scale), training raises
      :class:`sparseae.solvers.NonFiniteLossError` and the model keeps the
      last finite parameters; an epoch whose loss climbs above ten times the
      loss at the start stops a minibatch run with a ``ConvergenceWarning``.

    References
    ----------
    A. Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import SparseAutoencoder
    >>> X = np.random.default_rng(0).uniform(size=(200, 16))
    >>> model = SparseAutoencoder(n_components=4, tol=1e-4, random_state=0)
    >>> codes = model.fit_transform(X)
    >>> codes.shape
    (200, 4)
    >>> bool(((codes > 0) & (codes < 1)).all())
    True
    >>> online = SparseAutoencoder(n_components=4, solver="adam", batch_size=50)
    >>> for start in range(0, 200, 100):
    ...     _ = online.partial_fit(X[start:start + 100])
    >>> online.n_iter_, online.get_feature_names_out()[:2].tolist()
    (2, ['sparseautoencoder0', 'sparseautoencoder1'])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "penalty": [StrOptions(set(PENALTIES))],
        "output_activation": [StrOptions(set(OUTPUTS))],
        "loss": [StrOptions(set(LOSSES))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "lbfgs_memory": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "rho_estimate": [StrOptions(set(RHO_ESTIMATES))],
        "rho_decay": [Interval(Real, 0, 1, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "dtype": [type, np.dtype, StrOptions({"float64", "float32"})],
    }

    def __init__(
        self,
        n_components=100,
        *,
        sparsity_target=0.05,
        sparsity_weight=3.0,
        weight_decay=1e-4,
        penalty="kl",
        output_activation="sigmoid",
        loss="squared",
        solver="lbfgs",
        max_iter=400,
        lbfgs_memory=10,
        batch_size="auto",
        learning_rate="auto",
        momentum=0.9,
        rho_estimate="batch",
        rho_decay=0.95,
        tol=1e-9,
        n_iter_no_change=10,
        random_state=None,
        verbose=0,
        dtype=np.float64,
    ):
        self.n_components = n_components
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.output_activation = output_activation
        self.loss = loss
        self.solver = solver
        self.max_iter = max_iter
        self.lbfgs_memory = lbfgs_memory
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.rho_estimate = rho_estimate
        self.rho_decay = rho_decay
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _settings(self):
        """The objective's hyperparameters, checked once for a whole run."""
        return make_settings(
            sparsity_target=self.sparsity_target,
            sparsity_weight=self.sparsity_weight,
            weight_decay=self.weight_decay,
            penalty=self.penalty,
            output=self.output_activation,
            loss=self.loss,
        )

    def _working_dtype(self) -> np.dtype:
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        return dtype

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        if self.loss == "cross_entropy" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='cross_entropy' needs output_activation='sigmoid', got "
                f"output_activation={self.output_activation!r}"
            )
        check_dense_real(X)
        try:
            # Values too large for float32 become inf in the cast, which
            # check_finite reports with the remedy.
            with np.errstate(over="ignore"):
                X = validate_data(
                    self,
                    X,
                    dtype=self._working_dtype(),
                    reset=reset,
                    ensure_all_finite=False,
                )
        except (TypeError, ValueError) as error:
            # NumPy's and Python's words for an entry that is not a number
            # (scikit-learn passes them on without naming the input).
            if "convert" in str(error) or "argument must be" in str(error):
                raise type(error)(f"X must hold real numbers: {error}") from None
            raise
        check_finite(X)
        if self.output_activation == "sigmoid" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"X has values in [{X.min():.3g}, {X.max():.3g}], but "
                "output_activation='sigmoid' reconstructs values in [0, 1]: scale "
                "the data into [0, 1] (e.g. MinMaxScaler) or use "
                "output_activation='linear'"
            )
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, callback=None):
        """Learn the autoencoder's weights from ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one sample per row.
        y : Ignored
            Not used, present for API consistency.
        callback : callable, optional
            ``callback(model, progress)`` after every L-BFGS iteration or
            minibatch step, with a :class:`sparseae.training.progress.Progress`;
            returning True stops training there (:meth:`resume_fit` goes on).

        Returns
        -------
        self : SparseAutoencoder
            The fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        settings = self._settings()
        rng = self._initialize(X)
        if self.solver == "lbfgs":
            self._training_state = None
            self._fit_lbfgs(X, settings, callback)
            return self
        self._training_state = MinibatchState(
            rng, self._make_optimizer(), fitting=True, fingerprint=data_fingerprint(X)
        )
        self._train_minibatch(X, settings, callback, fitting=True)
        return self

    @available_if(_minibatch_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, *, callback=None):
        """One epoch of minibatch training on ``X``, initialising on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; each call may pass different samples.
        y : Ignored
            Not used, present for API consistency.
        callback : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self : SparseAutoencoder
            The updated estimator.
        """
        first = not hasattr(self, "components_")
        X = self._validate_X(X, reset=first)
        settings = self._settings()
        rng = self._initialize(X) if first else self._generator()
        if getattr(self, "_training_state", None) is None:
            # New, or fitted by L-BFGS: the minibatch run starts from its weights.
            self._training_state = MinibatchState(rng, self._make_optimizer())
        # An epoch left unfinished by an earlier call belongs to other data.
        self._training_state.permutation = None
        self._training_state.fitting = False
        self._train_minibatch(X, settings, callback, fitting=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def resume_fit(self, X, *, callback=None):
        """Continue a :meth:`fit` that a callback (or Ctrl-C in the CLI) stopped.

        Ends with the parameters an uninterrupted ``fit`` with the same
        ``random_state`` would have reached, bit for bit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The same data as the interrupted fit.
        callback : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self : SparseAutoencoder
            The fitted estimator.
        """
        check_is_fitted(self)
        state = getattr(self, "_training_state", None)
        if state is None:
            raise ValueError(
                f"resume_fit needs a model trained by solver='sgd' or 'adam' with "
                f"its training state (a checkpoint), got solver={self.solver!r} "
                "without one"
            )
        X = self._validate_X(X, reset=False)
        if state.fitting and state.fingerprint != data_fingerprint(X):
            raise ValueError(
                f"X of shape {X.shape} is not the data the interrupted fit was "
                "using; resume with the same samples in the same order"
            )
        if state.fitting:
            self._train_minibatch(X, self._settings(), callback, fitting=True)
        return self

    def _fit_lbfgs(self, X, settings, callback=None) -> None:
        """Minimise the exact objective over ``X`` from the current weights.

        The weights, ``n_iter_``, ``history_`` and ``loss_curve_`` are brought
        up to date after every iteration, so that ``callback(model, progress)``
        sees, and can save, a consistent model.
        """
        n, h, dtype = X.shape[1], self.n_components, X.dtype

        def objective(theta, compute_grad):
            # No copy in float64: the kernel neither keeps nor modifies params.
            params = Params.from_vector(theta.astype(dtype, copy=False), n, h)
            return _evaluate(params, X, settings, compute_grad=compute_grad)

        record = Record(self.n_iter_, self.history_, self.loss_curve_)

        def on_step(theta, progress):
            self.n_iter_ = record.n_iter
            self._store(Params.from_vector(theta.astype(dtype), n, h))
            return callback is not None and callback(self, progress)

        try:
            outcome = fit_lbfgs(
                objective,
                self._params().to_vector(),
                LbfgsSettings(self.max_iter, self.tol, self.lbfgs_memory),
                record,
                on_step,
            )
        except NonFiniteLossError as error:
            raise NonFiniteLossError(
                f"L-BFGS cannot start: {error}; X has values up to "
                f"{float(np.abs(X).max()):.3g} in {X.dtype.name}, too large for the "
                "objective's squares and sums: scale the data (e.g. StandardScaler)"
            ) from None
        self._store(Params.from_vector(outcome.result.theta.astype(dtype), n, h))
        self.n_iter_ = outcome.result.n_iter
        problem = convergence_problem(outcome, self.max_iter)
        if problem is not None:
            warnings.warn(problem, ConvergenceWarning, stacklevel=4)

    def _train_minibatch(self, X, settings, callback=None, *, fitting: bool) -> None:
        """Train by minibatches from the current weights and training state.

        ``fitting`` is True for ``fit`` (epochs up to ``max_iter``, early
        stopping, a ``ConvergenceWarning`` at the limit), False for the one
        epoch of ``partial_fit``.
        """
        state = self._training_state
        params = self._params().copy()
        self._store(params)  # the model's weights are views of the loop's theta
        n, h = X.shape[1], self.n_components
        decay = self.rho_decay if self.rho_estimate == "running" else 0.0
        batch_size = resolve_batch_size(self.batch_size, X.shape[0])
        steps = -(-X.shape[0] // batch_size)

        def objective(theta, batch, rho_hat):
            return _evaluate(
                Params.from_vector(theta, n, h),
                batch,
                settings,
                previous_rho_hat=rho_hat,
                rho_decay=decay,
            )

        record = Record(self.n_iter_, self.history_, self.loss_curve_)

        def on_step(progress):
            self.n_iter_ = record.n_iter
            return callback(self, progress)

        budget = self.max_iter if fitting else self.n_iter_ + 1
        loop = MinibatchSettings(
            batch_size, budget, self.tol, self.n_iter_no_change, self.verbose
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
        if end == "diverged":
            warnings.warn(
                f"{self.solver} diverged: the mean loss of epoch {self.n_iter_}, "
                f"{self.loss_curve_[-1]:.4g}, is over {DIVERGENCE_FACTOR} times the "
                f"{state.start_loss:.4g} of the first step, so training stopped "
                f"there; lower learning_rate (got {rate!r})",
                ConvergenceWarning,
                stacklevel=4,
            )
        if fitting and end == "budget":
            warnings.warn(
                f"{self.solver} reached max_iter={self.max_iter} epochs before "
                f"converging (the loss beat its best by more than tol={self.tol} "
                f"within the last n_iter_no_change={self.n_iter_no_change} epochs); "
                "increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _generator(self) -> np.random.Generator:
        return np.random.default_rng(
            check_random_state(self.random_state).randint(2**31)
        )

    def _initialize(self, X) -> np.random.Generator:
        rng = self._generator()
        self._store(
            Params.initialize(X.shape[1], self.n_components, rng=rng, dtype=X.dtype)
        )
        self.n_iter_ = 0
        self.history_ = new_history()
        self.loss_curve_ = []
        return rng

    def _make_optimizer(self):
        rate = self.learning_rate
        if rate == "auto":
            rate = AUTO_LEARNING_RATE[self.solver]
        if self.solver == "sgd":
            return make_optimizer("sgd", learning_rate=rate, momentum=self.momentum)
        return make_optimizer("adam", learning_rate=rate)
