"""What a solver raises when the objective stops being a number."""

import math

import numpy as np

__all__ = ["NonFiniteLossError", "describe_non_finite"]


class NonFiniteLossError(ValueError):
    """The loss or its gradient became NaN or infinite, so training stopped.

    Raised instead of carrying on with NaN parameters.  The model keeps the
    last parameters at which everything was finite.  A ``ValueError``, as
    scikit-learn's ``MLPRegressor`` raises for the same fault: the usual cause is
    a setting (a learning rate too large) or data out of scale.
    """


def describe_non_finite(loss: float, grad: np.ndarray) -> str | None:
    """Say what is not finite in ``(loss, grad)``, or None when all is finite.

    Examples
    --------
    >>> describe_non_finite(1.5, np.array([0.0, np.nan]))
    'the gradient has 1 NaN or infinite values (loss 1.5)'
    >>> describe_non_finite(float("inf"), np.zeros(2))
    'the loss is inf'
    >>> describe_non_finite(1.5, np.zeros(2)) is None
    True
    """
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    if not np.isfinite(grad).all():
        count = np.count_nonzero(~np.isfinite(grad))
        return f"the gradient has {count} NaN or infinite values (loss {loss:.6g})"
    return None
