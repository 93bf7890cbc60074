"""Stacked sparse autoencoders: greedy pretraining, a softmax on top, fine-tuning.

The estimator; its kernel, :func:`sparseae.core.stacked.stack_loss_and_grad`,
back-propagates the softmax objective through every layer (section 2 of
``docs/stacked.md``).
"""

from __future__ import annotations

import re
import time
import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import config_context
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..core.objective import OUTPUTS
from ..core.stacked import stack_forward, stack_loss_and_grad
from ..io.model_file import save as save_model
from ..solvers.blocks import minimize_blocks
from ._feedback import warn_caller, warn_if_unconverged
from ._validation import SPARSE_FORMATS, NumberInterval
from .autoencoder import SparseAutoencoder
from .softmax import SoftmaxClassifier, SoftmaxOutputMixin, _float_dtype

# A pretrained layer whose every unit varies less than this across the samples
# has collapsed (:meth:`StackedAutoencoder._check_not_collapsed`).
COLLAPSED_SPREAD = 1e-3

if TYPE_CHECKING:
    from os import PathLike
    from pathlib import Path

    from numpy.typing import ArrayLike

__all__ = ["StackedAutoencoder"]


class _StageWarnings:
    """Re-issue a stage's warnings, a ``ConvergenceWarning`` naming ``parameter``.

    Each stage is an estimator or solver whose iteration budget is its own
    ``max_iter``; the user of the stack sets it as ``parameter``
    (``pretrain_max_iter``, ...), which the advice to increase it must name.
    Every warning is re-issued when the stage ends, at the caller's line and
    through the caller's filters.  (A class, not ``contextlib.contextmanager``,
    whose frames would stand between :func:`warn_caller` and the caller.)
    """

    def __init__(self, parameter: str, stage: str = ""):
        self.parameter, self.stage = parameter, stage

    def __enter__(self) -> None:
        self.recording = warnings.catch_warnings(record=True)
        self.caught = self.recording.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc_info) -> None:
        self.recording.__exit__(*exc_info)
        for warning in self.caught:
            message = str(warning.message)
            if issubclass(warning.category, ConvergenceWarning):
                message = (
                    "StackedAutoencoder "
                    + self.stage
                    + re.sub(r"\bmax_iter\b", self.parameter, message).removeprefix(
                        "StackedAutoencoder "
                    )
                )
            warn_caller(message, warning.category)


