"""Hidden units: the forward map in place and its slope for back-propagation.

Three families (``docs/derivation.md``, `§10 <derivation.md#relu-topk>`_):

- ``"sigmoid"``: a2 = σ(z2), f' = a2 (1 − a2); sparse through a penalty on ρ̂.
- ``"relu"``: a2 = max(z2, 0), f' = 1[a2 > 0]; sparse through the L1 (or
  squared) penalty on ρ̂, which for non-negative units is the mean L1 norm of
  the codes.
- ``"topk"``: a2 = max(z2, 0) on the k largest pre-activations of each row and
  0 elsewhere (Makhzani and Frey, "k-Sparse Autoencoders", 2013, with the ReLU
  of Gao et al., "Scaling and evaluating sparse autoencoders", 2024), f' = 1
  on the kept units with a2 > 0 and 0 elsewhere; sparse by construction.

For relu and topk the slope follows from a2 alone, as the one-pass sums of
eq. (11) need: a unit has slope 1 exactly where a2 > 0 (a kept unit whose
pre-activation is at most 0 has a2 = 0 after the ReLU, and slope 0).  The
kernels are piecewise linear; their gradient is exact away from z2 = 0 and,
for topk, from ties between the k-th and (k+1)-th pre-activations of a row.

:func:`auxiliary_code_` is the code u of the auxiliary loss for dead units
(`eq. (15) <derivation.md#eq-15>`_): the ReLU of the ``aux_k`` largest
pre-activations of each row among the dead units that the row's main code
leaves silent.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "activate_",
    "auxiliary_code_",
    "kink_margin",
    "sigmoid_",
    "slope",
]

ACTIVATIONS = ("sigmoid", "relu", "topk")


def sigmoid_(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid in place, as 1 / (1 + e^−z).

    Exact to about 2 ulps across its range, and in particular as σ(z) falls
    towards 0 (e^z for z ≪ 0, down to z ≈ −88 in float32 and −709 in
    float64, where e^−z overflows to inf and σ to 0, its limit).  The KL term
    needs that: a unit driven off has ρ̂ of that size, and the pull of eq. (7)
    back towards ρ is a ratio of such numbers.  The former ½ + ½ tanh(z/2),
    exact only to a few ulps of 1, rounded σ to 0 from z ≈ −17 in float32
    (−37 in float64) and cut the pull off.  This form is also the fastest of
    the three (``benchmarks/sigmoid.py``).
    """
    np.negative(z, out=z)
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += 1
    return np.reciprocal(z, out=z)


