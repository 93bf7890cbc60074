"""ZCA whitening, the preprocessing of the linear-decoder exercise."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import NumberInterval

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["ZCAWhitening"]


class ZCAWhitening(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Zero-phase component analysis (ZCA) whitening with regularisation ε.

    With the features' mean ``μ`` removed and the covariance
    ``Σ = (1/m) (X − μ)ᵀ (X − μ) = U diag(s) Uᵀ``, the whitening matrix is

        ``W_zca = U diag(1 / sqrt(s + ε)) Uᵀ``.

    Of all whitening transforms, ZCA's output stays closest to the input, so
    whitened image patches still look like patches (with edges emphasised).
    ``ε`` keeps the directions of tiny variance, mostly noise, from being
    blown up; with ``ε > 0`` the whitened covariance is ``U diag(s/(s+ε)) Uᵀ``,
    close to the identity only along directions of variance much above ``ε``.

    Parameters
    ----------
    epsilon : float, default=0.1
        Regularisation ε > 0 added to every eigenvalue (the linear-decoder
        exercise uses 0.1 for colour patches in [0, 1]).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Per-feature mean μ of the training data.
    components_ : ndarray of shape (n_features, n_features)
        Eigenvectors of the covariance, one per row (``Uᵀ``), by decreasing
        eigenvalue.
    explained_variance_ : ndarray of shape (n_features,)
        Eigenvalues ``s`` of the covariance, decreasing, negative rounding
        errors set to 0.
    whitening_ : ndarray of shape (n_features, n_features)
        ``W_zca``, symmetric: ``transform(X) = (X − μ) W_zca``.
    n_features_in_ : int
        Number of features seen during fit.

    References
    ----------
    A. Ng et al., "Whitening" and "Exercise: Learning color features with
    Sparse Autoencoders", UFLDL Tutorial, Stanford, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).multivariate_normal(
    ...     [0, 0], [[4.0, 1.9], [1.9, 1.0]], size=10000)
    >>> zca = ZCAWhitening(epsilon=1e-6).fit(X)
    >>> covariance = np.cov(zca.transform(X), rowvar=False, bias=True)
    >>> bool(np.allclose(covariance, np.eye(2), atol=1e-5))
    True
    >>> bool(np.allclose(zca.inverse_transform(zca.transform(X)), X))
    True
    """

    _parameter_constraints: dict = {
        "epsilon": [NumberInterval(Real, 0, None, closed="neither")],
    }

    def __init__(self, epsilon=0.1):
        self.epsilon = epsilon

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: Any = None) -> ZCAWhitening:
        """Estimate the mean and the whitening matrix from ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one sample per row.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : ZCAWhitening
            The fitted transformer.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        covariance = centred.T @ centred / X.shape[0]  # (n, n)
        variances, vectors = np.linalg.eigh(covariance)
        order = np.argsort(variances)[::-1]
        self.explained_variance_ = np.clip(variances[order], 0, None)
        self.components_ = vectors[:, order].T
        scale = 1 / np.sqrt(self.explained_variance_ + self.epsilon)
        self.whitening_ = (self.components_.T * scale) @ self.components_
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Whiten ``X``: ``(X − μ) W_zca``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to whiten.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (X - self.mean_) @ self.whitening_

    def inverse_transform(self, X: ArrayLike) -> np.ndarray:
        """Undo :meth:`transform`: ``X U diag(sqrt(s + ε)) Uᵀ + μ``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Whitened data.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        scale = np.sqrt(self.explained_variance_ + self.epsilon)
        return X @ ((self.components_.T * scale) @ self.components_) + self.mean_
