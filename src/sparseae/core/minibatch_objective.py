"""The objective on one minibatch, with a choice of ρ̂ in the sparsity term.

The sparsity term of J is a function of ρ̂, a mean over *all* m samples
(``docs/derivation.md`` eq. 4), so a minibatch cannot compute it exactly.  Two
policies (SPEC §5, ``docs/minibatch.md``):

* **batch**: ρ̂ is the minibatch mean ρ̂_B.  Unbiased for ρ̂, but s(ρ̂_B) of
  eq. (7) is a nonlinear function of it, so the gradient is biased, and heavy
  tailed when ρ is small and batches are small.
* **running**: ρ̂_t = α ρ̂_{t−1} + (1 − α) ρ̂_B, an exponential average over
  recent batches, with α = ``rho_decay``.  Far less variance, at the price of a
  lag of about 1 / (1 − α) steps behind the current weights.

ρ̂_t stands in for the data-wide ρ̂ of the full-batch gradient: the sparsity part of
eq. (8) is β s(ρ̂_t), not (1 − α) β s(ρ̂_t), because the estimate replaces ρ̂ rather
than being differentiated through.  Symbols are those of :mod:`sparseae.core.objective`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .objective import Evaluation, LossTerms, check_hyperparameters, decode, encode
from .params import Params
from .penalties import get_penalty

__all__ = ["RHO_ESTIMATES", "evaluate_minibatch", "update_rho_hat"]

RHO_ESTIMATES = ("batch", "running")


def update_rho_hat(previous, batch, decay):
    """Running estimate ρ̂_t = α ρ̂_{t−1} + (1 − α) ρ̂_B of the mean activations.

    Parameters
    ----------
    previous : ndarray of shape (n_hidden,) or None
        ρ̂_{t−1}; ``None`` before the first batch, when the estimate starts at
        the batch mean.
    batch : ndarray of shape (n_hidden,)
        ρ̂_B, the mean activation of each hidden unit over the batch.
    decay : float
        α in [0, 1]: 0 is the batch estimate, 1 freezes ``previous``.

    Returns
    -------
    ndarray of shape (n_hidden,)
        A new array.

    Examples
    --------
    >>> import numpy as np
    >>> update_rho_hat(np.array([0.1]), np.array([0.3]), 0.9)
    array([0.12])
    >>> update_rho_hat(None, np.array([0.3]), 0.9)
    array([0.3])
    """
    if not 0 <= decay <= 1:
        raise ValueError(f"decay must be in [0, 1], got {decay!r}")
    if previous is None:
        return np.array(batch, copy=True)
    return decay * previous + (1 - decay) * batch


def evaluate_minibatch(
    params: Params,
    X: np.ndarray,
    *,
    previous_rho_hat: np.ndarray | None = None,
    rho_decay: float = 0.0,
    **hyperparameters,
) -> Evaluation:
    """Objective and gradient on a batch, with ρ̂ of the s term given by a policy.

    With ``previous_rho_hat=None`` or ``rho_decay=0`` this is the batch estimate
    and equals :func:`sparseae.core.objective.evaluate` on ``X``.  Otherwise ρ̂ is
    :func:`update_rho_hat` of the previous estimate and this batch's mean, and
    both the sparsity term and s of eq. (7) are evaluated there.

    Parameters
    ----------
    params : Params
        Current weights and biases, in the data's floating type.
    X : ndarray of shape (batch_size, n_features)
        One minibatch.
    previous_rho_hat : ndarray of shape (n_hidden,) or None, default=None
        ρ̂_{t−1}, the estimate after the previous batch.
    rho_decay : float, default=0.0
        α of the running estimate, in [0, 1].
    **hyperparameters
        ``sparsity_target``, ``sparsity_weight``, ``weight_decay`` and
        optionally ``penalty``, ``output``, ``loss``, as in
        :func:`sparseae.core.objective.evaluate`.

    Returns
    -------
    Evaluation
        ``mean_activation`` is the ρ̂ used, to pass as ``previous_rho_hat`` with
        the next batch.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(32, 8))
    >>> params = Params.initialize(8, 3, rng=rng)
    >>> hyper = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-4)
    >>> first = evaluate_minibatch(params, X[:16], **hyper)
    >>> second = evaluate_minibatch(params, X[16:], **hyper, rho_decay=0.9,
    ...                             previous_rho_hat=first.mean_activation)
    >>> second.grads.W1.shape
    (3, 8)
    """
    hyper = {"penalty": "kl", "output": "sigmoid", "loss": "squared"}
    hyper |= hyperparameters
    check_hyperparameters(**hyper)
    rho, beta, lam = (
        hyper[k] for k in ("sparsity_target", "sparsity_weight", "weight_decay")
    )
    pen, output = get_penalty(hyper["penalty"]), hyper["output"]
    W1, _, W2, _ = params
    m = X.shape[0]
    a2 = encode(params, X)  # (m, h), eq. (1)
    rho_hat = update_rho_hat(previous_rho_hat, a2.mean(axis=0), rho_decay)  # eq. (4)
    eps = np.finfo(X.dtype).eps
    rho_clamped = np.clip(rho_hat, eps, 1 - eps)

    if hyper["loss"] == "cross_entropy":
        z3 = decode(params, a2, "linear")  # (m, n), eq. (2) before g
        # softplus(z3) − x z3 is the cross-entropy without log(0).
        reconstruction = (np.logaddexp(0, z3).sum() - np.vdot(X, z3)) / m
        delta3 = expit(z3) - X  # eq. (6b)
    else:
        x_hat = decode(params, a2, output)  # eq. (2)
        error = x_hat - X
        reconstruction = 0.5 * np.vdot(error, error) / m
        delta3 = error * x_hat * (1 - x_hat) if output == "sigmoid" else error  # (6)

    terms = LossTerms(
        reconstruction=float(reconstruction),
        weight_decay=float(0.5 * lam * (np.vdot(W1, W1) + np.vdot(W2, W2))),
        sparsity=float(beta * pen.value(rho_clamped, rho).sum()),
    )
    s = (beta * pen.derivative(rho_clamped, rho)).astype(X.dtype)  # (h,), eq. (7)
    delta2 = (delta3 @ W2 + s) * (a2 * (1 - a2))  # (m, h), eq. (8)

    grads = Params.zeros(params.n_features, params.n_hidden, dtype=X.dtype)
    grads.W2[...] = delta3.T @ a2 / m + lam * W2  # eq. (9)
    grads.b2[...] = delta3.mean(axis=0)
    grads.W1[...] = delta2.T @ X / m + lam * W1  # eq. (10)
    grads.b1[...] = delta2.mean(axis=0)
    return Evaluation(terms, rho_hat, grads)
