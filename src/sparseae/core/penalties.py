"""Sparsity penalties: functions of the mean hidden activations and their derivatives.

Each penalty maps ``rho_hat`` (the mean activation of each hidden unit,
``docs/derivation.md`` eq. 4) and the target ``rho`` to one value per hidden
unit; the objective multiplies the sum by the sparsity weight β.  Its
derivative with respect to ``rho_hat`` is the vector ``s`` of
``docs/derivation.md`` eq. (7), which back-propagation adds to every sample's
hidden error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["PENALTIES", "Penalty", "get_penalty"]


class Penalty(NamedTuple):
    """A sparsity penalty as a pair of element-wise functions of ``rho_hat``."""

    name: str
    value: Callable[[np.ndarray, float], np.ndarray]
    derivative: Callable[[np.ndarray, float], np.ndarray]


def _kl_value(rho_hat, rho):
    # KL(rho || rho_hat) between Bernoulli distributions, derivation eq. (5).
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def _kl_derivative(rho_hat, rho):
    return -rho / rho_hat + (1 - rho) / (1 - rho_hat)


def _squared_value(rho_hat, rho):
    return (rho_hat - rho) ** 2


def _squared_derivative(rho_hat, rho):
    return 2 * (rho_hat - rho)


def _l1_value(rho_hat, rho):
    # For sigmoid codes, which are positive, the mean activation is the L1 norm
    # of a unit's codes divided by m; the target plays no part.
    return rho_hat.copy()


def _l1_derivative(rho_hat, rho):
    return np.ones_like(rho_hat)


PENALTIES: dict[str, Penalty] = {
    penalty.name: penalty
    for penalty in (
        # KL(ρ ‖ ρ̂_j), the penalty of the CS294A notes.
        Penalty("kl", _kl_value, _kl_derivative),
        # (ρ̂_j − ρ)², an alternative with a bounded slope.
        Penalty("squared", _squared_value, _squared_derivative),
        # ρ̂_j, the L1 norm of unit j's codes over m.
        Penalty("l1", _l1_value, _l1_derivative),
    )
}


def get_penalty(name: str) -> Penalty:
    """Return the penalty called ``name``.

    Parameters
    ----------
    name : {"kl", "squared", "l1"}
        Name of the penalty.

    Returns
    -------
    Penalty

    Examples
    --------
    >>> import numpy as np
    >>> kl = get_penalty("kl")
    >>> float(kl.value(np.array([0.1]), 0.1)[0])
    0.0
    >>> float(kl.derivative(np.array([0.5]), 0.1)[0])
    1.6
    """
    try:
        return PENALTIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"penalty must be one of {sorted(PENALTIES)}, got {name!r}"
        ) from None
