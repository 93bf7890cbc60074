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
``aux_k``          ``aux_k``                   units of the auxiliary code, eq. (15)
``aux_weight``     ``aux_weight``              its weight α
``dead``           --                          dead units, bool (h,)
=================  ==========================  =====================================
"""

from __future__ import annotations

import numbers

import numpy as np

from .activations import ACTIVATIONS, activate_
from .kernel import Settings
from .params import Params
from .partial_sums import Evaluation, LossTerms, block_sums, finish_sums
from .penalties import get_penalty

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
LOSSES = ("squared", "cross_entropy")


def check_hyperparameters(
    *,
    sparsity_target: float,
    sparsity_weight: float,
    weight_decay: float,
    penalty: str = "kl",
    output: str = "sigmoid",
    loss: str = "squared",
    activation: str = "sigmoid",
    k: int | None = None,
    aux_k: int | None = None,
    aux_weight: float = 1 / 32,
    dead=None,
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
    _check_activation(activation, k, penalty)
    _check_auxiliary(aux_k, aux_weight, dead, activation, output, loss)


def _check_auxiliary(aux_k, aux_weight, dead, activation, output, loss):
    """The auxiliary loss for dead units and what it needs (eq. 15)."""
    if aux_k is None:
        if dead is not None:
            raise ValueError(
                "dead is only used by the auxiliary loss; give aux_k too, or "
                "leave dead=None"
            )
        return
    if isinstance(aux_k, bool) or not isinstance(aux_k, numbers.Integral) or aux_k < 1:
        raise ValueError(
            f"aux_k, the units of the auxiliary code, must be an integer >= 1 or "
            f"None, got {aux_k!r}"
        )
    if activation != "topk":
        raise ValueError(f"aux_k {_auxiliary_needs_topk('activation', activation)}")
    if output != "linear" or loss != "squared":
        raise ValueError(
            f"aux_k needs output='linear' and loss='squared', got output={output!r} "
            f"and loss={loss!r}"
        )
    _real(aux_weight, "aux_weight")
    if not (aux_weight > 0 and np.isfinite(aux_weight)):
        raise ValueError(f"aux_weight must be a finite number > 0, got {aux_weight!r}")
    if dead is not None:
        dead = np.asarray(dead)
        if dead.dtype != bool or dead.ndim != 1:
            raise ValueError(
                f"dead must be a 1-D boolean array, one flag per hidden unit, got "
                f"{dead.dtype} of shape {dead.shape}"
            )


# Why the auxiliary loss refuses a hidden unit other than top-k
# (docs/derivation.md#auxiliary-loss): u of eq. (15) would always be 0.
_AUXILIARY_REFUSED = {
    "relu": "a dead ReLU unit has no positive pre-activation for the auxiliary "
    "code to use, so the term could not revive it",
    "sigmoid": "a sigmoid unit is never silent (a2 > 0), so the auxiliary code "
    "would have no unit to use",
}


def _auxiliary_needs_topk(name, activation):
    """``needs <name>='topk', got <name>=<activation>: <why>``, for aux_k's errors."""
    why = _AUXILIARY_REFUSED.get(activation)
    return f"needs {name}='topk', got {name}={activation!r}" + (
        f": {why}" if why else ""
    )


