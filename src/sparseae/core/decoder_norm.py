"""Decoder columns of unit norm, as a reparametrisation with its exact gradient.

With an L1 penalty on the codes, the objective can be lowered without making
the codes any sparser: shrink the encoder and grow the decoder by the same
factor.  Holding every decoder column w_j at unit norm removes that way out.
Projecting after each step would break L-BFGS, whose curvature pairs assume
the function it sees is the function it steps on, so the constraint is a
change of variables instead (``docs/derivation.md``, `§10
<derivation.md#unit-norm-decoder>`_):

    w_j = v_j / ‖v_j‖,   ∂J/∂v_j = (g_j − w_j (w_jᵀ g_j)) / ‖v_j‖,

g_j = ∂J/∂w_j.  The gradient is orthogonal to v_j, and J does not change when
v_j is rescaled, so minibatch solvers may also renormalise v in place between
steps (:func:`normalize_decoder_`) without changing what they minimise.
"""

from __future__ import annotations

import numpy as np

from .params import Params

__all__ = ["decoder_gradient_", "normalize_decoder_", "unit_decoder"]


def _column_norms(W2: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->j", W2, W2))  # (h,)
    # A column of zeros has no direction; keep it finite and let it learn one.
    return np.maximum(norms, np.finfo(W2.dtype).tiny)


def unit_decoder(params: Params) -> tuple[Params, np.ndarray]:
    """``params`` with each decoder column divided by its norm, and the norms.

    Parameters
    ----------
    params : Params
        Weights, ``W2`` holding the free columns v_j.

    Returns
    -------
    unit : Params
        The same ``W1``, ``b1``, ``b2`` (not copied) and a new ``W2`` of unit
        columns.
    norms : ndarray of shape (n_hidden,)
        ‖v_j‖.

    Examples
    --------
    >>> import numpy as np
    >>> p = Params.initialize(3, 2, rng=np.random.default_rng(0))
    >>> unit, norms = unit_decoder(p)
    >>> np.linalg.norm(unit.W2, axis=0).round(12).tolist()
    [1.0, 1.0]
    """
    norms = _column_norms(params.W2)
    W2 = params.W2 / norms
    return Params(params.W1, params.b1, W2, params.b2), norms


def decoder_gradient_(
    grad_W2: np.ndarray, W2: np.ndarray, norms: np.ndarray
) -> np.ndarray:
    """Turn ∂J/∂W2 at unit columns ``W2`` into ∂J/∂V, in place.

    Parameters
    ----------
    grad_W2 : ndarray of shape (n_features, n_hidden)
        g_j = ∂J/∂w_j, overwritten with ∂J/∂v_j.
    W2 : ndarray of shape (n_features, n_hidden)
        The unit columns w_j.
    norms : ndarray of shape (n_hidden,)
        ‖v_j‖.

    Returns
    -------
    ndarray of shape (n_features, n_hidden)
        ``grad_W2``.
    """
    along = np.einsum("ij,ij->j", W2, grad_W2)  # (h,) w_jᵀ g_j
    grad_W2 -= W2 * along
    grad_W2 /= norms
    return grad_W2


def normalize_decoder_(params: Params) -> Params:
    """Divide each decoder column of ``params`` by its norm, in place."""
    np.divide(params.W2, _column_norms(params.W2), out=params.W2)
    return params
