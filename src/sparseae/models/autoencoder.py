"""The scikit-learn estimator: validates, orchestrates a solver, stores the result."""

from __future__ import annotations

import os
from collections.abc import Callable
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..core.activations import ACTIVATIONS
from ..core.chunked import NpyChunks, _evaluate_chunks
from ..core.decoder_norm import decoder_gradient_, normalize_decoder_, unit_decoder
from ..core.objective import (
    LOSSES,
    OUTPUTS,
    _auxiliary_needs_topk,
    _evaluate,
    make_settings,
)
from ..core.params import Params
from ..core.penalties import PENALTIES
from ..core.sparsity import RHO_ESTIMATES
from ..core.tied import tie_, tied, tied_gradient_
from ..training.state import LbfgsRun, MinibatchState, data_fingerprint
from ._feedback import reports_progress, warn_caller
from ._fitting import TrainingMixin
from ._transform import AutoencoderTransformMixin
from ._validation import (
    SPARSE_FORMATS,
    NumberInterval,
    check_finite,
    check_in_memory,
    check_real,
    check_target_range,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..training.progress import Progress

__all__ = ["SparseAutoencoder"]


def _minibatch_solver(estimator) -> bool:
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit needs solver='sgd' or 'adam', got solver={estimator.solver!r}"
        )
    return True


