"""The sparse autoencoder objective and its hand-derived gradient.

Pure functions: arrays in, arrays out.  The derivation, with the equation numbers
cited below, is ``docs/derivation.md``.  Symbols map to the public names as

=================  ==========================  =====================================
kernel             public                      meaning
=================  ==========================  =====================================
``X``              ``X``                       data, (m, n), rows are samples
``W1, b1``         ``components_``, ...        encoder, (h, n) and (h,)
``W2, b2``         ``intercept_visible_``, ... decoder, (n, h) and (n,)
``a2``             ``transform(X)``            hidden activations, (m, h)
``rho``            ``sparsity_target``         target mean activation ρ
``beta``           ``sparsity_weight``         sparsity weight β
``lam``            ``weight_decay``            weight decay λ
``rho_hat``        ``mean_activation``         mean activation per unit, (h,)
``delta3``         --                          output error, (m, n)
``delta2``         --                          hidden error, (m, h)
=================  ==========================  =====================================
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from .kernel import Settings, finish, n_workers, new_workers, one_pass, two_passes
from .params import Params
from .penalties import get_penalty
from .threads import WorkerPool

__all__ = [
    "LOSSES",
    "OUTPUTS",
    "Evaluation",
    "LossTerms",
    "check_hyperparameters",
    "decode",
    "encode",
    "evaluate",
    "loss_and_grad",
    "loss_terms",
]

OUTPUTS = ("sigmoid", "linear")
# a2 is kept between two passes for every row when that takes at most
# _KEEP_BYTES; beyond, for as many rows as _KEEP_FRACTION of the data's bytes
# hold.  With the L-BFGS history (about 0.3 times the data at MNIST scale in
# float32) full-batch training then stays within 1.5 times the data's bytes.
_KEEP_BYTES = 16 << 20
_KEEP_FRACTION = 1 / 32
LOSSES = ("squared", "cross_entropy")


class LossTerms(NamedTuple):
    """The three terms of the objective J (derivation eq. 3)."""

    reconstruction: float
    weight_decay: float
    sparsity: float

    @property
    def total(self) -> float:
        """The objective J, the sum of the three terms."""
        return self.reconstruction + self.weight_decay + self.sparsity


class Evaluation(NamedTuple):
    """Everything one pass of the kernel computes.

    Attributes
    ----------
    terms : LossTerms
        The three terms of the objective.
    mean_activation : ndarray of shape (n_hidden,)
        ρ̂, the mean activation of each hidden unit, before clamping.
    grads : Params or None
        The gradient of the total, or None when it was not asked for.
    """

    terms: LossTerms
    mean_activation: np.ndarray
    grads: Params | None


def check_hyperparameters(
    *,
    sparsity_target: float,
    sparsity_weight: float,
    weight_decay: float,
    penalty: str = "kl",
    output: str = "sigmoid",
    loss: str = "squared",
) -> None:
    """Raise a ``ValueError`` naming the first hyperparameter out of range.

    Examples
    --------
    >>> check_hyperparameters(sparsity_target=1.5, sparsity_weight=3.0,
    ...                       weight_decay=1e-4)
    Traceback (most recent call last):
    ...
    ValueError: sparsity_target must be in (0, 1), got 1.5
    """
    _real(sparsity_target, "sparsity_target")
    if not 0 < sparsity_target < 1:
        raise ValueError(f"sparsity_target must be in (0, 1), got {sparsity_target!r}")
    for name, value in (
        ("sparsity_weight", sparsity_weight),
        ("weight_decay", weight_decay),
    ):
        _real(value, name)
        if not value >= 0 or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    get_penalty(penalty)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {list(OUTPUTS)}, got {output!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    if loss == "cross_entropy" and output != "sigmoid":
        raise ValueError(
            f"loss='cross_entropy' needs output='sigmoid' (predictions in (0, 1)), "
            f"got output={output!r}; use loss='squared' with a linear output"
        )


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")


def encode(params: Params, X: np.ndarray) -> np.ndarray:
    """Hidden activations ``a2 = sigmoid(X W1ᵀ + b1)``, eq. (1).

    Returns
    -------
    ndarray of shape (n_samples, n_hidden)
    """
    a2 = X @ params.W1.T
    a2 += params.b1
    return expit(a2, out=a2)


def decode(params: Params, codes: np.ndarray, output: str = "sigmoid") -> np.ndarray:
    """Reconstruction ``x̂ = g(codes W2ᵀ + b2)``, eq. (2).

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    z3 = codes @ params.W2.T
    z3 += params.b2
    return expit(z3, out=z3) if output == "sigmoid" else z3


