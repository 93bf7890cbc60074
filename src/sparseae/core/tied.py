"""Tied weights: the decoder is the encoder's transpose, W2 = W1ᵀ.

The k-sparse autoencoder of Makhzani and Frey (arXiv 1312.5663) ties them.
The tied objective is the untied one at W2 = W1ᵀ, so by the chain rule
(``docs/derivation.md``, `§10 <derivation.md#tied-weights>`_)

    ∂J_tied/∂W1 = ∂J/∂W1 + (∂J/∂W2)ᵀ,

both evaluated at (W1, W1ᵀ).  The solvers keep the untied parameter vector;
its W2 part is read by nothing and gets a zero gradient, so it never moves,
and the weights a model shows have W2 written as W1ᵀ (:func:`tie_`).  With a
zero gradient there, L-BFGS's curvature pairs, momentum and Adam's moments
see exactly the tied problem in W1, b1 and b2.
"""

from __future__ import annotations

import numpy as np

from .params import Params

__all__ = ["tie_", "tied", "tied_gradient_"]


def tied(params: Params) -> Params:
    """``params`` with W2 = W1ᵀ, a new array; W1, b1 and b2 are not copied.

    Examples
    --------
    >>> p = Params.initialize(3, 2, rng=np.random.default_rng(0))
    >>> bool((tied(p).W2 == p.W1.T).all())
    True
    """
    return Params(params.W1, params.b1, np.ascontiguousarray(params.W1.T), params.b2)


def tied_gradient_(grads: Params) -> Params:
    """Turn the untied gradient at (W1, W1ᵀ) into the tied one, in place.

    ``grads.W1`` gets ``grads.W2ᵀ`` added; ``grads.W2`` becomes 0, the
    gradient of a part of the vector the tied objective does not read.
    """
    np.add(grads.W1, grads.W2.T, out=grads.W1)
    grads.W2[...] = 0
    return grads


def tie_(params: Params) -> Params:
    """Write W1ᵀ into ``params.W2``, in place, and return ``params``."""
    params.W2[...] = params.W1.T
    return params