def _top_k_(z: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the k largest entries of each row of ``z``, in place."""
    h = z.shape[1]
    if k >= h:
        return z
    # (rows, h - k): the columns of the h - k smallest entries of each row.
    dropped = np.argpartition(z, h - k - 1, axis=1)[:, : h - k]
    np.put_along_axis(z, dropped, 0, axis=1)
    return z


def activate_(z: np.ndarray, activation: str, k: int | None = None) -> np.ndarray:
    """Hidden activations a2 = f(z2), eq. (1), written over ``z`` (rows, h).

    Parameters
    ----------
    z : ndarray of shape (rows, n_hidden)
        Pre-activations z2, overwritten.
    activation : {"sigmoid", "relu", "topk"}
        The hidden unit.
    k : int or None
        Units kept per row by ``"topk"``; all of them when ``k >= n_hidden``.

    Returns
    -------
    ndarray of shape (rows, n_hidden)
        ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> activate_(np.array([[0.5, -1.0, 2.0, 0.1]]), "topk", k=2)
    array([[0.5, 0. , 2. , 0. ]])
    >>> activate_(np.array([[-0.5, -1.0, 2.0]]), "topk", k=2)
    array([[0., 0., 2.]])
    """
    if activation == "sigmoid":
        return sigmoid_(z)
    if activation == "topk":
        _top_k_(z, k)
    return np.maximum(z, 0, out=z)


def auxiliary_code_(
    z: np.ndarray,
    a2: np.ndarray,
    alive: np.ndarray,
    aux_k: int,
    silent: np.ndarray,
) -> np.ndarray:
    """The auxiliary code u of eq. (15), written over ``z`` (rows, h).

    u_ij = max(z2_ij, 0) for the ``aux_k`` largest z2_ij of row i among the
    dead units j that the main code a2 leaves at 0, and 0 elsewhere: its
    support is disjoint from a2's.

    Parameters
    ----------
    z : ndarray of shape (rows, n_hidden)
        Pre-activations z2 (taken before :func:`activate_` overwrote them),
        overwritten.
    a2 : ndarray of shape (rows, n_hidden)
        The main code, from :func:`activate_`.
    alive : ndarray of int
        Columns of the units that are not dead.
    aux_k : int
        Units the auxiliary code keeps per row, fewer than n_hidden.
    silent : ndarray of bool, shape (rows, n_hidden)
        Scratch space, overwritten.

    Returns
    -------
    ndarray of shape (rows, n_hidden)
        ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([[3.0, 2.0, 1.5, 0.5, -1.0]])
    >>> a2 = activate_(z.copy(), "topk", k=1)
    >>> alive = np.array([4])  # units 0-3 are dead
    >>> auxiliary_code_(z, a2, alive, 2, np.empty(z.shape, bool))
    array([[0. , 2. , 1.5, 0. , 0. ]])
    """
    # Units that cannot be chosen: those alive, and those the main code uses
    # (a dead unit may fire again in this row).
    z[:, alive] = -np.inf
    np.greater(a2, 0, out=silent)
    np.copyto(z, -np.inf, where=silent)
    _top_k_(z, aux_k)
    # A row with fewer than aux_k candidates keeps some -inf: 0 after the ReLU.
    return np.maximum(z, 0, out=z)


def slope(a2: np.ndarray, activation: str, out: np.ndarray) -> np.ndarray:
    """f'(z2) from a2 alone, written into ``out`` (the mask of eq. (8) for relu, topk).

    Parameters
    ----------
    a2 : ndarray of shape (rows, n_hidden)
        Hidden activations from :func:`activate_`.
    activation : {"sigmoid", "relu", "topk"}
        The hidden unit.
    out : ndarray of shape (rows, n_hidden)
        Where to write the slope; may not be ``a2``.

    Returns
    -------
    ndarray of shape (rows, n_hidden)
        ``out``: a2 (1 − a2) for sigmoid, 1[a2 > 0] for relu and topk.

    Examples
    --------
    >>> import numpy as np
    >>> a2 = np.array([[0.0, 0.5, 2.0]])
    >>> slope(a2, "relu", np.empty_like(a2))
    array([[0., 1., 1.]])
    >>> slope(a2[:, :2], "sigmoid", np.empty((1, 2)))
    array([[0.  , 0.25]])
    """
    if activation == "sigmoid":
        np.subtract(1, a2, out=out)
        out *= a2
        return out
    return np.greater(a2, 0, out=out)


def kink_margin(
    z: np.ndarray,
    activation: str,
    k: int | None = None,
    aux_k: int | None = None,
    dead: np.ndarray | None = None,
) -> float:
    """How far the pre-activations ``z`` are from a kink of the hidden unit.

    The smallest |z2| (the ReLU's kink) and, for topk, the smallest gap
    between the k-th and (k+1)-th largest entry of a row (where the kept set
    changes); with ``aux_k``, also the smallest gap between the aux_k-th and
    (aux_k+1)-th largest candidate of the auxiliary code (eq. 15) where the
    larger is positive; infinite for sigmoid.  Central differences with step
    ε are valid for a piecewise-linear unit when every z2 moves by less than
    this margin.

    Parameters
    ----------
    z : ndarray of shape (rows, n_hidden)
        Pre-activations z2 (not overwritten).
    activation : {"sigmoid", "relu", "topk"}
        The hidden unit.
    k : int or None
        Units kept per row by ``"topk"``.
    aux_k : int or None
        Units kept per row by the auxiliary code; None without it.
    dead : ndarray of bool, shape (n_hidden,), or None
        The dead units of the auxiliary code; None when none is.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([[0.3, -0.2, 0.25, 1.0]])
    >>> round(kink_margin(z, "relu"), 6), round(kink_margin(z, "topk", k=2), 6)
    (0.2, 0.05)
    >>> dead = np.array([True, True, True, False])
    >>> round(kink_margin(z, "topk", k=1, aux_k=1, dead=dead), 6)
    0.05
    """
    if activation == "sigmoid":
        return float("inf")
    margin = float(np.abs(z).min())
    h = z.shape[1]
    if activation == "topk" and k < h:
        ordered = -np.sort(-z, axis=1)  # (rows, h), largest first
        margin = min(margin, float((ordered[:, k - 1] - ordered[:, k]).min()))
    if aux_k is not None and dead is not None and aux_k < h:
        candidates = z.copy()
        a2 = activate_(z.copy(), activation, k)
        candidates[(a2 > 0) | ~np.asarray(dead, bool)] = -np.inf
        ordered = -np.sort(-candidates, axis=1)
        upper, lower = ordered[:, aux_k - 1], ordered[:, aux_k]
        # Where the aux_k-th candidate is at most 0, both are cut to 0 by the
        # ReLU whichever is chosen.
        chosen = upper > 0
        gaps = upper[chosen] - lower[chosen]
        if gaps.size:
            margin = min(margin, float(gaps.min()))
    return margin