class StackedAutoencoder(
    ClassNamePrefixFeaturesOutMixin, SoftmaxOutputMixin, TransformerMixin, BaseEstimator
):
    """Stacked sparse autoencoders with a softmax classifier on top.

    ``fit`` trains, greedily and without labels, one :class:`SparseAutoencoder`
    per entry of ``hidden_layer_sizes``, each on the hidden activations of the
    one before; then a :class:`~sparseae.models.softmax.SoftmaxClassifier` on the last
    activations; then, unless ``fine_tune_max_iter=0``, fine-tunes every layer
    together by back-propagation with L-BFGS (UFLDL, "Stacked Autoencoders").

    Every stage is trained with full-batch L-BFGS: there is no minibatch
    solver and no ``partial_fit``.  For data too large for that, train each
    :class:`SparseAutoencoder` with ``solver="adam"`` and stack them by hand.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(200, 200)
        Hidden units of each autoencoder, from the input upwards.
    sparsity_target : float, default=0.1
        ρ of every autoencoder.
    sparsity_weight : float, default=3.0
        β of every autoencoder.
    weight_decay : float, default=3e-3
        λ of every autoencoder.
    softmax_weight_decay : float, default=1e-4
        λ of the softmax layer during its own training.
    fine_tune_weight_decay : float, default=1e-4
        λ on every weight matrix during fine-tuning.
    output_activation : {"sigmoid", "linear"}, default="sigmoid"
        Decoder output of the first autoencoder, the one that reconstructs ``X``;
        "sigmoid" needs ``X`` in [0, 1]. Deeper autoencoders reconstruct sigmoid
        activations and always use "sigmoid".
    pretrain_max_iter : int, default=400
        L-BFGS iterations for each autoencoder.
    softmax_max_iter : int, default=100
        L-BFGS iterations for the softmax layer.
    fine_tune_max_iter : int, default=400
        L-BFGS iterations of fine-tuning; 0 skips it.
    lbfgs_memory : int, default=10
        Correction pairs every L-BFGS run keeps.
    tol : float, default=1e-9
        Stopping tolerance of every L-BFGS run.
    random_state : int, RandomState instance or None, default=None
        Seeds the autoencoders' initialisations.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating type of the computation and of the fitted weights.
    verbose : int, default=0
        When positive, print each stage as it starts and ends to standard
        output, and each autoencoder's iterations as
        :class:`SparseAutoencoder` does with the same ``verbose``.

    Attributes
    ----------
    autoencoders_ : list of SparseAutoencoder
        The pretrained autoencoders, unchanged by fine-tuning.
    weights_ : list of ndarray
        Fine-tuned ``W_1 .. W_{L+1}``, ``W_l`` of shape
        (n_units_l, n_units_{l-1}); the last is the softmax layer's.
    intercepts_ : list of ndarray
        Fine-tuned ``b_1 .. b_{L+1}``.
    pretrained_weights_, pretrained_intercepts_ : list of ndarray
        The same before fine-tuning: the autoencoders' encoders and the softmax
        layer trained on their features.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_iter_ : int
        Fine-tuning iterations run.
    fit_times_ : dict of str to float
        Seconds spent in each stage of ``fit``.
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    sparseae.load : Read a model written by :meth:`save`.

    References
    ----------
    A. Ng et al., "Stacked Autoencoders" and "Fine-tuning Stacked AEs", UFLDL
    Tutorial, Stanford, 2011.

    Examples
    --------
    >>> from sparseae.datasets import load_digits_scaled
    >>> X, y = load_digits_scaled()
    >>> model = StackedAutoencoder((32, 16), weight_decay=1e-4, tol=1e-3,
    ...                            random_state=0)
    >>> model.fit(X[:600], y[:600]).score(X[1000:], y[1000:]) > 0.9
    True
    >>> model.predict_proba(X[:2]).shape, model.transform(X[:2]).shape
    ((2, 10), (2, 16))
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [tuple, list],
        "sparsity_target": [NumberInterval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [NumberInterval(Real, 0, None, closed="left")],
        "weight_decay": [NumberInterval(Real, 0, None, closed="left")],
        "softmax_weight_decay": [NumberInterval(Real, 0, None, closed="left")],
        "fine_tune_weight_decay": [NumberInterval(Real, 0, None, closed="left")],
        "output_activation": [StrOptions(set(OUTPUTS))],
        "pretrain_max_iter": [NumberInterval(Integral, 1, None, closed="left")],
        "softmax_max_iter": [NumberInterval(Integral, 1, None, closed="left")],
        "fine_tune_max_iter": [NumberInterval(Integral, 0, None, closed="left")],
        "lbfgs_memory": [NumberInterval(Integral, 1, None, closed="left")],
        "tol": [NumberInterval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": [type, np.dtype, StrOptions({"float64", "float32"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(200, 200),
        *,
        sparsity_target=0.1,
        sparsity_weight=3.0,
        weight_decay=3e-3,
        softmax_weight_decay=1e-4,
        fine_tune_weight_decay=1e-4,
        output_activation="sigmoid",
        pretrain_max_iter=400,
        softmax_max_iter=100,
        fine_tune_max_iter=400,
        lbfgs_memory=10,
        tol=1e-9,
        random_state=None,
        dtype=np.float64,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.softmax_weight_decay = softmax_weight_decay
        self.fine_tune_weight_decay = fine_tune_weight_decay
        self.output_activation = output_activation
        self.pretrain_max_iter = pretrain_max_iter
        self.softmax_max_iter = softmax_max_iter
        self.fine_tune_max_iter = fine_tune_max_iter
        self.lbfgs_memory = lbfgs_memory
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    def _check_layer_sizes(self) -> list[int]:
        sizes = list(self.hidden_layer_sizes)
        if not sizes or any(
            isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a non-empty tuple of positive ints, got "
                f"{self.hidden_layer_sizes!r}"
            )
        return [int(s) for s in sizes]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> StackedAutoencoder:
        """Pretrain the autoencoders, train the softmax layer, fine-tune the stack.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs, one sample per row; in [0, 1] unless
            ``output_activation="linear"``.  A sparse matrix is used as CSR.
        y : array-like of shape (n_samples,)
            Labels, of any type :func:`numpy.unique` can sort.

        Returns
        -------
        self : StackedAutoencoder
            The fitted estimator.
        """
        sizes = self._check_layer_sizes()
        X, y = validate_data(
            self, X, y, accept_sparse=SPARSE_FORMATS, dtype=_float_dtype(self.dtype)
        )
        encoded = self._encode_targets(y)
        rng = check_random_state(self.random_state)
        self.fit_times_ = {}
        self.autoencoders_, features = [], X
        for depth, size in enumerate(sizes, start=1):
            self._say(
                f"Pretraining layer {depth}: {features.shape[1]} -> {size} units, "
                f"{features.shape[0]} samples"
            )
            start = time.perf_counter()
            autoencoder = SparseAutoencoder(
                size,
                sparsity_target=self.sparsity_target,
                sparsity_weight=self.sparsity_weight,
                weight_decay=self.weight_decay,
                output_activation=self.output_activation if depth == 1 else "sigmoid",
                max_iter=self.pretrain_max_iter,
                lbfgs_memory=self.lbfgs_memory,
                tol=self.tol,
                random_state=rng.randint(np.iinfo(np.int32).max),
                dtype=X.dtype,
                verbose=self.verbose,
            )
            # Arrays between the stages, whatever set_output the user chose:
            # a DataFrame would give the next layer feature names to expect.
            with (
                config_context(transform_output="default"),
                _StageWarnings("pretrain_max_iter", f"pretraining layer {depth}: "),
            ):
                features = autoencoder.fit_transform(features)
            self._check_not_collapsed(depth, features)
            self.autoencoders_.append(autoencoder)
            self.fit_times_[f"pretrain layer {depth}"] = time.perf_counter() - start

        self._say(f"Training the softmax layer on {features.shape[1]} features")
        start = time.perf_counter()
        with _StageWarnings("softmax_max_iter", "softmax layer: "):
            softmax = SoftmaxClassifier(
                weight_decay=self.softmax_weight_decay,
                max_iter=self.softmax_max_iter,
                lbfgs_memory=self.lbfgs_memory,
                tol=self.tol,
                dtype=X.dtype,
            ).fit(features, encoded)
        self.fit_times_["softmax"] = time.perf_counter() - start
        self._say(f"Softmax layer: {softmax.n_iter_} iterations")
        self.pretrained_weights_ = [a.components_ for a in self.autoencoders_]
        self.pretrained_weights_.append(softmax.coef_)
        self.pretrained_intercepts_ = [a.intercept_hidden_ for a in self.autoencoders_]
        self.pretrained_intercepts_.append(softmax.intercept_)
        self.weights_ = list(self.pretrained_weights_)
        self.intercepts_ = list(self.pretrained_intercepts_)
        self.n_iter_ = 0
        if self.fine_tune_max_iter > 0:
            self._fine_tune(X, encoded)
        return self

    def _fine_tune(self, X: np.ndarray, encoded: np.ndarray) -> None:
        self._say(f"Fine-tuning {len(self.weights_)} layers")
        start = time.perf_counter()
        n_layers = len(self.weights_)
        lam = self.fine_tune_weight_decay

        def loss_and_grad(blocks):
            loss, grad_weights, grad_intercepts = stack_loss_and_grad(
                blocks[:n_layers], blocks[n_layers:], X, encoded, weight_decay=lam
            )
            return loss, grad_weights + grad_intercepts

        with _StageWarnings("fine_tune_max_iter"):
            blocks, result = minimize_blocks(
                loss_and_grad,
                self.weights_ + self.intercepts_,
                max_iter=self.fine_tune_max_iter,
                memory=self.lbfgs_memory,
                tol=self.tol,
                dtype=X.dtype,
            )
            warn_if_unconverged(
                "StackedAutoencoder fine-tuning", self.fine_tune_max_iter, result
            )
        self.weights_, self.intercepts_ = blocks[:n_layers], blocks[n_layers:]
        self.n_iter_ = result.n_iter
        self.fit_times_["fine-tune"] = time.perf_counter() - start
        self._say(f"Fine-tuning: {result.n_iter} iterations, loss = {result.loss:.6g}")

    def _say(self, line: str) -> None:
        if self.verbose:
            print(line, flush=True)

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            accept_sparse=SPARSE_FORMATS,
            dtype=self.weights_[0].dtype,
            reset=False,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _scores(self, X):
        X = self._validated(X)
        return stack_forward(self.weights_, self.intercepts_, X)[1]

    @property
    def _n_features_out(self):
        return self.weights_[-2].shape[0]

    def _check_not_collapsed(self, depth: int, codes: np.ndarray) -> None:
        """Warn when a pretrained layer's codes hardly vary across the samples.

        Weight decay and the sparsity term together can win over the
        reconstruction: every unit then sits at one value for every sample,
        the layers above see a constant, and the softmax trained on it
        guesses (the digits with layers 64, 32 and the default weight decay:
        spread 6e-5, accuracy before fine-tuning 0.10).
        """
        spread = float(np.ptp(codes, axis=0).max()) if codes.size else 0.0
        if spread < COLLAPSED_SPREAD:
            warn_caller(
                f"pretraining layer {depth} collapsed: its units' activations vary "
                f"by at most {spread:.2g} across the samples, so it passes almost "
                "nothing on to the layers above and the classifier before "
                f"fine-tuning guesses; lower weight_decay (got {self.weight_decay}) "
                f"or sparsity_weight (got {self.sparsity_weight})",
                ConvergenceWarning,
            )

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Activations of the last hidden layer, the softmax layer's input.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, hidden_layer_sizes[-1])
            Values in (0, 1), computed with the fine-tuned weights.
        """
        X = self._validated(X)
        return stack_forward(self.weights_, self.intercepts_, X)[0][-1]

    def save(
        self, path: str | PathLike[str], *, extra: dict[str, Any] | None = None
    ) -> Path:
        """Write the model to ``path``; :func:`sparseae.load` reads it back.

        Parameters
        ----------
        path : str or path-like
            Destination, written atomically (see :func:`sparseae.save`).
        extra : dict, optional
            JSON-serialisable notes stored alongside.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return save_model(self, path, extra=extra)

    def _repr_mimebundle_(self, **kwargs):
        """What a notebook shows: for a fitted model, its layers and filters.

        Above scikit-learn's estimator diagram (when its ``display`` setting is
        ``"diagram"``, the default); an unfitted model shows the diagram alone.
        """
        output = super()._repr_mimebundle_(**kwargs)
        if hasattr(self, "weights_"):
            # As SparseAutoencoder's: the report package imports no estimator.
            from ..report.stacked import stacked_model_html

            output["text/html"] = stacked_model_html(self) + output.get("text/html", "")
        return output
