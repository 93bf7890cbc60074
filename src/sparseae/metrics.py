"""What a fitted autoencoder learned, measured on data: per-unit and overall figures.

:func:`summarize` reads ``X`` once, in chunks of rows, so an array far larger
than memory (an ``np.memmap``) costs only a chunk's worth of activations at a
time.  It needs only a fitted model's public API (``transform``,
``inverse_transform``, ``n_components``, ``sparsity_target`` and, when it has
one, ``hidden_activation``), so it measures any estimator that has those.

Notation: ``a_j(x)`` is unit j's activation for input ``x`` (``transform``),
``x̂`` the reconstruction (``inverse_transform`` of the activations), ``ρ`` the
sparsity target and ``ρ̂_j`` the mean of ``a_j`` over ``X``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = [
    "DEFAULT_QUANTILES",
    "SATURATED_FRACTION",
    "default_threshold",
    "dense_rows",
    "summarize",
]

# ρ̂ quantiles reported: the extremes, the quartiles and the 5% tails.
DEFAULT_QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
# A unit above its threshold on more than this fraction of the inputs is
# saturated: it no longer tells inputs apart.
SATURATED_FRACTION = 0.9
# Elements of X, of the activations and of the reconstructions held per chunk
# (each): 4 Mi float64 values are 32 MiB.
CHUNK_ELEMENTS = 1 << 22
# KL(ρ ‖ ρ̂) is infinite at ρ̂ ∈ {0, 1}; ρ̂ is clipped this far inside so the
# figure stays finite (and JSON-serialisable) for a dead unit.
KL_CLIP = 1e-12


def default_threshold(hidden_activation: str) -> float:
    """The activation above which a unit counts as active.

    Parameters
    ----------
    hidden_activation : str
        ``"sigmoid"`` (never exactly 0: active above 0.5, the midpoint), or an
        activation that outputs exact zeros (``"relu"``, ``"topk"``: active
        above 0).

    Returns
    -------
    float

    Examples
    --------
    >>> default_threshold("sigmoid"), default_threshold("relu")
    (0.5, 0.0)
    """
    return 0.5 if hidden_activation == "sigmoid" else 0.0


def dense_rows(X, index) -> np.ndarray:
    """``X[index]`` as a NumPy array, whatever holds ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        An ndarray, an ``np.memmap``, or a SciPy sparse matrix or array (CSR
        or CSC, as ``fit`` and ``transform`` take), which is made dense only
        for the rows asked for.
    index : slice or array of int
        Rows.

    Returns
    -------
    ndarray of shape (n_rows, n_features)

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> dense_rows(sp.csr_matrix(np.eye(3)), slice(1, 3)).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    rows = X[index]
    # SciPy's sparse matrices and arrays; NumPy would wrap them in an object array.
    return rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)