def _check_data(params: Params, X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != params.n_features or X.shape[0] == 0:
        raise ValueError(
            f"X must have shape (n_samples >= 1, {params.n_features}) to match W1 of "
            f"shape {params.W1.shape}, got {X.shape}"
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def evaluate(
    params: Params,
    X: np.ndarray,
    *,
    sparsity_target: float,
    sparsity_weight: float,
    weight_decay: float,
    penalty: str = "kl",
    output: str = "sigmoid",
    loss: str = "squared",
    compute_grad: bool = True,
) -> Evaluation:
    """Evaluate the objective, and optionally its gradient.

    Computation happens in the data's floating type (float32 or float64; any
    other type is converted to float64); parameters of another type are cast.
    Rows are taken in cache-sized blocks on as many threads as the BLAS may use
    (see :mod:`threadpoolctl`), with sums of the loss in float64.  The hidden
    activations a2 of all rows, when they take at most 16 MiB, or else of as
    many rows as 1/32 of the data's bytes hold, are kept between two passes,
    which costs five matrix products per row; the other rows take the sums of
    ``docs/derivation.md`` eq. (11) in one pass, six products per row and
    memory of one block.
    :func:`sparseae.core.chunked.evaluate_chunks` takes one pass over data that is
    not in memory.

    Parameters
    ----------
    params : Params
        Current weights and biases.
    X : array-like of shape (n_samples, n_features)
        Data, rows are samples.
    sparsity_target : float
        ρ, in (0, 1).
    sparsity_weight : float
        β >= 0.
    weight_decay : float
        λ >= 0.
    penalty : {"kl", "squared", "l1"}, default="kl"
        Sparsity penalty, see :mod:`sparseae.core.penalties`.
    output : {"sigmoid", "linear"}, default="sigmoid"
        Output activation g.
    loss : {"squared", "cross_entropy"}, default="squared"
        Reconstruction loss; cross-entropy needs a sigmoid output.
    compute_grad : bool, default=True
        Whether to back-propagate.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params, evaluate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(100, 8)).astype(np.float32)
    >>> params = Params.initialize(8, 3, rng=rng)
    >>> result = evaluate(params, X, sparsity_target=0.1, sparsity_weight=3.0,
    ...                   weight_decay=1e-4)
    >>> result.grads.dtype, result.mean_activation.shape
    (dtype('float32'), (3,))
    """
    settings = make_settings(
        sparsity_target=sparsity_target,
        sparsity_weight=sparsity_weight,
        weight_decay=weight_decay,
        penalty=penalty,
        output=output,
        loss=loss,
    )
    X = _check_data(params, X)
    if params.dtype != X.dtype:
        params = params.astype(X.dtype)
    (m, n), h = X.shape, params.n_hidden
    kept = _kept_rows(X, h) if compute_grad else 0
    with WorkerPool(n_workers(m, n, h)) as pool:
        workers = new_workers(
            params, settings, pool.n_workers, compute_grad, kept < m, m
        )
        if kept:
            two_passes(pool, workers, X, settings, kept)
        else:
            one_pass(pool, workers, X)
    terms, rho_hat, grads = finish(workers, m, params, settings)
    return Evaluation(LossTerms(*terms), rho_hat, grads)


def _kept_rows(X, n_hidden):
    """Rows whose a2 the memory budget can keep between two passes."""
    row_bytes = n_hidden * X.itemsize
    if X.shape[0] * row_bytes <= _KEEP_BYTES:
        return X.shape[0]
    return int(_KEEP_FRACTION * X.nbytes // row_bytes)


def make_settings(**hyperparameters) -> Settings:
    """Check keyword hyperparameters of :func:`evaluate` and bundle them."""
    hyper = {"penalty": "kl", "output": "sigmoid", "loss": "squared"}
    hyper.update(hyperparameters)
    check_hyperparameters(**hyper)
    return Settings(
        rho=hyper["sparsity_target"],
        beta=hyper["sparsity_weight"],
        lam=hyper["weight_decay"],
        penalty=get_penalty(hyper["penalty"]),
        output=hyper["output"],
        loss=hyper["loss"],
    )


def loss_and_grad(
    params: Params,
    X: np.ndarray,
    *,
    sparsity_target: float,
    sparsity_weight: float,
    weight_decay: float,
    penalty: str = "kl",
    output: str = "sigmoid",
    loss: str = "squared",
) -> tuple[float, Params]:
    """Objective J and its gradient (SPEC §2-3, ``docs/derivation.md``).

    Parameters are those of :func:`evaluate`.

    Returns
    -------
    loss : float
        J = reconstruction + weight decay + β · penalty.
    grads : Params
        ∂J/∂W1, ∂J/∂b1, ∂J/∂W2, ∂J/∂b2, in the data's floating type.

    Examples
    --------
    >>> import numpy as np
    >>> from sparseae import Params, loss_and_grad
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(100, 8))
    >>> params = Params.initialize(8, 3, rng=rng)
    >>> J, grads = loss_and_grad(params, X, sparsity_target=0.1,
    ...                          sparsity_weight=3.0, weight_decay=1e-4)
    >>> round(J, 4)
    3.954
    >>> grads.W1.shape
    (3, 8)
    """
    evaluation = evaluate(
        params,
        X,
        sparsity_target=sparsity_target,
        sparsity_weight=sparsity_weight,
        weight_decay=weight_decay,
        penalty=penalty,
        output=output,
        loss=loss,
    )
    return evaluation.terms.total, evaluation.grads


def loss_terms(
    params: Params,
    X: np.ndarray,
    *,
    sparsity_target: float,
    sparsity_weight: float,
    weight_decay: float,
    penalty: str = "kl",
    output: str = "sigmoid",
    loss: str = "squared",
) -> LossTerms:
    """The three terms of J separately, for reporting; no gradient is computed.

    Parameters are those of :func:`evaluate`.

    Returns
    -------
    LossTerms
        ``reconstruction``, ``weight_decay``, ``sparsity``; ``.total`` is J.
    """
    return evaluate(
        params,
        X,
        sparsity_target=sparsity_target,
        sparsity_weight=sparsity_weight,
        weight_decay=weight_decay,
        penalty=penalty,
        output=output,
        loss=loss,
        compute_grad=False,
    ).terms
