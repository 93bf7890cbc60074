"""The scikit-learn estimator: validates, orchestrates a solver, stores the result."""

from __future__ import annotations

import time
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
from sklearn.utils.validation import check_is_fitted, validate_data

from .objective import LOSSES, OUTPUTS, decode, encode, evaluate
from .params import Params
from .penalties import PENALTIES
from .solvers import minimize_lbfgs

__all__ = ["SparseAutoencoder"]


class SparseAutoencoder(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Sparse autoencoder with sigmoid hidden units (SPEC §1-2).

    Learns ``W1, b1, W2, b2`` minimising mean squared (or cross-entropy)
    reconstruction error plus weight decay plus a sparsity penalty on the mean
    activation of each hidden unit.  ``transform`` returns the hidden
    activations, which lie in (0, 1).

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
    solver : {"lbfgs"}, default="lbfgs"
        Full-batch L-BFGS on the exact objective.
    max_iter : int, default=400
        Maximum number of iterations.
    lbfgs_memory : int, default=10
        Number of correction pairs L-BFGS keeps.
    tol : float, default=1e-9
        Stopping tolerance on the relative decrease of the loss.
    random_state : int, RandomState instance or None, default=None
        Seed of the weight initialisation.
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
        Objective after each iteration.
    history_ : dict of str to list
        Per iteration: ``"loss"``, ``"reconstruction"``, ``"weight_decay"``,
        ``"sparsity"``, ``"mean_activation"`` and ``"time"`` (seconds since fit
        began).
    n_iter_ : int
        Iterations run.
    n_features_in_ : int
        Number of features seen during fit.

    References
    ----------
    A. Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import SparseAutoencoder
    >>> X = np.random.default_rng(0).uniform(size=(200, 16))
    >>> model = SparseAutoencoder(n_components=4, max_iter=50, random_state=0)
    >>> codes = model.fit_transform(X)
    >>> codes.shape
    (200, 4)
    >>> bool(((codes > 0) & (codes < 1)).all())
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "penalty": [StrOptions(set(PENALTIES))],
        "output_activation": [StrOptions(set(OUTPUTS))],
        "loss": [StrOptions(set(LOSSES))],
        "solver": [StrOptions({"lbfgs"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "lbfgs_memory": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
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
        tol=1e-9,
        random_state=None,
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
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype

    def _hyperparameters(self) -> dict:
        return {
            "sparsity_target": self.sparsity_target,
            "sparsity_weight": self.sparsity_weight,
            "weight_decay": self.weight_decay,
            "penalty": self.penalty,
            "output": self.output_activation,
            "loss": self.loss,
        }

    def _working_dtype(self) -> np.dtype:
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        return dtype

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=self._working_dtype(), reset=reset)
        if (
            self.output_activation == "sigmoid"
            and X.size
            and (X.min() < 0 or X.max() > 1)
        ):
            raise ValueError(
                f"X has values in [{X.min():.3g}, {X.max():.3g}], but "
                "output_activation='sigmoid' reconstructs values in [0, 1]: scale "
                "the data into [0, 1] (e.g. MinMaxScaler) or use "
                "output_activation='linear'"
            )
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the autoencoder's weights from ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one sample per row.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : SparseAutoencoder
            The fitted estimator.
        """
        if self.loss == "cross_entropy" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='cross_entropy' needs output_activation='sigmoid', got "
                f"output_activation={self.output_activation!r}"
            )
        X = self._validate_X(X, reset=True)
        rng = np.random.default_rng(
            check_random_state(self.random_state).randint(2**31)
        )
        params = Params.initialize(
            X.shape[1], self.n_components, rng=rng, dtype=X.dtype
        )
        self._fit_lbfgs(X, params)
        return self

    def _fit_lbfgs(self, X: np.ndarray, params: Params) -> None:
        n, h = params.n_features, params.n_hidden
        hyper = self._hyperparameters()
        last = {}

        def loss_and_grad(theta):
            evaluation = evaluate(
                Params.from_vector(theta.astype(X.dtype), n, h), X, **hyper
            )
            last.update(theta=theta.copy(), evaluation=evaluation)
            return evaluation.terms.total, evaluation.grads.vector.astype(np.float64)

        history = {
            key: []
            for key in (
                "loss",
                "reconstruction",
                "weight_decay",
                "sparsity",
                "mean_activation",
                "time",
            )
        }
        start = time.perf_counter()

        def record(theta, loss):
            evaluation = last["evaluation"]
            if not np.array_equal(theta, last["theta"]):
                evaluation = evaluate(
                    Params.from_vector(theta.astype(X.dtype), n, h),
                    X,
                    **hyper,
                    compute_grad=False,
                )
            terms = evaluation.terms
            history["loss"].append(terms.total)
            history["reconstruction"].append(terms.reconstruction)
            history["weight_decay"].append(terms.weight_decay)
            history["sparsity"].append(terms.sparsity)
            history["mean_activation"].append(float(evaluation.mean_activation.mean()))
            history["time"].append(time.perf_counter() - start)

        result = minimize_lbfgs(
            loss_and_grad,
            params.vector,
            max_iter=self.max_iter,
            memory=self.lbfgs_memory,
            tol=self.tol,
            callback=record,
        )
        self._store(Params.from_vector(result.theta.astype(X.dtype), n, h))
        self.n_iter_ = result.n_iter
        self.history_ = history
        self.loss_curve_ = list(history["loss"])
        if not result.converged and result.n_iter >= self.max_iter:
            warnings.warn(
                f"L-BFGS reached max_iter={self.max_iter} before converging; "
                "increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _store(self, params: Params) -> None:
        self.components_ = params.W1
        self.intercept_hidden_ = params.b1
        self.decoder_weights_ = params.W2
        self.intercept_visible_ = params.b2

    def _params(self) -> Params:
        return Params(
            self.components_,
            self.intercept_hidden_,
            self.decoder_weights_,
            self.intercept_visible_,
        )

    @property
    def _n_features_out(self):
        return self.n_components

    def transform(self, X):
        """Hidden activations of ``X``, each in (0, 1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return encode(self._params(), X)

    def inverse_transform(self, X):
        """Decode hidden activations back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Hidden activations, as from :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
        """
        check_is_fitted(self)
        codes = np.asarray(X, dtype=self.components_.dtype)
        if codes.ndim != 2 or codes.shape[1] != self.n_components:
            raise ValueError(
                f"X must have shape (n_samples, {self.n_components}) (one column per "
                f"hidden unit), got {codes.shape}"
            )
        return decode(self._params(), codes, self.output_activation)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        float
            ``-(1/m) Σ_i ½‖x̂_i − x_i‖²``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        reconstruction = decode(
            self._params(), encode(self._params(), X), self.output_activation
        )
        reconstruction -= X
        return -0.5 * float(np.vdot(reconstruction, reconstruction)) / X.shape[0]
