"""ρ̂ and the sparsity slope s, with a choice of ρ̂ for minibatches.

The sparsity term of J is a function of ρ̂, a mean over *all* m samples
(``docs/derivation.md`` eq. 4), so a minibatch cannot compute it exactly.  Two
policies (``docs/minibatch.md``):

* **batch**: ρ̂ is the minibatch mean ρ̂_B.  Unbiased for ρ̂, but s(ρ̂_B) of
  eq. (7) is a nonlinear function of it, so the gradient is biased, and heavy
  tailed when ρ is small and batches are small.
* **running**: ρ̂_t = α ρ̂_{t−1} + (1 − α) ρ̂_B, an exponential average over
  recent batches, with α = ``rho_decay``.  Far less variance, at the price of a
  lag of about 1 / (1 − α) steps behind the current weights.

ρ̂_t stands in for the data-wide ρ̂ of the full-batch gradient: the sparsity term
and the β s of eq. (8) are evaluated at ρ̂_t, not (1 − α) β s(ρ̂_t), because the
estimate replaces ρ̂ rather than being differentiated through.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RHO_ESTIMATES", "RHO_FLOOR", "sparsity_slope", "update_rho_hat"]

RHO_ESTIMATES = ("batch", "running")
# The smallest ρ̂ of a sigmoid unit that the KL term sees (docs/derivation.md,
# section 7).  A unit driven off keeps a ρ̂ of about e^z (sigmoid_ is exact
# there), and the pull of eq. (7), −βρ/ρ̂ times a sum of that size, stays about
# −βρ however small both get; clamping ρ̂ at ε instead cut it off below ε.  1e-200 keeps
# β ρ / ρ̂ finite in float64 for any β < 1e100.
RHO_FLOOR = 1e-200


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


def sparsity_slope(a2_sum, m, settings, dtype, previous_rho_hat=None, rho_decay=0.0):
    """ρ̂, its clamped copy and β s of eqs. (4) and (7), from Σ a2 over m rows.

    Parameters
    ----------
    a2_sum : ndarray of shape (n_hidden,)
        Σ_i a2_i, in float64.
    m : int
        Rows summed.
    settings : Settings
        Hyperparameters.
    dtype : dtype
        Floating type of the computation.
    previous_rho_hat : ndarray of shape (n_hidden,) or None, default=None
        ρ̂_{t−1} of the running estimate; None for this batch's own mean.
    rho_decay : float, default=0.0
        α of the running estimate; 0 is this batch's own mean.

    Returns
    -------
    rho_hat : ndarray of shape (n_hidden,)
        The ρ̂ used, in ``dtype``.
    rho_clamped : ndarray of shape (n_hidden,)
        For sigmoid units ρ̂ clamped to [:data:`RHO_FLOOR`, 1 − ε] (ε the
        machine epsilon of ``dtype``), in float64.
    s : ndarray of shape (n_hidden,)
        β s, in float64.
    """
    rho_hat = a2_sum / m  # eq. (4)
    if previous_rho_hat is not None and rho_decay != 0:
        rho_hat = update_rho_hat(previous_rho_hat, rho_hat, rho_decay)
    # Clamped so that the penalty and its derivative stay finite at a saturated
    # unit (docs/derivation.md, section 7).
    eps = np.finfo(dtype).eps
    if settings.activation == "sigmoid":
        rho_clamped = np.clip(rho_hat, RHO_FLOOR, 1 - eps)
    else:
        # ReLU codes have ρ̂ in [0, ∞): the L1 and squared penalties allowed
        # with them are finite there, and a clamp would change their value.
        rho_clamped = np.asarray(rho_hat, dtype=np.float64)
    s = settings.beta * settings.penalty.derivative(rho_clamped, settings.rho)  # (7)
    return rho_hat.astype(dtype), rho_clamped, s
