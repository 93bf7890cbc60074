"""Stacked sparse autoencoders: greedy pretraining, a softmax on top, fine-tuning.

The kernel :func:`stack_loss_and_grad` is pure and back-propagates the softmax
objective through every layer; its derivation is section 2 of
``docs/stacked.md``, cited by equation number below.  Layer ``l`` (1-based)
maps ``a_{l-1}`` (``a_0 = X``) to ``a_l = sigmoid(a_{l-1} W_lᵀ + b_l)``; the last
pair ``W_{L+1}, b_{L+1}`` is the softmax layer.  Weights are stored as the
autoencoders store their encoders, ``(n_units_out, n_units_in)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._blocks import minimize_blocks
from .estimator import SparseAutoencoder
from .objective import OUTPUTS
from .softmax import (
    SoftmaxClassifier,
    SoftmaxOutputMixin,
    _float_dtype,
    softmax_cross_entropy,
)

__all__ = ["StackedAutoencoder", "stack_forward", "stack_loss_and_grad"]

logger = logging.getLogger(__name__)


def stack_forward(
    weights: Sequence[np.ndarray], intercepts: Sequence[np.ndarray], X: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Forward pass through the sigmoid layers and the softmax layer.

    Parameters
    ----------
    weights : sequence of ndarray
        ``W_1 .. W_{L+1}``, ``W_l`` of shape (n_units_l, n_units_{l-1}); the last
        one is the softmax layer's (n_classes, n_units_L).
    intercepts : sequence of ndarray
        ``b_1 .. b_{L+1}``, ``b_l`` of shape (n_units_l,).
    X : ndarray of shape (n_samples, n_features)
        Inputs.

    Returns
    -------
    activations : list of ndarray
        ``[X, a_1, .., a_L]``, ``a_l`` of shape (n_samples, n_units_l) (eq. F1).
    scores : ndarray of shape (n_samples, n_classes)
        Softmax scores ``a_L W_{L+1}ᵀ + b_{L+1}`` (eq. F2).

    Examples
    --------
    >>> activations, scores = stack_forward(
    ...     [np.zeros((3, 2)), np.ones((2, 3))], [np.zeros(3), np.zeros(2)],
    ...     np.ones((1, 2)))
    >>> activations[1], scores
    (array([[0.5, 0.5, 0.5]]), array([[1.5, 1.5]]))
    """
    activations = [X]
    for W, b in zip(weights[:-1], intercepts[:-1], strict=True):
        z = activations[-1] @ W.T  # (m, n_units_l)
        z += b
        activations.append(expit(z, out=z))
    return activations, activations[-1] @ weights[-1].T + intercepts[-1]