class SparseAutoencoder(
    TrainingMixin,
    AutoencoderTransformMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Sparse autoencoder: sigmoid, ReLU or top-k hidden units (``docs/derivation.md``).

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
    hidden_activation : {"sigmoid", "relu", "topk"}, default="sigmoid"
        Hidden unit (``docs/derivation.md#relu-topk``).  "sigmoid" codes lie
        in (0, 1) and any penalty applies.  "relu" codes are max(z, 0) and
        need ``penalty="l1"`` (the mean L1 norm of the codes, as in most
        interpretability work) or "squared"; KL is refused, being defined
        only for mean activations in (0, 1).  "topk" keeps the ``k`` largest
        pre-activations of each sample, after a ReLU, and zeroes the rest: k
        sets the sparsity, so ``sparsity_target``, ``sparsity_weight`` and
        ``penalty`` are not used.  See ``docs/frontier.md`` for how the three
        compare.
    k : int or None, default=None
        Units kept per sample by "topk", in [1, n_components]; not used by
        the other units.
    unit_norm_decoder : bool, default=False
        Hold every decoder column at unit norm, so that a penalty on the
        codes cannot be dodged by shrinking the encoder and growing the
        decoder.  Done for every solver as the change of variables
        ``W2 = V / ‖V‖`` (per column) with its exact gradient, which keeps
        L-BFGS's curvature pairs valid; SGD and Adam also rescale V to unit
        columns before each step, which leaves the objective unchanged
        (``docs/derivation.md#unit-norm-decoder``).
    tied_weights : bool, default=False
        Use the encoder's transpose as the decoder, W2 = W1ᵀ, as the k-sparse
        autoencoder of Makhzani and Frey does (``docs/derivation.md#tied-weights``).
        Every solver then minimises the objective over W1, b1 and b2, with the
        exact gradient ∂J/∂W1 + (∂J/∂W2)ᵀ; ``decoder_weights_`` is always
        ``components_.T``.  Weight decay counts W1 in both places, λ‖W1‖².
        Cannot be combined with ``unit_norm_decoder``.
    aux_k : int or None, default=None
        Add the auxiliary loss for dead units of Gao et al.
        (``docs/derivation.md#eq-15``): the error of reconstructing each
        sample from its code plus u, the ReLU of the ``aux_k`` largest
        pre-activations among the dead units its code leaves silent, weighted
        by ``aux_weight``.  Its gradient reaches the dead units' encoder
        weights, which the main term's does not.  In [1, n_components); needs
        ``solver="sgd"`` or ``"adam"``, ``hidden_activation="topk"``,
        ``output_activation="linear"`` and ``loss="squared"``.  ReLU units
        are refused: a dead ReLU unit has no positive pre-activation for u
        to use, so the term could not revive it.  Gao et al. use 512 in
        their large models; None: no auxiliary loss.
    aux_weight : float, default=1/32
        Weight α of the auxiliary loss, > 0 (Gao et al.'s value).
    dead_after : int or None, default=None
        A unit is dead once it has not fired (been non-zero on any sample of
        a minibatch) for this many training samples; None is one pass over
        the data given to ``fit`` or ``partial_fit``.  Used with ``aux_k``.
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
        best by ``tol`` relatively for ``n_iter_no_change`` epochs.  A run
        that ``max_iter`` ends instead warns (``ConvergenceWarning``) only if
        its loss fell by more than 0.1% relatively over its last 10
        iterations or epochs, scikit-learn's MLP default of 1e-4 per epoch:
        a run that has flattened out that far is converged for practical
        purposes, whatever ``tol`` asked.
    n_iter_no_change : int, default=10
        Epochs without improvement before SGD and Adam stop.
    random_state : int, RandomState instance or None, default=None
        Seed of the weight initialisation and of the minibatch order.
    verbose : int, default=0
        When positive, print a line to standard output after every L-BFGS
        iteration or minibatch epoch (``Iteration 12, loss = 0.386201, mean
        activation = 0.0108``); when 2 or more, or positive in a Jupyter
        notebook, show a tqdm progress bar too, if tqdm is installed.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating type of the computation and of the fitted weights.
    block_rows : int or None, default=None
        Rows per block of the objective's sums, which add up by a fixed tree:
        the same data, ``block_rows`` and ``random_state`` give the same model
        to the last bit on any number of threads, from a ``.npy`` file
        (:meth:`fit_file`) or on a Dask cluster (``docs/distributed.md``).
        None chooses from the data's shape (about four cache-sized tiles).

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
        ``"weight_decay"``, ``"sparsity"``, ``"auxiliary"`` (0 without
        ``aux_k``), ``"mean_activation"`` and ``"time"`` (seconds since fit
        began).
    n_samples_since_fired_ : ndarray of shape (n_components,)
        Training samples since each unit last fired, counted by SGD and Adam
        after every step (not by L-BFGS); units at ``dead_after`` or more
        are the dead units of the auxiliary loss.
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

    - Arrays of real numbers, or anything NumPy turns into one (object
      arrays of numbers, numbers written as strings), and SciPy sparse
      matrices (CSR; other formats are converted to it), which give the same
      model as their dense equal: the kernel densifies one block of rows at a
      time.  NaN and infinite values are refused with their count and the
      first position.
    - ``transform``, ``inverse_transform`` and ``score`` take any finite
      values.  Training with a sigmoid output reconstructs values in [0, 1]:
      with ``loss="cross_entropy"`` targets outside it are refused (the loss
      is unbounded below there); with the squared error any value outside
      it gives a ``UserWarning`` suggesting ``MinMaxScaler`` or
      ``output_activation="linear"``, and training goes on (the part outside
      is a floor under the error, nothing worse).  There is no "a little"
      outside that passes silently: a scaler fitted on other data is the
      usual cause, and one warning says so.
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

    A. Makhzani and B. Frey, "k-Sparse Autoencoders", arXiv:1312.5663, 2013.

    L. Gao et al., "Scaling and evaluating sparse autoencoders",
    arXiv:2406.04093, 2024.

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
        "n_components": [NumberInterval(Integral, 1, None, closed="left")],
        "sparsity_target": [NumberInterval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [NumberInterval(Real, 0, None, closed="left")],
        "weight_decay": [NumberInterval(Real, 0, None, closed="left")],
        "penalty": [StrOptions(set(PENALTIES))],
        "output_activation": [StrOptions(set(OUTPUTS))],
        "loss": [StrOptions(set(LOSSES))],
        "hidden_activation": [StrOptions(set(ACTIVATIONS))],
        "k": [NumberInterval(Integral, 1, None, closed="left"), None],
        "unit_norm_decoder": ["boolean"],
        "tied_weights": ["boolean"],
        "aux_k": [NumberInterval(Integral, 1, None, closed="left"), None],
        "aux_weight": [NumberInterval(Real, 0, None, closed="neither")],
        "dead_after": [NumberInterval(Integral, 1, None, closed="left"), None],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "max_iter": [NumberInterval(Integral, 1, None, closed="left")],
        "lbfgs_memory": [NumberInterval(Integral, 1, None, closed="left")],
        "batch_size": [
            NumberInterval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate": [
            NumberInterval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "momentum": [NumberInterval(Real, 0, 1, closed="left")],
        "rho_estimate": [StrOptions(set(RHO_ESTIMATES))],
        "rho_decay": [NumberInterval(Real, 0, 1, closed="left")],
        "tol": [NumberInterval(Real, 0, None, closed="left")],
        "n_iter_no_change": [NumberInterval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "dtype": [type, np.dtype, StrOptions({"float64", "float32"})],
        "block_rows": [NumberInterval(Integral, 1, None, closed="left"), None],
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
        hidden_activation="sigmoid",
        k=None,
        unit_norm_decoder=False,
        tied_weights=False,
        aux_k=None,
        aux_weight=1 / 32,
        dead_after=None,
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
        block_rows=None,
    ):
        self.n_components = n_components
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.output_activation = output_activation
        self.loss = loss
        self.hidden_activation = hidden_activation
        self.k = k
        self.unit_norm_decoder = unit_norm_decoder
        self.tied_weights = tied_weights
        self.aux_k = aux_k
        self.aux_weight = aux_weight
        self.dead_after = dead_after
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
        self.block_rows = block_rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _settings(self):
        """The objective's hyperparameters, checked once for a whole run."""
        activation, k = self.hidden_activation, self.k
        if activation == "relu" and self.penalty == "kl":
            raise ValueError(
                "hidden_activation='relu' needs penalty='l1' or 'squared', got "
                "penalty='kl': KL is defined for mean activations in (0, 1) and "
                "ReLU codes are unbounded"
            )
        if activation == "topk" and (k is None or k > self.n_components):
            raise ValueError(
                "hidden_activation='topk' needs k, the units kept per sample, in "
                f"[1, n_components={self.n_components}], got k={k!r}"
            )
        if self.tied_weights and self.unit_norm_decoder:
            raise ValueError(
                "tied_weights=True and unit_norm_decoder=True cannot be combined: "
                "a tied decoder is the encoder's transpose, so its columns cannot "
                "also be held at unit norm; choose one"
            )
        if self.aux_k is not None:
            self._check_auxiliary()
        if activation != "topk" and k is not None:
            # As scikit-learn's LogisticRegression does for an l1_ratio its
            # penalty ignores: a k given here was most likely meant to matter.
            warn_caller(
                f"k={k} is not used: it applies only to hidden_activation='topk', "
                f"got hidden_activation={activation!r}; leave k=None",
                UserWarning,
            )
        return make_settings(
            sparsity_target=self.sparsity_target,
            sparsity_weight=self.sparsity_weight,
            weight_decay=self.weight_decay,
            penalty=self.penalty,
            output=self.output_activation,
            loss=self.loss,
            activation=activation,
            k=k,
            aux_k=self.aux_k,
            aux_weight=self.aux_weight,
        )

    def _check_auxiliary(self):
        """What the auxiliary loss needs, in the estimator's names."""
        aux_k = self.aux_k
        if self.solver == "lbfgs":
            raise ValueError(
                f"aux_k={aux_k} needs solver='sgd' or 'adam', got solver='lbfgs': "
                "the dead units change between steps, and with them the "
                "objective, which L-BFGS needs fixed; use sgd or adam"
            )
        if self.hidden_activation != "topk":
            needs = _auxiliary_needs_topk("hidden_activation", self.hidden_activation)
            raise ValueError(f"aux_k={aux_k} {needs}")
        if self.output_activation != "linear" or self.loss != "squared":
            raise ValueError(
                f"aux_k={aux_k} needs output_activation='linear' and "
                f"loss='squared', got output_activation={self.output_activation!r} "
                f"and loss={self.loss!r}"
            )
        if aux_k >= self.n_components:
            raise ValueError(
                f"aux_k must be in [1, n_components={self.n_components}), got "
                f"aux_k={aux_k}"
            )

    @property
    def n_samples_since_fired_(self) -> np.ndarray:
        """Training samples since each unit last fired (SGD and Adam)."""
        since = getattr(getattr(self, "_training_state", None), "since_fired", None)
        if since is None:
            raise AttributeError(
                f"{type(self).__name__} has no n_samples_since_fired_: it is "
                "counted by minibatch training (solver='sgd' or 'adam'), and this "
                "model has had none"
            )
        return since.copy()

    def _base_evaluator(self):
        """The objective of the weights as they are: in memory or over a file."""
        block_rows = self.block_rows

        def evaluate(params, X, settings, **options):
            if isinstance(X, NpyChunks):  # fit_file: one pass over the file
                grad = options.get("compute_grad", True)
                return _evaluate_chunks(params, X, settings, grad, block_rows)
            return _evaluate(params, X, settings, block_rows=block_rows, **options)

        return evaluate

    def _evaluator(self):
        """``_base_evaluator``, at W2 = W1ᵀ or W2 = V / ‖V‖ when asked.

        Each is a change of variables with its exact gradient (eqs. (16) and
        (14)); the two are never combined (``_settings`` refuses it).
        """
        base = self._base_evaluator()
        if self.tied_weights:

            def evaluate_tied(params, X, settings, **options):
                evaluation = base(tied(params), X, settings, **options)
                if evaluation.grads is not None:
                    tied_gradient_(evaluation.grads)
                return evaluation

            return evaluate_tied
        if not self.unit_norm_decoder:
            return base

        def evaluate(params, X, settings, **options):
            unit, norms = unit_decoder(params)
            evaluation = base(unit, X, settings, **options)
            if evaluation.grads is not None:
                decoder_gradient_(evaluation.grads.W2, unit.W2, norms)
            return evaluation

        return evaluate

    def _store_unit(self, params: Params) -> None:
        """Store a solver's copy of the weights, tied or with unit columns if asked."""
        if self.tied_weights:
            params = tie_(params)
        self._store(normalize_decoder_(params) if self.unit_norm_decoder else params)

    def _working_dtype(self) -> np.dtype:
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        return dtype

    def _check_goes_on(self, method: str) -> None:
        """Refuse to train the fitted weights on under a changed shape or type.

        ``set_params(n_components=...)`` or ``set_params(dtype=...)`` after a
        fit changes what :meth:`fit` would build, not the weights ``method``
        continues from.
        """
        units, dtype = self.components_.shape[0], self.components_.dtype
        if self.n_components != units:
            raise ValueError(
                f"n_components={self.n_components} differs from the {units} hidden "
                f"units of the fitted model, which {method} trains on: set "
                f"n_components={units}, or call fit to start a model of "
                f"{self.n_components} units"
            )
        if self._working_dtype() != dtype:
            raise ValueError(
                f"dtype={np.dtype(self.dtype).name} differs from the fitted "
                f"model's {dtype.name}, which {method} trains on: set "
                f"dtype={dtype.name!r}, or call fit to start again in "
                f"{np.dtype(self.dtype).name}"
            )

    def _validate_X(self, X, *, reset: bool, training: bool = False):
        """``X`` as an array (or CSR matrix) of the working type, checked.

        ``training``: also check that the output layer can reconstruct it
        (:func:`~sparseae.models._validation.check_target_range`); encoding
        and decoding take any finite input.
        """
        if self.loss == "cross_entropy" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='cross_entropy' needs output_activation='sigmoid', got "
                f"output_activation={self.output_activation!r}"
            )
        check_in_memory(
            self,
            X,
            "use sparseae.distributed.DaskSparseAutoencoder to train where the "
            "data lie, or fit_file for a .npy file",
        )
        check_real(X)
        try:
            # Values too large for float32 become inf in the cast, which
            # check_finite reports with the remedy.
            with np.errstate(over="ignore"):
                X = validate_data(
                    self,
                    X,
                    dtype=self._working_dtype(),
                    reset=reset,
                    accept_sparse=SPARSE_FORMATS,
                    ensure_all_finite=False,
                )
        except (TypeError, ValueError) as error:
            # NumPy's and Python's words for an entry that is not a number
            # (scikit-learn passes them on without naming the input).
            if "convert" in str(error) or "argument must be" in str(error):
                raise type(error)(f"X must hold real numbers: {error}") from None
            raise
        check_finite(X)
        if training:
            check_target_range(X, output=self.output_activation, loss=self.loss)
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    @reports_progress
    def fit(
        self,
        X: ArrayLike | sp.sparray | sp.spmatrix,
        y: Any = None,
        *,
        callback: Callable[[SparseAutoencoder, Progress], bool | None] | None = None,
    ) -> SparseAutoencoder:
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
        X = self._validate_X(X, reset=True, training=True)
        settings = self._settings()
        rng = self._initialize(X)
        if self.solver == "lbfgs":
            self._training_state = None
            self._fit_lbfgs(X, settings, callback, data_fingerprint(X))
            return self
        self._training_state = MinibatchState(
            rng, self._make_optimizer(), fitting=True, fingerprint=data_fingerprint(X)
        )
        self._train_minibatch(X, settings, callback, fitting=True)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @reports_progress
    def fit_file(self, source, *, callback=None):
        """Learn the weights by L-BFGS from a ``.npy`` file, without loading it.

        Each evaluation reads the file once, chunk by chunk
        (:class:`sparseae.core.chunked.NpyChunks`), so memory holds one chunk
        and the model; the result is that of :meth:`fit` on the loaded array
        to the last bit.

        Parameters
        ----------
        source : str, path-like or NpyChunks
            A ``.npy`` file of a 2-D array in C order.
        callback : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self : SparseAutoencoder
            The fitted estimator.
        """
        if self.solver != "lbfgs":
            raise ValueError(
                f"fit_file needs solver='lbfgs' (minibatches need the rows in "
                f"random order), got solver={self.solver!r}"
            )
        X = self._open_file(source)
        # Only now, with the file accepted: a refused one leaves a fitted
        # model as it was.
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = X.shape[1]
        self._initialize(X)
        self._training_state = None
        self._fit_lbfgs(X, self._settings(), callback, _file_fingerprint(X))
        return self

    def _open_file(self, source) -> NpyChunks:
        """``source`` as chunks of the working type, its values checked once.

        The evaluations then read the file unchecked.
        """
        if not isinstance(source, NpyChunks):
            source = NpyChunks(source)
        X = NpyChunks(source.path, source.chunk_rows, dtype=self._working_dtype())
        low, high = np.inf, -np.inf
        for chunk in X.checked():
            low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
        if X.shape[0] < 1:
            raise ValueError(f"{X.path} holds no rows; fit needs at least one")
        check_target_range(
            np.array([[low, high]]),
            output=self.output_activation,
            loss=self.loss,
        )
        return X

    @available_if(_minibatch_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    @reports_progress
    def partial_fit(
        self,
        X: ArrayLike | sp.sparray | sp.spmatrix,
        y: Any = None,
        *,
        callback: Callable[[SparseAutoencoder, Progress], bool | None] | None = None,
    ) -> SparseAutoencoder:
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
        if not first:
            self._check_goes_on("partial_fit")
        X = self._validate_X(X, reset=first, training=True)
        settings = self._settings()
        rng = self._initialize(X) if first else self._generator()
        if not isinstance(getattr(self, "_training_state", None), MinibatchState):
            # New, or fitted by L-BFGS: the minibatch run starts from its weights.
            self._training_state = MinibatchState(rng, self._make_optimizer())
        # An epoch left unfinished by an earlier call belongs to other data.
        self._training_state.permutation = None
        self._training_state.fitting = False
        self._train_minibatch(X, settings, callback, fitting=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @reports_progress
    def resume_fit(
        self,
        X: ArrayLike | sp.sparray | sp.spmatrix,
        *,
        callback: Callable[[SparseAutoencoder, Progress], bool | None] | None = None,
    ) -> SparseAutoencoder:
        """Continue a :meth:`fit` that a callback (or Ctrl-C in the CLI) stopped.

        Ends with the parameters an uninterrupted ``fit`` with the same
        ``random_state`` would have reached, bit for bit.  A fit that ended at
        ``max_iter`` goes on to a larger ``max_iter`` (``set_params``) exactly
        as one run of that many iterations would have.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or str or path-like
            The same data as the interrupted fit; for a :meth:`fit_file` run,
            the same ``.npy`` file (its path, or its ``NpyChunks``).
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
                f"resume_fit needs a model saved with its training state (a "
                f"checkpoint, or a model fitted by this version), got "
                f"solver={self.solver!r} without one"
            )
        self._check_goes_on("resume_fit")
        kind = "lbfgs" if isinstance(state, LbfgsRun) else "sgd' or 'adam"
        if (self.solver == "lbfgs") != isinstance(state, LbfgsRun):
            raise ValueError(
                f"the training state is of solver='{kind}', got "
                f"solver={self.solver!r}; resume with the solver of the fit"
            )
        if (state.fingerprint or "").startswith("file:"):
            return self._resume_file(X, state, callback)
        X = self._validate_X(X, reset=False)
        extend = not state.fitting and self._can_extend(state)
        if not (state.fitting or extend):
            return self
        if (state.fingerprint or "").startswith("dask"):
            raise ValueError(
                "this training state is of a fit on Dask (a checkpoint of "
                "DaskSparseAutoencoder); continue it there, with "
                "sparseae.distributed.DaskSparseAutoencoder.from_local(model)"
                ".resume_fit(X) on the same dask array"
            )
        if state.fingerprint != data_fingerprint(X):
            raise ValueError(
                f"X of shape {X.shape} is not the data the interrupted fit was "
                "using; resume with the same samples in the same order"
            )
        if isinstance(state, LbfgsRun):
            self._fit_lbfgs(X, self._settings(), callback, state.fingerprint)
        else:
            state.fitting = True
            self._train_minibatch(X, self._settings(), callback, fitting=True)
        return self

    def _resume_file(self, source, state, callback) -> SparseAutoencoder:
        """:meth:`resume_fit` of a :meth:`fit_file` run, from the same file."""
        if not isinstance(source, NpyChunks | str | bytes | os.PathLike):
            raise ValueError(
                "this fit read its rows from a .npy file (fit_file); resume it "
                f"from the same file: resume_fit(path), got {type(source).__name__}"
            )
        X = self._open_file(source)
        if _file_fingerprint(X) != state.fingerprint:
            raise ValueError(
                f"{X.path} of shape {X.shape} is not the file the interrupted fit "
                f"read ({state.fingerprint.removeprefix('file:')}); resume from "
                "that file, unchanged"
            )
        if not (state.fitting or self._can_extend(state)):
            return self
        self._fit_lbfgs(X, self._settings(), callback, state.fingerprint)
        return self

    def _repr_mimebundle_(self, **kwargs):
        """What a notebook shows: for a fitted model, its summary and filters.

        Above scikit-learn's estimator diagram (when its ``display`` setting is
        ``"diagram"``, the default); an unfitted model shows the diagram alone.
        """
        output = super()._repr_mimebundle_(**kwargs)
        if hasattr(self, "components_"):
            # The one call from an estimator up into the report package, made
            # only when a notebook asks; sparseae.report imports no estimator.
            from ..report.build import model_html

            # A loaded model draws its filters in the shape its run saved.
            shape = getattr(self, "_image_shape", None)
            html = model_html(self, image_shape=shape)
            output["text/html"] = html + output.get("text/html", "")
        return output

    @property
    def _repr_html_(self):
        """HTML for front ends that do not read :meth:`_repr_mimebundle_`."""
        if not hasattr(self, "components_"):
            return super()._repr_html_
        return lambda: self._repr_mimebundle_()["text/html"]


def _file_fingerprint(X: NpyChunks) -> str:
    """What a :meth:`~SparseAutoencoder.fit_file` run records of its file.

    The file's path, shape and type: enough to refuse another file, though
    not the same file rewritten with other values of that shape.
    """
    return f"file:{X.path.resolve()}:{X.shape}:{X.dtype.str}"
