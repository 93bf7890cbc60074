"""Softmax regression as a scikit-learn classifier.

The kernel and its derivation's symbols are in :mod:`sparseae.core.softmax`
(``docs/stacked.md`` section 1); ``coef_`` and ``intercept_`` are its ``W`` and
``b``, ``weight_decay`` its λ.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..core.softmax import softmax_loss_and_grad
from ..solvers.blocks import minimize_blocks
from ._feedback import warn_if_unconverged
from ._validation import SPARSE_FORMATS, NumberInterval

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["SoftmaxClassifier", "SoftmaxOutputMixin"]


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

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Log-probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return log_softmax(self._scores(X), axis=1)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        "weight_decay": [NumberInterval(Real, 0, None, closed="left")],
        "max_iter": [NumberInterval(Integral, 1, None, closed="left")],
        "lbfgs_memory": [NumberInterval(Integral, 1, None, closed="left")],
        "tol": [NumberInterval(Real, 0, None, closed="left")],
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
    def fit(self, X: ArrayLike, y: ArrayLike) -> SoftmaxClassifier:
        """Fit the weights to labelled data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs, one sample per row; a sparse matrix is used as CSR.
        y : array-like of shape (n_samples,)
            Labels, of any type :func:`numpy.unique` can sort.

        Returns
        -------
        self : SoftmaxClassifier
            The fitted estimator.
        """
        X, y = validate_data(
            self, X, y, accept_sparse=SPARSE_FORMATS, dtype=_float_dtype(self.dtype)
        )
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
        )
        warn_if_unconverged("SoftmaxClassifier", self.max_iter, result)
        self.n_iter_ = result.n_iter
        return self

    def _scores(self, X):
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=SPARSE_FORMATS, dtype=self.coef_.dtype, reset=False
        )
        return X @ self.coef_.T + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dtype
