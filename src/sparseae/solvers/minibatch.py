"""Minibatch optimisers: SGD with momentum, and Adam.

An optimiser updates a flat parameter vector in place from a gradient and keeps
its own state (velocity, moment estimates) as arrays and numbers that
:meth:`state_dict` hands out and :meth:`from_state` takes back exactly, so that a
checkpoint can resume a run bit for bit.  :func:`run_minibatches` is the loop:
it consumes a ``loss_and_grad(theta, chunk)`` callable and any iterable of
chunks (arrays, memory-mapped slices, ...), and knows nothing of autoencoders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from numbers import Real

import numpy as np

from .errors import NonFiniteLossError, describe_non_finite

__all__ = ["SGD", "Adam", "make_optimizer", "run_minibatches"]


def _check(name, value, low, high, *, closed_high=False):
    ok = isinstance(value, Real) and not isinstance(value, bool)
    ok = ok and low < value and (value <= high if closed_high else value < high)
    if not ok:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in ({low}, {high}{bracket}, got {value!r}")


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum.

    ``v ← μ v − η g``, then ``θ ← θ + v``.

    Parameters
    ----------
    learning_rate : float, default=0.1
        Step size η > 0.
    momentum : float, default=0.9
        μ in [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.array([1.0, -2.0])
    >>> sgd = SGD(learning_rate=0.1, momentum=0.0)
    >>> sgd.step(theta, 2 * theta)
    >>> theta
    array([ 0.8, -1.6])
    """

    name = "sgd"

    def __init__(self, learning_rate=0.1, momentum=0.9):
        _check("learning_rate", learning_rate, 0, np.inf)
        if momentum != 0:
            _check("momentum", momentum, 0, 1)
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.velocity = None

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """Move ``theta`` in place along ``-grad``."""
        if self.velocity is None:
            self.velocity = np.zeros_like(theta)
        self.velocity *= self.momentum
        self.velocity -= self.learning_rate * grad
        theta += self.velocity

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-ready numbers that :meth:`from_state` restores."""
        arrays = {} if self.velocity is None else {"velocity": self.velocity}
        return arrays, {"learning_rate": self.learning_rate, "momentum": self.momentum}

    @classmethod
    def from_state(cls, arrays: dict, numbers: dict) -> SGD:
        """Rebuild an optimiser from :meth:`state_dict`."""
        optimizer = cls(numbers["learning_rate"], numbers["momentum"])
        optimizer.velocity = arrays.get("velocity")
        return optimizer


class Adam:
    """Adam (Kingma & Ba, 2015) with bias-corrected moment estimates.

    Parameters
    ----------
    learning_rate : float, default=1e-3
        Step size η > 0.
    beta1, beta2 : float, default=0.9, 0.999
        Decay of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of the second moment so the step stays finite.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.array([1.0, -2.0])
    >>> adam = Adam(learning_rate=0.1)
    >>> adam.step(theta, 2 * theta)
    >>> theta.round(6)
    array([ 0.9, -1.9])
    """

    name = "adam"

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        _check("learning_rate", learning_rate, 0, np.inf)
        _check("epsilon", epsilon, 0, np.inf)
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            if value != 0:
                _check(name, value, 0, 1)
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m = self.v = None

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """Move ``theta`` in place by one Adam step."""
        if self.m is None:
            self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.t += 1
        self.m *= self.beta1
        self.m += (1 - self.beta1) * grad
        self.v *= self.beta2
        self.v += (1 - self.beta2) * grad * grad
        # Bias corrections folded into the step size, as in the paper's §2.
        step = self.learning_rate * np.sqrt(1 - self.beta2**self.t)
        step /= 1 - self.beta1**self.t
        theta -= step * self.m / (np.sqrt(self.v) + self.epsilon)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-ready numbers that :meth:`from_state` restores."""
        arrays = {} if self.m is None else {"m": self.m, "v": self.v}
        numbers = {
            "learning_rate": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": self.t,
        }
        return arrays, numbers

    @classmethod
    def from_state(cls, arrays: dict, numbers: dict) -> Adam:
        """Rebuild an optimiser from :meth:`state_dict`."""
        numbers = dict(numbers)
        t = numbers.pop("t")
        optimizer = cls(**numbers)
        optimizer.t = t
        optimizer.m, optimizer.v = arrays.get("m"), arrays.get("v")
        return optimizer


OPTIMIZERS = {SGD.name: SGD, Adam.name: Adam}


def make_optimizer(name: str, **kwargs) -> SGD | Adam:
    """The optimiser called ``name`` (``"sgd"`` or ``"adam"``) with ``kwargs``.

    Examples
    --------
    >>> make_optimizer("adam", learning_rate=0.01).learning_rate
    0.01
    """
    try:
        return OPTIMIZERS[name](**kwargs)
    except KeyError:
        raise ValueError(
            f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}"
        ) from None


def run_minibatches(
    loss_and_grad: Callable[[np.ndarray, object], tuple[float, np.ndarray]],
    theta: np.ndarray,
    chunks: Iterable,
    optimizer: SGD | Adam,
    *,
    callback: Callable[[np.ndarray, float], bool | None] | None = None,
) -> tuple[int, float]:
    """Take one optimiser step per chunk, updating ``theta`` in place.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(theta, chunk) -> (loss, grad)``.
    theta : ndarray of shape (n_params,)
        Parameters, modified in place.
    chunks : iterable
        Minibatches, in the order to use them; consumed lazily.
    optimizer : SGD or Adam
        Updates ``theta`` and its own state.
    callback : callable, optional
        ``callback(theta, loss)`` after every step; returning True stops the
        loop after that step.

    Returns
    -------
    n_steps : int
        Steps taken.
    mean_loss : float
        Mean of the chunks' losses before their step (nan when there were none).

    Raises
    ------
    NonFiniteLossError
        If a chunk's loss or gradient is NaN or infinite, or a step takes the
        parameters there; ``theta`` then holds the parameters before that step
        (the optimiser's state may already include it).  Steps before it have
        been taken and their callbacks called.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.array([3.0])
    >>> chunks = [np.array([1.0])] * 50
    >>> n, _ = run_minibatches(lambda t, c: (float((t - c) @ (t - c)), 2 * (t - c)),
    ...                        theta, chunks, SGD(learning_rate=0.1, momentum=0.5))
    >>> n, round(float(theta[0]), 6)
    (50, 1.0)
    """
    n_steps, total = 0, 0.0
    before = np.empty_like(theta)
    for chunk in chunks:
        # Overflow and NaN are looked for after each evaluation and step and
        # reported with their context; NumPy's warnings would only repeat it.
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad = loss_and_grad(theta, chunk)
            fault = describe_non_finite(loss, grad)
            if fault is not None:
                raise NonFiniteLossError(fault)
            before[...] = theta
            optimizer.step(theta, grad)
        if not np.isfinite(theta).all():
            theta[...] = before
            raise NonFiniteLossError(
                f"the step overflowed the parameters from a finite gradient "
                f"(loss {loss:.6g})"
            )
        n_steps += 1
        total += loss
        if callback is not None and callback(theta, loss):
            break
    return n_steps, total / n_steps if n_steps else float("nan")
