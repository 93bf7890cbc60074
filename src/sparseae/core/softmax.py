"""Softmax regression: the kernel and its hand-derived gradient.

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

import numpy as np

__all__ = ["softmax_cross_entropy", "softmax_loss_and_grad"]


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
    from scipy.special import log_softmax  # 0.5 s to import: only when used

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
    X : ndarray or sparse matrix of shape (n_samples, n_features)
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