def _check_activation(activation, k, penalty):
    """The hidden unit and what it allows (docs/derivation.md#relu-topk)."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}"
        )
    if activation == "relu" and penalty == "kl":
        raise ValueError(
            "activation='relu' needs penalty='l1' or 'squared', got penalty='kl': "
            "the KL penalty is defined for mean activations in (0, 1) and ReLU "
            "units are unbounded"
        )
    if activation == "topk" and (
        isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1
    ):
        raise ValueError(
            f"activation='topk' needs k, the units kept per sample, an integer "
            f">= 1, got k={k!r}"
        )


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")


def encode(
    params: Params, X: np.ndarray, activation: str = "sigmoid", k: int | None = None
) -> np.ndarray:
    """Hidden activations ``a2 = f(X W1ᵀ + b1)``, eq. (1).

    ``activation`` and ``k`` are those of :func:`evaluate`
    (:mod:`sparseae.core.activations`).

    Returns
    -------
    ndarray of shape (n_samples, n_hidden)
    """
    a2 = X @ params.W1.T
    a2 += params.b1
    if activation != "sigmoid":
        return activate_(a2, activation, k)
    from scipy.special import expit  # 0.5 s to import: only when first used

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


def _check_data(params: Params, X):
    """``X`` as a float array or CSR matrix of the right shape, finite."""
    if hasattr(X, "tocsr"):  # a SciPy sparse matrix or array: rows are sliced
        X = X.tocsr()
        values = X.data
    else:
        X = values = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != params.n_features or X.shape[0] == 0:
        raise ValueError(
            f"X must have shape (n_samples >= 1, {params.n_features}) to match W1 of "
            f"shape {params.W1.shape}, got {X.shape}"
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
        values = X.data if hasattr(X, "tocsr") else X
    # A sum is finite for nearly all finite data and costs no memory; only
    # data that fail it are searched.
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(values.sum()):
            n_bad = int(np.count_nonzero(~np.isfinite(values)))
            if n_bad:
                raise ValueError(
                    f"X contains {n_bad} NaN or infinite values; the objective "
                    "needs finite numbers"
                )
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
    activation: str = "sigmoid",
    k: int | None = None,
    aux_k: int | None = None,
    aux_weight: float = 1 / 32,
    dead: np.ndarray | None = None,
    compute_grad: bool = True,
    previous_rho_hat: np.ndarray | None = None,
    rho_decay: float = 0.0,
    block_rows: int | None = None,
) -> Evaluation:
    """Evaluate the objective, and optionally its gradient.

    Computation happens in the data's floating type (float32 or float64; any
    other type is converted to float64); parameters of another type are cast.
    Rows are taken in blocks of ``block_rows`` on as many threads as the BLAS
    may use (see :mod:`threadpoolctl`), with sums of the loss in float64, in
    one pass with the sums of ``docs/derivation.md`` eq. (11); the blocks'
    sums add up in a fixed order (:func:`~sparseae.core.partial_sums.block_sums`),
    so the result is the same to the last bit on any number of threads, and
    the same as :func:`sparseae.core.chunked.evaluate_chunks` over chunks of a
    multiple of ``block_rows`` rows, or a Dask evaluation
    (:mod:`sparseae.distributed`).

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
    activation : {"sigmoid", "relu", "topk"}, default="sigmoid"
        Hidden unit f (:mod:`sparseae.core.activations`); relu needs the
        l1 or squared penalty, topk has no sparsity term.
    k : int or None, default=None
        Units kept per sample by topk.
    aux_k : int or None, default=None
        With topk units, a linear output and the squared error: adds the
        auxiliary loss for dead units of ``docs/derivation.md`` eq. (15), the
        reconstruction error of a2 + u, u the ReLU of the ``aux_k`` largest
        pre-activations of each sample among the ``dead`` units its code
        leaves silent; in [1, n_hidden).  Refused with relu units, whose dead
        units have no positive pre-activation for u to use.  None: no such
        term.
    aux_weight : float, default=1/32
        α, the weight of the auxiliary loss, > 0 (Gao et al.'s 1/32).
    dead : array-like of bool, shape (n_hidden,), or None, default=None
        The dead units of the auxiliary loss, held fixed during the
        evaluation; None when no unit is dead.
    compute_grad : bool, default=True
        Whether to back-propagate.
    previous_rho_hat : ndarray of shape (n_hidden,) or None, default=None
        For a minibatch with a running estimate of ρ̂: the estimate after the
        previous batch.  The sparsity term and s of eq. (7) are then evaluated
        at ``rho_decay * previous_rho_hat + (1 - rho_decay) * ρ̂``
        (:mod:`sparseae.core.sparsity`).
    rho_decay : float, default=0.0
        α of the running estimate, in [0, 1]; 0 uses the rows' own ρ̂.
    block_rows : int, optional
        Rows per block; by default a function of the shape
        (:func:`sparseae.core.kernel.default_block_rows`).

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
        activation=activation,
        k=k,
        aux_k=aux_k,
        aux_weight=aux_weight,
        dead=dead,
    )
    X = _check_data(params, X)
    _check_rho_policy(previous_rho_hat, rho_decay, params.n_hidden)
    _check_dead(settings, params.n_hidden)
    if params.dtype != X.dtype:
        params = params.astype(X.dtype)
    return _evaluate(
        params,
        X,
        settings,
        compute_grad=compute_grad,
        previous_rho_hat=previous_rho_hat,
        rho_decay=rho_decay,
        block_rows=block_rows,
    )


