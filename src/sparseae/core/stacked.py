"""Stacked sparse autoencoders: greedy pretraining, a softmax on top, fine-tuning.

The kernel :func:`stack_loss_and_grad` is pure and back-propagates the softmax
objective through every layer; its derivation is section 2 of
``docs/stacked.md``, cited by equation number below.  Layer ``l`` (1-based)
maps ``a_{l-1}`` (``a_0 = X``) to ``a_l = sigmoid(a_{l-1} W_lᵀ + b_l)``; the last
pair ``W_{L+1}, b_{L+1}`` is the softmax layer.  Weights are stored as the
autoencoders store their encoders, ``(n_units_out, n_units_in)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .softmax import softmax_cross_entropy

__all__ = ["stack_forward", "stack_loss_and_grad"]


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
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Inputs.

    Returns
    -------
    activations : list of ndarray
        ``[X, a_1, .., a_L]`` (``X`` as given), ``a_l`` of shape
        (n_samples, n_units_l) (eq. F1).
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
    from scipy.special import expit  # 0.5 s to import: only when first used

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
        As in :func:`~sparseae.core.softmax.softmax_loss_and_grad`.

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
