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

import numpy as np

from .kernel import Settings, n_workers, new_workers, one_pass, two_passes
from .params import Params
from .partial_sums import Evaluation, LossTerms, PartialSums, finish_sums
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
    "make_settings",
]

OUTPUTS = ("sigmoid", "linear")
# a2 is kept between two passes for every row when that takes at most
# _KEEP_BYTES; beyond, for as many rows as _KEEP_FRACTION of the data's bytes
# hold.  With the L-BFGS history (about 0.3 times the data at MNIST scale in
# float32) full-batch training then stays within 1.5 times the data's bytes.
_KEEP_BYTES = 16 << 20
_KEEP_FRACTION = 1 / 32
LOSSES = ("squared", "cross_entropy")


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
    from scipy.special import expit  # 0.5 s to import: only when first used

    a2 = X @ params.W1.T
    a2 += params.b1
    return expit(a2, out=a2)


def decode(params: Params, codes: np.ndarray, output: str = "sigmoid") -> np.ndarray:
    """Reconstruction ``x̂ = g(codes W2ᵀ + b2)``, eq. (2).

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    from scipy.special import expit

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
    previous_rho_hat: np.ndarray | None = None,
    rho_decay: float = 0.0,
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
    previous_rho_hat : ndarray of shape (n_hidden,) or None, default=None
        For a minibatch with a running estimate of ρ̂: the estimate after the
        previous batch.  The sparsity term and s of eq. (7) are then evaluated
        at ``rho_decay * previous_rho_hat + (1 - rho_decay) * ρ̂``
        (:mod:`sparseae.core.sparsity`).
    rho_decay : float, default=0.0
        α of the running estimate, in [0, 1]; 0 uses the rows' own ρ̂.

    Returns
    -------
    Evaluation
        ``mean_activation`` is the ρ̂ used, to pass as ``previous_rho_hat``
        with the next batch.

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

    A second batch, with the running estimate of ρ̂:

    >>> second = evaluate(params, X[:50], sparsity_target=0.1, sparsity_weight=3.0,
    ...                   weight_decay=1e-4, rho_decay=0.9,
    ...                   previous_rho_hat=result.mean_activation)
    >>> second.mean_activation.shape
    (3,)
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
    _check_rho_policy(previous_rho_hat, rho_decay, params.n_hidden)
    if params.dtype != X.dtype:
        params = params.astype(X.dtype)
    return _evaluate(
        params,
        X,
        settings,
        compute_grad=compute_grad,
        previous_rho_hat=previous_rho_hat,
        rho_decay=rho_decay,
    )


def _evaluate(
    params: Params,
    X: np.ndarray,
    settings: Settings,
    *,
    compute_grad: bool = True,
    previous_rho_hat: np.ndarray | None = None,
    rho_decay: float = 0.0,
) -> Evaluation:
    """:func:`evaluate` on checked input: the hot path of training loops.

    ``X`` is a 2-D float32 or float64 array with at least one row, ``params``
    in its floating type, ``settings`` from :func:`make_settings`; nothing is
    checked again.
    """
    (m, n), h = X.shape, params.n_hidden
    kept = _kept_rows(X, h) if compute_grad else 0
    with WorkerPool(n_workers(m, n, h)) as pool:
        workers = new_workers(
            params, settings, pool.n_workers, compute_grad, kept < m, m
        )
        if kept:
            two_passes(pool, workers, X, settings, kept, previous_rho_hat, rho_decay)
        else:
            one_pass(pool, workers, X)
    return finish_sums(
        PartialSums.from_workers(workers, m),
        params,
        settings,
        previous_rho_hat=previous_rho_hat,
        rho_decay=rho_decay,
    )


def _check_rho_policy(previous_rho_hat, rho_decay, n_hidden):
    _real(rho_decay, "rho_decay")
    if not 0 <= rho_decay <= 1:
        raise ValueError(f"rho_decay must be in [0, 1], got {rho_decay!r}")
    if previous_rho_hat is not None and np.shape(previous_rho_hat) != (n_hidden,):
        raise ValueError(
            f"previous_rho_hat must have shape ({n_hidden},), one value per hidden "
            f"unit, got {np.shape(previous_rho_hat)}"
        )


def _kept_rows(X, n_hidden):
    """Rows whose a2 the memory budget can keep between two passes."""
    row_bytes = n_hidden * X.itemsize
    if X.shape[0] * row_bytes <= _KEEP_BYTES:
        return X.shape[0]
    return int(_KEEP_FRACTION * X.nbytes // row_bytes)


def make_settings(**hyperparameters) -> Settings:
    """Check keyword hyperparameters of :func:`evaluate` once and bundle them.

    Parameters
    ----------
    **hyperparameters
        ``sparsity_target``, ``sparsity_weight``, ``weight_decay`` and
        optionally ``penalty``, ``output``, ``loss``, as for :func:`evaluate`.

    Returns
    -------
    Settings
        What :func:`~sparseae.core.partial_sums.block_sums`,
        :func:`~sparseae.core.partial_sums.finish_sums` and the training loops
        take, so that they never check again.

    Examples
    --------
    >>> make_settings(sparsity_target=0.1, sparsity_weight=3.0,
    ...               weight_decay=1e-4).penalty.name
    'kl'
    """
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
    """Objective J of ``docs/derivation.md`` eq. (3) and its gradient.

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
