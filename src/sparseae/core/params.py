"""Parameters of a three-layer autoencoder, stored in one flat vector.

The four blocks of ``docs/derivation.md`` eqs. (1)-(2), ``W1`` (h, n), ``b1``
(h,), ``W2`` (n, h) and ``b2`` (n,), are views into a single contiguous vector,
in that order, so that an optimiser working on flat vectors and the kernel
working on matrices share memory and no copy is made in either direction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Params"]

BLOCK_NAMES = ("W1", "b1", "W2", "b2")


def _block_shapes(n_features: int, n_hidden: int) -> tuple[tuple[int, ...], ...]:
    return ((n_hidden, n_features), (n_hidden,), (n_features, n_hidden), (n_features,))


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class Params:
    """Weights and biases of a sparse autoencoder.

    Parameters
    ----------
    W1 : ndarray of shape (n_hidden, n_features)
        Encoder weights.
    b1 : ndarray of shape (n_hidden,)
        Hidden biases.
    W2 : ndarray of shape (n_features, n_hidden)
        Decoder weights.
    b2 : ndarray of shape (n_features,)
        Visible (output) biases.

    Notes
    -----
    Instances made by :meth:`initialize`, :meth:`zeros` or :meth:`from_vector`
    hold views into one flat vector, returned without a copy by :attr:`vector`.
    Instances built directly from four arrays keep them as given and
    :meth:`to_vector` concatenates them.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params
    >>> p = Params.initialize(64, 25, rng=np.random.default_rng(0))
    >>> p.W1.shape, p.b1.shape, p.W2.shape, p.b2.shape
    ((25, 64), (25,), (64, 25), (64,))
    >>> p.size
    3289
    >>> q = Params.from_vector(p.to_vector(), n_features=64, n_hidden=25)
    >>> bool(np.array_equal(q.W2, p.W2))
    True
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    _vector: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        h, n = np.shape(self.W1) if np.ndim(self.W1) == 2 else (None, None)
        if h is None:
            raise ValueError(
                f"W1 must be 2-dimensional (n_hidden, n_features), "
                f"got shape {np.shape(self.W1)}"
            )
        for name, expected in zip(BLOCK_NAMES, _block_shapes(n, h), strict=True):
            shape = np.shape(getattr(self, name))
            if shape != expected:
                raise ValueError(
                    f"{name} must have shape {expected} to match W1 of shape "
                    f"{(h, n)}, got {shape}"
                )

    @property
    def n_features(self) -> int:
        """Number of visible units ``n``."""
        return self.W1.shape[1]

    @property
    def n_hidden(self) -> int:
        """Number of hidden units ``h``."""
        return self.W1.shape[0]

    @property
    def dtype(self) -> np.dtype:
        """Floating-point type of the weights."""
        return self.W1.dtype

    @property
    def size(self) -> int:
        """Total number of scalar parameters, ``2 h n + h + n``."""
        return sum(block.size for block in self)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Iterate over the blocks in the order ``W1, b1, W2, b2``."""
        return iter((self.W1, self.b1, self.W2, self.b2))

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """Iterate over ``(name, block)`` pairs."""
        return zip(BLOCK_NAMES, self, strict=True)

    @staticmethod
    def block_shapes(n_features: int, n_hidden: int) -> tuple[tuple[int, ...], ...]:
        """Shapes of ``W1, b1, W2, b2`` for ``n_features`` visible, ``n_hidden`` units.

        Examples
        --------
        >>> Params.block_shapes(3, 2)
        ((2, 3), (2,), (3, 2), (3,))
        """
        return _block_shapes(n_features, n_hidden)

    @staticmethod
    def vector_size(n_features: int, n_hidden: int) -> int:
        """Length of the flat vector for ``n_features`` visible, ``n_hidden`` units."""
        return 2 * n_hidden * n_features + n_hidden + n_features

    @classmethod
    def from_vector(cls, theta: np.ndarray, n_features: int, n_hidden: int) -> Params:
        """View a flat vector as parameter blocks, without copying.

        Parameters
        ----------
        theta : ndarray of shape (2 * n_hidden * n_features + n_hidden + n_features,)
            Flat parameters in the order ``W1, b1, W2, b2`` (row-major).
        n_features, n_hidden : int
            Layer sizes.

        Returns
        -------
        Params
            Blocks that are views into ``theta``: writing to them writes ``theta``.
        """
        n_features = _check_size("n_features", n_features)
        n_hidden = _check_size("n_hidden", n_hidden)
        theta = np.asarray(theta)
        expected = cls.vector_size(n_features, n_hidden)
        if theta.ndim != 1 or theta.size != expected:
            raise ValueError(
                f"theta must be a 1-D vector of length {expected} for "
                f"n_features={n_features}, n_hidden={n_hidden}, "
                f"got shape {theta.shape}"
            )
        blocks, start = [], 0
        for shape in _block_shapes(n_features, n_hidden):
            stop = start + int(np.prod(shape))
            blocks.append(theta[start:stop].reshape(shape))
            start = stop
        return cls(*blocks, _vector=theta)

    @classmethod
    def zeros(cls, n_features: int, n_hidden: int, *, dtype=np.float64) -> Params:
        """All-zero parameters backed by one flat vector."""
        n_features = _check_size("n_features", n_features)
        n_hidden = _check_size("n_hidden", n_hidden)
        theta = np.zeros(cls.vector_size(n_features, n_hidden), dtype=dtype)
        return cls.from_vector(theta, n_features, n_hidden)

    @classmethod
    def initialize(
        cls,
        n_features: int,
        n_hidden: int,
        *,
        rng: np.random.Generator,
        dtype=np.float64,
    ) -> Params:
        """Random initialisation of ``docs/derivation.md`` section 8.

        Biases are zero; weights are drawn from ``U[-r, r]`` with
        ``r = sqrt(6 / (n_features + n_hidden + 1))``.

        Parameters
        ----------
        n_features, n_hidden : int
            Layer sizes.
        rng : numpy.random.Generator
            Source of randomness; the only one used.
        dtype : dtype, default=numpy.float64
            Floating-point type of the result.

        Returns
        -------
        Params
        """
        params = cls.zeros(n_features, n_hidden, dtype=dtype)
        r = np.sqrt(6.0 / (params.n_features + params.n_hidden + 1))
        params.W1[...] = rng.uniform(-r, r, size=params.W1.shape)
        params.W2[...] = rng.uniform(-r, r, size=params.W2.shape)
        return params

    @property
    def vector(self) -> np.ndarray:
        """The flat vector these blocks are views of.

        Raises
        ------
        ValueError
            If the blocks were given as separate arrays (use :meth:`to_vector`
            to get a copy instead).
        """
        if self._vector is None:
            raise ValueError(
                "these Params were built from separate arrays, not from one flat "
                "vector; call to_vector() for a copy"
            )
        return self._vector

    def to_vector(self) -> np.ndarray:
        """Copy the blocks into a new flat vector (order ``W1, b1, W2, b2``)."""
        return np.concatenate([block.ravel() for block in self])

    def copy(self) -> Params:
        """Deep copy, backed by a new flat vector."""
        return Params.from_vector(self.to_vector(), self.n_features, self.n_hidden)

    def astype(self, dtype) -> Params:
        """Copy converted to ``dtype``, backed by a new flat vector."""
        theta = self.to_vector().astype(dtype, copy=False)
        return Params.from_vector(theta, self.n_features, self.n_hidden)