def _evaluate(
    params: Params,
    X: np.ndarray,
    settings: Settings,
    *,
    compute_grad: bool = True,
    previous_rho_hat: np.ndarray | None = None,
    rho_decay: float = 0.0,
    block_rows: int | None = None,
) -> Evaluation:
    """:func:`evaluate` on checked input: the hot path of training loops.

    ``X`` is a 2-D float32 or float64 array with at least one row, ``params``
    in its floating type, ``settings`` from :func:`make_settings`; nothing is
    checked again.
    """
    total = block_sums(params, settings, X, grad=compute_grad, block_rows=block_rows)
    return finish_sums(
        total,
        params,
        settings,
        previous_rho_hat=previous_rho_hat,
        rho_decay=rho_decay,
    )


def _check_dead(settings, n_hidden):
    if settings.aux_k is None:
        return
    if settings.aux_k >= n_hidden:
        raise ValueError(
            f"aux_k must be < n_hidden={n_hidden}, got aux_k={settings.aux_k}"
        )
    if settings.dead is not None and settings.dead.shape != (n_hidden,):
        raise ValueError(
            f"dead must have shape ({n_hidden},), one flag per hidden unit, got "
            f"{settings.dead.shape}"
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


def make_settings(**hyperparameters) -> Settings:
    """Check keyword hyperparameters of :func:`evaluate` once and bundle them.

    Parameters
    ----------
    **hyperparameters
        ``sparsity_target``, ``sparsity_weight``, ``weight_decay`` and
        optionally ``penalty``, ``output``, ``loss``, ``activation``, ``k``,
        ``aux_k``, ``aux_weight``, ``dead``, as for :func:`evaluate`.  With
        ``activation="topk"`` the sparsity term is dropped (β = 0): k makes
        the codes sparse.

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
    hyper |= {"activation": "sigmoid", "k": None}
    hyper |= {"aux_k": None, "aux_weight": 1 / 32, "dead": None}
    hyper.update(hyperparameters)
    check_hyperparameters(**hyper)
    beta, penalty = hyper["sparsity_weight"], hyper["penalty"]
    if hyper["activation"] == "topk":
        # k alone makes the codes sparse: no sparsity term (β = 0; the L1
        # penalty, finite for any ρ̂ >= 0, so that 0 × P stays 0).
        beta, penalty = 0.0, "l1"
    return Settings(
        rho=hyper["sparsity_target"],
        beta=beta,
        lam=hyper["weight_decay"],
        penalty=get_penalty(penalty),
        output=hyper["output"],
        loss=hyper["loss"],
        activation=hyper["activation"],
        k=hyper["k"] if hyper["activation"] == "topk" else None,
        aux_k=hyper["aux_k"],
        aux_weight=hyper["aux_weight"],
        dead=None if hyper["dead"] is None else np.asarray(hyper["dead"]),
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
    activation: str = "sigmoid",
    k: int | None = None,
    aux_k: int | None = None,
    aux_weight: float = 1 / 32,
    dead: np.ndarray | None = None,
) -> tuple[float, Params]:
    """Objective J of ``docs/derivation.md`` eq. (3) and its gradient.

    Parameters are those of :func:`evaluate`.

    Returns
    -------
    loss : float
        J = reconstruction + weight decay + β · penalty (+ the auxiliary loss).
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
        activation=activation,
        k=k,
        aux_k=aux_k,
        aux_weight=aux_weight,
        dead=dead,
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
    activation: str = "sigmoid",
    k: int | None = None,
    aux_k: int | None = None,
    aux_weight: float = 1 / 32,
    dead: np.ndarray | None = None,
) -> LossTerms:
    """The terms of J separately, for reporting; no gradient is computed.

    Parameters are those of :func:`evaluate`.

    Returns
    -------
    LossTerms
        ``reconstruction``, ``weight_decay``, ``sparsity``, ``auxiliary``;
        ``.total`` is J.
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
        activation=activation,
        k=k,
        aux_k=aux_k,
        aux_weight=aux_weight,
        dead=dead,
        compute_grad=False,
    ).terms