def summarize(
    model,
    X,
    *,
    threshold=None,
    quantiles=DEFAULT_QUANTILES,
    top_k=0,
    bins=0,
    chunk_size=None,
) -> dict:
    """Measure a fitted autoencoder's hidden units and reconstructions on ``X``.

    A unit is *active* on an input when its activation is strictly above
    ``threshold``.  A unit is *dead* when it is active on no input of ``X``,
    and *saturated* when it is active on more than 90% of them
    (:data:`SATURATED_FRACTION`).

    Parameters
    ----------
    model : SparseAutoencoder
        Fitted.  Read through ``transform``, ``inverse_transform``,
        ``n_components``, ``sparsity_target`` and
        ``getattr(model, "hidden_activation", "sigmoid")``.
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Data, e.g. the training set; an ``np.memmap`` is read chunk by chunk,
        a SciPy sparse matrix made dense a chunk at a time.
    threshold : float or None, default=None
        Activation above which a unit is active; ``None`` is
        :func:`default_threshold` of the model's hidden activation (0.5 for
        sigmoid units).
    quantiles : sequence of float, default=DEFAULT_QUANTILES
        Quantiles of ρ̂ over the units to report, each in [0, 1].
    top_k : int, default=0
        When positive, also find the ``top_k`` inputs that activate each unit
        most.
    bins : int, default=0
        When positive, also count each unit's activations in ``bins`` equal
        bins spanning [0, 1]; activations above 1 (possible for units that are
        not sigmoid) count in the last bin.
    chunk_size : int or None, default=None
        Rows per chunk; ``None`` keeps each chunk's arrays near 32 MiB.  The
        result does not depend on it beyond rounding.

    Returns
    -------
    dict
        JSON-serialisable, with keys

        - ``"n_samples"``, ``"n_components"``, ``"hidden_activation"``,
          ``"threshold"``, ``"sparsity_target"`` (ρ);
        - ``"l0"``: mean over inputs of the number of active units;
        - ``"dead_units"``, ``"saturated_units"``: each ``{"count": int,
          "indices": list of int}``;
        - ``"fvu"``: fraction of variance unexplained,
          ``Σ‖x − x̂‖² / Σ‖x − x̄‖²`` (x̄ the mean input; NaN when X is
          constant);
        - ``"reconstruction_error"``: ``Σ‖x − x̂‖² / n_samples``;
        - ``"mean_activation"``: mean of all activations (mean of ρ̂);
        - ``"rho_hat_quantiles"``: ``{f"{q:g}": quantile of ρ̂}``;
        - ``"rho_hat"``: list of n_components floats, ρ̂_j;
        - ``"active_fraction"``: list, fraction of inputs on which unit j is
          active;
        - ``"kl"``: list, ``KL(ρ ‖ ρ̂_j) = ρ log(ρ/ρ̂_j) + (1−ρ)
          log((1−ρ)/(1−ρ̂_j))`` with ρ̂_j clipped into [1e-12, 1 − 1e-12],
          and ``"kl_total"``, their sum;
        - when ``top_k > 0``, ``"top_inputs"``: ``{"indices": ..., "activations":
          ...}``, each a list of n_components lists of ``min(top_k,
          n_samples)`` items, most active first (ties: lower row first);
        - when ``bins > 0``, ``"histograms"``: ``{"edges": list of bins + 1
          floats, "counts": list of n_components lists of bins ints}``.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D with at least one row, or a parameter is out of
        range.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sparseae import SparseAutoencoder
    >>> X = np.random.default_rng(0).uniform(size=(40, 9))
    >>> model = SparseAutoencoder(4, max_iter=5, random_state=0)
    >>> with warnings.catch_warnings(action="ignore"):
    ...     _ = model.fit(X)
    >>> summary = summarize(model, X, chunk_size=16)
    >>> summary["n_samples"], len(summary["rho_hat"]), summary["threshold"]
    (40, 4, 0.5)
    >>> 0 < summary["fvu"] < 2
    True
    """
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    if len(X.shape) != 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) with at least one row, got "
            f"shape {X.shape}"
        )
    hidden_activation = getattr(model, "hidden_activation", "sigmoid")
    if threshold is None:
        threshold = default_threshold(hidden_activation)
    elif isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise ValueError(f"threshold must be a real number, got {threshold!r}")
    quantiles = np.asarray(quantiles, dtype=np.float64)
    if quantiles.ndim != 1 or np.any((quantiles < 0) | (quantiles > 1)):
        raise ValueError(
            f"quantiles must be a sequence of numbers in [0, 1], got {quantiles}"
        )
    top_k = _count("top_k", top_k, low=0)
    bins = _count("bins", bins, low=0)
    n_samples, n_features = X.shape
    n_components = int(model.n_components)
    if chunk_size is None:
        chunk_size = max(1, CHUNK_ELEMENTS // max(n_features, n_components))
    chunk_size = _count("chunk_size", chunk_size, low=1)

    activation_sum = np.zeros(n_components)
    active_count = np.zeros(n_components, dtype=np.int64)
    squared_error = 0.0
    # Per-feature count, mean and sum of squared deviations, merged chunk by
    # chunk (Chan, Golub and LeVeque's pairwise update), so Σ‖x − x̄‖² comes
    # from one pass without the cancellation of Σx² − n x̄².  The moments are
    # of x − x₀ (x₀ the first row), which has the same deviations: a constant
    # feature is then exactly 0 and adds exactly 0, where its rounded mean
    # would leave ~1e-33 and make the FVU of constant data ~1e31, not NaN.
    seen, mean, m2 = 0, np.zeros(n_features), np.zeros(n_features)
    shift = dense_rows(X, slice(0, 1)).astype(np.float64)  # (1, n_features)
    top = _TopK(n_components, top_k) if top_k else None
    counts = np.zeros((n_components, bins), dtype=np.int64) if bins else None
    for start in range(0, n_samples, chunk_size):
        chunk = dense_rows(X, slice(start, start + chunk_size))
        codes = model.transform(chunk)  # (rows, n_components)
        reconstruction = model.inverse_transform(codes)  # (rows, n_features)
        chunk = chunk.astype(np.float64, copy=False)
        codes = np.asarray(codes, dtype=np.float64)
        activation_sum += codes.sum(axis=0)
        active_count += np.count_nonzero(codes > threshold, axis=0)
        squared_error += float(np.square(chunk - reconstruction).sum())
        seen, mean, m2 = _merge_moments(seen, mean, m2, chunk - shift)
        if top is not None:
            top.update(codes, start)
        if counts is not None:
            counts += _histograms(codes, bins)

    rho = float(model.sparsity_target)
    rho_hat = activation_sum / n_samples
    active_fraction = active_count / n_samples
    clipped = np.clip(rho_hat, KL_CLIP, 1 - KL_CLIP)
    kl = rho * np.log(rho / clipped) + (1 - rho) * np.log((1 - rho) / (1 - clipped))
    total_variance = float(m2.sum())
    dead = np.flatnonzero(active_count == 0)
    saturated = np.flatnonzero(active_fraction > SATURATED_FRACTION)
    summary = {
        "n_samples": int(n_samples),
        "n_components": n_components,
        "hidden_activation": str(hidden_activation),
        "threshold": float(threshold),
        "sparsity_target": rho,
        "l0": float(active_count.sum() / n_samples),
        "dead_units": {"count": len(dead), "indices": dead.tolist()},
        "saturated_units": {"count": len(saturated), "indices": saturated.tolist()},
        "fvu": squared_error / total_variance if total_variance > 0 else math.nan,
        "reconstruction_error": squared_error / n_samples,
        "mean_activation": float(rho_hat.mean()),
        "rho_hat_quantiles": {
            f"{q:g}": float(v)
            for q, v in zip(quantiles, np.quantile(rho_hat, quantiles), strict=True)
        },
        "rho_hat": rho_hat.tolist(),
        "active_fraction": active_fraction.tolist(),
        "kl": kl.tolist(),
        "kl_total": float(kl.sum()),
    }
    if top is not None:
        summary["top_inputs"] = top.result()
    if counts is not None:
        summary["histograms"] = {
            "edges": np.linspace(0.0, 1.0, bins + 1).tolist(),
            "counts": counts.tolist(),
        }
    return summary


def _count(name, value, *, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _merge_moments(n_a, mean_a, m2_a, chunk):
    n_b = len(chunk)
    mean_b = chunk.mean(axis=0)
    m2_b = np.square(chunk - mean_b).sum(axis=0)
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + np.square(delta) * (n_a * n_b / n)
    return n, mean, m2


def _histograms(codes, bins):
    """Per-unit counts of ``codes`` in ``bins`` equal bins of [0, 1].

    Returns an int array of shape (n_components, bins); values outside [0, 1]
    count in the first or last bin.
    """
    n_components = codes.shape[1]
    index = np.clip(np.floor(codes * bins).astype(np.int64), 0, bins - 1)
    # One bincount over all units: unit j's bins are j*bins ... j*bins + bins-1.
    index += np.arange(n_components) * bins
    flat = np.bincount(index.ravel(), minlength=n_components * bins)
    return flat.reshape(n_components, bins)


class _TopK:
    """The ``k`` largest activations of each unit so far, and their rows."""

    def __init__(self, n_components, k):
        self.k = k
        self.values = np.empty((n_components, 0))
        self.rows = np.empty((n_components, 0), dtype=np.int64)

    def update(self, codes, start):
        values = np.concatenate([self.values, codes.T], axis=1)
        rows = np.concatenate(
            [
                self.rows,
                np.broadcast_to(
                    np.arange(start, start + len(codes)), (len(values), len(codes))
                ),
            ],
            axis=1,
        )
        k = min(self.k, values.shape[1])
        # The k-th largest value of each unit, in linear time; only values at
        # or above it (usually k, more when they tie) need sorting.
        kth = -np.partition(-values, k - 1, axis=1)[:, k - 1 : k]
        keep_values = np.empty((len(values), k))
        keep_rows = np.empty((len(values), k), dtype=np.int64)
        for unit, candidates in enumerate(values >= kth):
            (index,) = np.nonzero(candidates)
            # Kept rows come before the chunk's and both are in row order, so
            # a stable sort breaks ties by the lower row whatever the chunks.
            order = index[np.argsort(-values[unit, index], kind="stable")[:k]]
            keep_values[unit] = values[unit, order]
            keep_rows[unit] = rows[unit, order]
        self.values, self.rows = keep_values, keep_rows

    def result(self):
        return {"indices": self.rows.tolist(), "activations": self.values.tolist()}
