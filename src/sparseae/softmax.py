"""Softmax regression: the kernel, its hand-derived gradient and a classifier.

The kernel is pure (arrays in, arrays out); its derivation is section 1 of
``docs/stacked.md``, cited by equation number below.  Symbols:

===========  ======================  ==========================================
kernel       public                  meaning
===========  ======================  ==========================================
``X``        ``X``                   inputs, (m, n), rows are samples
``y``        --                      labels encoded as 0 .. k-1, (m,)
``W, b``     ``coef_, intercept_``   weights (k, n) and biases (k,)
``Z``        --                      scores ``X Wᵀ + b``, (m, k)
``lam``      ``weight_decay``        weight decay λ on ``W`` (not on ``b``)
===========  ======================  ==========================================
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._blocks import minimize_blocks

__all__ = ["SoftmaxClassifier", "softmax_cross_entropy", "softmax_loss_and_grad"]


def softmax_cross_entropy(
    scores: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of softmax scores and its derivative.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)
        Unnormalised log-probabilities ``Z``.
    y : ndarray of shape (n_samples,)
        Labels encoded as integers 0 .. n_classes - 1.

    Returns
    -------
    loss : float
        ``-(1/m) Σ_i log P_{i, y_i}`` with ``P = softmax(Z)`` (eqs. S1, S2).
    delta : ndarray of shape (n_samples, n_classes)
        ``∂loss/∂Z = (P − Y) / m``, ``Y`` the one-hot labels (eq. S3).

    Examples
    --------
    Two equally likely classes cost ``log 2`` each:

    >>> loss, delta = softmax_cross_entropy(np.zeros((2, 2)), np.array([0, 1]))
    >>> round(loss, 6), delta
    (0.693147, array([[-0.25,  0.25],
           [ 0.25, -0.25]]))
    """
    m = scores.shape[0]
    rows = np.arange(m)
    # log-sum-exp with the row maximum taken out: no overflow for large scores.
    log_p = log_softmax(scores, axis=1)  # (m, k)
    loss = -float(log_p[rows, y].sum()) / m
    delta = np.exp(log_p, out=log_p)
    delta[rows, y] -= 1
    delta /= m
    return loss, delta


def softmax_loss_and_grad(
    W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, *, weight_decay: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """Softmax regression objective and its gradient.

    ``J = −(1/m) Σ_i log softmax(W x_i + b)_{y_i} + (λ/2) ‖W‖²_F`` (eq. S2).

    Parameters
    ----------
    W : ndarray of shape (n_classes, n_features)
        Weights, one row per class.
    b : ndarray of shape (n_classes,)
        Biases, not decayed.
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Labels encoded as integers 0 .. n_classes - 1.
    weight_decay : float
        λ >= 0.

    Returns
    -------
    loss : float
        J.
    grad_W : ndarray of shape (n_classes, n_features)
        ``(1/m) (P − Y)ᵀ X + λ W`` (eq. S4).
    grad_b : ndarray of shape (n_classes,)
        ``(1/m) Σ_i (P − Y)_i`` (eq. S4).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> loss, gW, gb = softmax_loss_and_grad(np.zeros((2, 2)), np.zeros(2), X,
    ...                                      np.array([0, 1]), weight_decay=0.1)
    >>> round(loss, 6), gW, gb
    (0.693147, array([[-0.25,  0.25],
           [ 0.25, -0.25]]), array([0., 0.]))
    """
    loss, delta = softmax_cross_entropy(X @ W.T + b, y)  # eq. (S3)
    loss += 0.5 * weight_decay * float(np.vdot(W, W))
    return loss, delta.T @ X + weight_decay * W, delta.sum(axis=0)


class SoftmaxOutputMixin(ClassifierMixin):
    """Label handling and predictions shared by classifiers with a softmax output.

    A subclass defines ``_scores(X)`` (validated, unnormalised log-probabilities of
    shape (n_samples, n_classes)) and calls ``_encode_targets`` in ``fit``.
    """

    def _encode_targets(self, y) -> np.ndarray:
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; got 1 "
                f"class ({self.classes_.tolist()[0]!r})"
            )
        return encoded

    def predict_log_proba(self, X):
        """Log-probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return log_softmax(self._scores(X), axis=1)

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]


class SoftmaxClassifier(SoftmaxOutputMixin, BaseEstimator):
    """Softmax (multinomial logistic) regression trained with L-BFGS.

    Minimises the mean negative log-likelihood plus ``(λ/2) ‖W‖²``; biases are
    not decayed. The problem is convex, so training starts from zero weights and
    needs no random state.

    Parameters
    ----------
    weight_decay : float, default=1e-4
        λ, the weight of ``(λ/2) ‖coef_‖²``.
    max_iter : int, default=400
        Maximum number of L-BFGS iterations.
    lbfgs_memory : int, default=10
        Number of correction pairs L-BFGS keeps.
    tol : float, default=1e-9
        Stopping tolerance on the relative decrease of the loss.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating type of the computation and of the fitted weights.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features_in_)
        Weights W, one row per class.
    intercept_ : ndarray of shape (n_classes,)
        Biases b.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_iter_ : int
        L-BFGS iterations run.
    n_features_in_ : int
        Number of features seen during fit.

    References
    ----------
    A. Ng et al., "Softmax Regression", UFLDL Tutorial, Stanford, 2011.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SoftmaxClassifier(weight_decay=1e-3).fit(X, y)
    >>> model.predict(X[[0, 60, 120]])
    array([0, 1, 2])
    >>> model.predict_proba(X[:1]).round(2)
    array([[1., 0., 0.]])
    >>> round(model.score(X, y), 2)
    0.99
    """

    _parameter_constraints: dict = {
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "lbfgs_memory": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "dtype": [type, np.dtype, StrOptions({"float64", "float32"})],
    }

    def __init__(
        self,
        *,
        weight_decay=1e-4,
        max_iter=400,
        lbfgs_memory=10,
        tol=1e-9,
        dtype=np.float64,
    ):
        self.weight_decay = weight_decay
        self.max_iter = max_iter
        self.lbfgs_memory = lbfgs_memory
        self.tol = tol
        self.dtype = dtype

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the weights to labelled data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, one sample per row.
        y : array-like of shape (n_samples,)
            Labels, of any type :func:`numpy.unique` can sort.

        Returns
        -------
        self : SoftmaxClassifier
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=_float_dtype(self.dtype))
        encoded = self._encode_targets(y)
        k, n = len(self.classes_), X.shape[1]
        lam = self.weight_decay

        def loss_and_grad(blocks):
            loss, grad_W, grad_b = softmax_loss_and_grad(
                *blocks, X, encoded, weight_decay=lam
            )
            return loss, [grad_W, grad_b]

        (self.coef_, self.intercept_), result = minimize_blocks(
            loss_and_grad,
            [np.zeros((k, n)), np.zeros(k)],
            max_iter=self.max_iter,
            memory=self.lbfgs_memory,
            tol=self.tol,
            dtype=X.dtype,
            what="SoftmaxClassifier",
        )
        self.n_iter_ = result.n_iter
        return self

    def _scores(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self.coef_.dtype, reset=False)
        return X @ self.coef_.T + self.intercept_


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dtype
