"""What the report says of each hidden unit, in the terms its activation has.

:func:`sparseae.metrics.summarize` counts a unit *dead* when it is never
above the threshold (0.5 for sigmoid units) and *saturated* when it is above
it on more than 90% of the inputs.  For a sigmoid unit that reaches its target
ρ ≈ 0.05 by being mostly below 0.5, "never above 0.5" is no fault, so the
report calls such a unit *quiet* and keeps *dead* for a unit whose largest
activation over the data is negligible (below :data:`NEGLIGIBLE` for sigmoid
units, exactly 0 for ReLU and top-k).  For ReLU and top-k units there is no
target ρ and no KL, and "saturated" is named for what it measures: active on
more than 90% of the inputs.
"""

from __future__ import annotations

import numpy as np

from ..metrics import dense_rows
from .images import histogram_bars

__all__ = ["NEGLIGIBLE", "cards", "notions", "unit_histograms"]

# A sigmoid unit whose largest activation over the data is below this is dead.
NEGLIGIBLE = 1e-3
# Activations transformed at a time when counting the report's own histograms.
CHUNK_ELEMENTS = 2**20


def notions(summary, *, hidden_activation=None, k=None) -> dict:
    """The report's unit vocabulary for one model, from its summary.

    Parameters
    ----------
    summary : dict
        :func:`sparseae.metrics.summarize` with ``top_inputs`` (``top_k >= 1``).
    hidden_activation : str, optional
        Default ``summary["hidden_activation"]``.
    k : int, optional
        Units kept per sample, for ``"topk"``.

    Returns
    -------
    dict
        ``"target"`` (whether ρ and KL apply), ``"maxima"`` (each unit's
        largest activation), ``"dead"`` and ``"quiet"`` (``{"count",
        "indices"}``; quiet is None when it is not a separate notion),
        ``"busy"`` (summarize's saturated units) with the words for each.

    Examples
    --------
    >>> summary = {"hidden_activation": "sigmoid", "threshold": 0.5,
    ...            "n_components": 2, "dead_units": {"count": 2, "indices": [0, 1]},
    ...            "saturated_units": {"count": 0, "indices": []},
    ...            "top_inputs": {"activations": [[0.3], [1e-5]]}}
    >>> facts = notions(summary)
    >>> facts["dead"]["indices"], facts["quiet"]["indices"]
    ([1], [0, 1])
    """
    activation = hidden_activation or summary["hidden_activation"]
    sigmoid = activation == "sigmoid"
    maxima = np.array(
        [
            values[0] if len(values) else 0.0
            for values in summary["top_inputs"]["activations"]
        ],
        dtype=np.float64,
    )
    dead = np.flatnonzero(maxima < NEGLIGIBLE if sigmoid else maxima <= 0)
    threshold = f"{summary['threshold']:g}"
    facts = {
        "sigmoid": sigmoid,
        "target": sigmoid,
        "k": k if activation == "topk" else None,
        "maxima": maxima.tolist(),
        "dead": {"count": len(dead), "indices": dead.tolist()},
        "dead_rule": (
            f"largest activation over the data below {NEGLIGIBLE:g}"
            if sigmoid
            else "every activation is 0"
        ),
        "quiet": summary["dead_units"] if sigmoid else None,
        "quiet_rule": f"never above {threshold}",
        "busy": summary["saturated_units"],
        "busy_name": "saturated" if sigmoid else "always on",
        "busy_rule": (
            f"above {threshold} on more than 90% of inputs"
            if sigmoid
            else "active (above 0) on more than 90% of inputs"
        ),
    }
    if facts["k"] is not None:
        facts["k_fraction"] = facts["k"] / int(summary["n_components"])
    return facts


def unit_histograms(model, X, maxima, bins) -> np.ndarray:
    """Each unit's activation counts in ``bins`` equal bins of [0, its maximum].

    For units whose activations are not bounded by 1 (ReLU, top-k), where
    summarize's bins over [0, 1] would pile everything into the last one.
    Returns an int array of shape (n_components, bins).
    """
    maxima = np.asarray(maxima, dtype=np.float64)
    n_components = len(maxima)
    scale = np.where(maxima > 0, maxima, 1.0)
    offsets = np.arange(n_components) * bins
    counts = np.zeros(n_components * bins, dtype=np.int64)
    chunk_size = max(1, CHUNK_ELEMENTS // max(X.shape[1], n_components))
    for start in range(0, X.shape[0], chunk_size):
        codes = np.asarray(
            model.transform(dense_rows(X, slice(start, start + chunk_size))),
            np.float64,
        )
        index = np.clip(np.floor(codes / scale * bins).astype(np.int64), 0, bins - 1)
        counts += np.bincount((index + offsets).ravel(), minlength=counts.size)
    return counts.reshape(n_components, bins)


def cards(summary, facts, filter_images, top_images, top_k, *, counts, width, height):
    """What each unit's card shows, from the summary and the unit's pictures.

    ``counts`` are the histogram counts drawn, over [0, 1] for sigmoid units
    and over [0, the unit's maximum] otherwise.  A card lists only the top
    inputs with an activation above 0 (``top_images`` draws those).
    """
    dead = set(facts["dead"]["indices"])
    quiet = set(facts["quiet"]["indices"]) if facts["quiet"] else set()
    busy = set(facts["busy"]["indices"])
    result = []
    for j in range(int(summary["n_components"])):
        rows = summary["top_inputs"]["indices"][j][:top_k]
        values = summary["top_inputs"]["activations"][j][:top_k]
        # Inputs at activation 0 do not activate the unit: they are only the
        # first rows of X, after the few (or none) that do.
        top_inputs = [
            (row, value) for row, value in zip(rows, values, strict=True) if value > 0
        ]
        maximum = facts["maxima"][j]
        end = 1.0 if facts["sigmoid"] else (maximum if maximum > 0 else 1.0)
        result.append(
            {
                "index": j,
                "rho_hat": summary["rho_hat"][j],
                "active_fraction": summary["active_fraction"][j],
                "kl": summary["kl"][j],
                "dead": j in dead,
                "quiet": j in quiet and j not in dead,
                "saturated": j in busy,
                "silent": maximum <= 0,
                "filter": filter_images[j],
                "top": top_images[j],
                "top_inputs": top_inputs,
                # Fewer inputs activate the unit than the card has room for.
                "only_these": len(top_inputs) < len(rows),
                "bars": histogram_bars(counts[j], width=width, height=height),
                "end": end,
                "rho_hat_x": _x(summary["rho_hat"][j] / end, width),
                "threshold_x": _x(summary["threshold"] / end, width),
            }
        )
    return result


def _x(fraction, width) -> float:
    return round(float(np.clip(fraction, 0.0, 1.0)) * width, 1)