def stack_loss_and_grad(
    weights: Sequence[np.ndarray],
    intercepts: Sequence[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    weight_decay: float,
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Fine-tuning objective of the whole stack and its gradient.

    ``J = −(1/m) Σ_i log P_{i, y_i} + (λ/2) Σ_l ‖W_l‖²_F`` over all layers,
    softmax included; biases are not decayed (eq. F3).

    Parameters
    ----------
    weights, intercepts : sequence of ndarray
        As in :func:`stack_forward`.
    X, y, weight_decay : ndarray, ndarray, float
        As in :func:`~sparseae.softmax.softmax_loss_and_grad`.

    Returns
    -------
    loss : float
        J.
    grad_weights, grad_intercepts : list of ndarray
        ∂J/∂W_l and ∂J/∂b_l, shaped as ``weights`` and ``intercepts``.

    Examples
    --------
    With one layer and zero weights every class is equally likely:

    >>> X, y = np.ones((4, 2)), np.array([0, 1, 2, 0])
    >>> loss, gW, gb = stack_loss_and_grad(
    ...     [np.zeros((3, 2)), np.zeros((3, 3))], [np.zeros(3), np.zeros(3)],
    ...     X, y, weight_decay=0.0)
    >>> round(loss, 6), round(float(np.log(3)), 6)
    (1.098612, 1.098612)
    >>> gW[0].shape, gb[1].round(3)
    ((3, 2), array([-0.167,  0.083,  0.083]))
    """
    activations, scores = stack_forward(weights, intercepts, X)
    loss, delta = softmax_cross_entropy(scores, y)  # (m, k), eq. (F4)
    loss += 0.5 * weight_decay * sum(float(np.vdot(W, W)) for W in weights)
    grad_weights, grad_intercepts = [], []
    for W, a_in in zip(reversed(weights), reversed(activations), strict=True):
        grad_weights.append(delta.T @ a_in + weight_decay * W)  # eq. (F6)
        grad_intercepts.append(delta.sum(axis=0))
        if a_in is not X:
            # The input layer needs no delta; a sigmoid's f' is a (1 − a).
            delta = delta @ W  # eq. (F5)
            delta *= a_in * (1 - a_in)
    return loss, grad_weights[::-1], grad_intercepts[::-1]


class StackedAutoencoder(
    ClassNamePrefixFeaturesOutMixin, SoftmaxOutputMixin, TransformerMixin, BaseEstimator
):
    """Stacked sparse autoencoders with a softmax classifier on top.

    ``fit`` trains, greedily and without labels, one :class:`SparseAutoencoder`
    per entry of ``hidden_layer_sizes``, each on the hidden activations of the
    one before; then a :class:`~sparseae.softmax.SoftmaxClassifier` on the last
    activations; then, unless ``fine_tune_max_iter=0``, fine-tunes every layer
    together by back-propagation with L-BFGS (UFLDL, "Stacked Autoencoders").

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
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "softmax_weight_decay": [Interval(Real, 0, None, closed="left")],
        "fine_tune_weight_decay": [Interval(Real, 0, None, closed="left")],
        "output_activation": [StrOptions(set(OUTPUTS))],
        "pretrain_max_iter": [Interval(Integral, 1, None, closed="left")],
        "softmax_max_iter": [Interval(Integral, 1, None, closed="left")],
        "fine_tune_max_iter": [Interval(Integral, 0, None, closed="left")],
        "lbfgs_memory": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": [type, np.dtype, StrOptions({"float64", "float32"})],
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
    def fit(self, X, y):
        """Pretrain the autoencoders, train the softmax layer, fine-tune the stack.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, one sample per row; in [0, 1] unless
            ``output_activation="linear"``.
        y : array-like of shape (n_samples,)
            Labels, of any type :func:`numpy.unique` can sort.

        Returns
        -------
        self : StackedAutoencoder
            The fitted estimator.
        """
        sizes = self._check_layer_sizes()
        X, y = validate_data(self, X, y, dtype=_float_dtype(self.dtype))
        encoded = self._encode_targets(y)
        rng = check_random_state(self.random_state)
        self.fit_times_ = {}
        self.autoencoders_, features = [], X
        for depth, size in enumerate(sizes, start=1):
            logger.info(
                "pretraining layer %d: %d -> %d units, %d samples",
                depth,
                features.shape[1],
                size,
                features.shape[0],
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
            )
            features = autoencoder.fit_transform(features)
            self.autoencoders_.append(autoencoder)
            self.fit_times_[f"pretrain layer {depth}"] = time.perf_counter() - start

        logger.info("training the softmax layer on %d features", features.shape[1])
        start = time.perf_counter()
        softmax = SoftmaxClassifier(
            weight_decay=self.softmax_weight_decay,
            max_iter=self.softmax_max_iter,
            lbfgs_memory=self.lbfgs_memory,
            tol=self.tol,
            dtype=X.dtype,
        ).fit(features, encoded)
        self.fit_times_["softmax"] = time.perf_counter() - start
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
        logger.info("fine-tuning %d layers", len(self.weights_))
        start = time.perf_counter()
        n_layers = len(self.weights_)
        lam = self.fine_tune_weight_decay

        def loss_and_grad(blocks):
            loss, grad_weights, grad_intercepts = stack_loss_and_grad(
                blocks[:n_layers], blocks[n_layers:], X, encoded, weight_decay=lam
            )
            return loss, grad_weights + grad_intercepts

        blocks, result = minimize_blocks(
            loss_and_grad,
            self.weights_ + self.intercepts_,
            max_iter=self.fine_tune_max_iter,
            memory=self.lbfgs_memory,
            tol=self.tol,
            dtype=X.dtype,
            what="StackedAutoencoder fine-tuning",
        )
        self.weights_, self.intercepts_ = blocks[:n_layers], blocks[n_layers:]
        self.n_iter_ = result.n_iter
        self.fit_times_["fine-tune"] = time.perf_counter() - start

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=self.weights_[0].dtype, reset=False)

    def _scores(self, X):
        X = self._validated(X)
        return stack_forward(self.weights_, self.intercepts_, X)[1]

    @property
    def _n_features_out(self):
        return self.weights_[-2].shape[0]

    def transform(self, X):
        """Activations of the last hidden layer, the softmax layer's input.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, hidden_layer_sizes[-1])
            Values in (0, 1), computed with the fine-tuned weights.
        """
        X = self._validated(X)
        return stack_forward(self.weights_, self.intercepts_, X)[0][-1]
