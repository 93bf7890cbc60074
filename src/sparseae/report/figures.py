"""The report's Matplotlib figures: training curves and the ρ̂ histogram.

Drawn on :class:`matplotlib.figure.Figure` directly (the Agg canvas, no
``pyplot``), so no global figure, backend or interactive state is touched, and
returned as inline PNG ``data:`` URIs.
"""

from __future__ import annotations

import base64
import io

import numpy as np

__all__ = ["OBJECTIVE_TERMS", "curves_figure", "layer_curves_figure", "rho_hat_figure"]

# The history's objective terms, drawn together on a log scale.
OBJECTIVE_TERMS = ("loss", "reconstruction", "weight_decay", "sparsity", "auxiliary")


def _data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def curves_figure(history, sparsity_target=None, *, step="iteration") -> str | None:
    """Objective terms and mean activation against the iteration, as a PNG URI.

    Parameters
    ----------
    history : mapping of str to sequence of float
        A fitted model's ``history_``: ``"loss"``, ``"reconstruction"``,
        ``"weight_decay"``, ``"sparsity"``, ``"auxiliary"``,
        ``"mean_activation"`` (others are ignored; missing ones, and terms
        zero throughout, are left out).
    sparsity_target : float or None, default=None
        ρ, drawn as a line beside the mean activation; None when the model
        has no target (ReLU, top-k).
    step : str, default="iteration"
        What one entry of the history is, for the x-axis: ``"epoch"`` for
        the minibatch solvers.

    Returns
    -------
    str or None
        ``None`` when the history has no iteration to draw.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    terms = {}
    for name in OBJECTIVE_TERMS:
        values = np.asarray(history.get(name, ()), dtype=np.float64)
        # A term that is zero throughout (no weight decay) has no log.
        if values.size and np.any(np.isfinite(values) & (values > 0)):
            terms[name] = np.where(values > 0, values, np.nan)
    mean_activation = np.asarray(history.get("mean_activation", ()), dtype=np.float64)
    if not terms and not mean_activation.size:
        return None
    # Fixed margins: constrained layout takes a second on a log axis.
    figure = Figure(figsize=(10, 3.4))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.6)
    left, right = figure.subplots(1, 2)
    for name, values in terms.items():
        left.plot(np.arange(1, len(values) + 1), values, label=name.replace("_", " "))
    left.set_yscale("log")
    left.set_title("objective terms")
    if terms:
        # Beside the axes, not over the curves.
        left.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if mean_activation.size:
        iterations = np.arange(1, len(mean_activation) + 1)
        right.plot(iterations, mean_activation, label="mean activation")
    if sparsity_target is not None:
        right.axhline(sparsity_target, color="C3", linestyle="--", label="target ρ")
        right.legend(fontsize="small", loc="best")
    for axes in (left, right):
        axes.set_xlabel(step)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_title("mean activation")
    return _data_uri(figure)


def layer_curves_figure(histories, sparsity_target) -> str | None:
    """Each pretrained layer's objective and mean activation, as a PNG URI.

    Parameters
    ----------
    histories : sequence of mapping of str to sequence of float
        The ``history_`` of each autoencoder of a stack, from the input up.
    sparsity_target : float
        ρ of every layer, drawn as a line beside the mean activations.

    Returns
    -------
    str or None
        ``None`` when no layer has an iteration to draw.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not any(history.get("loss") for history in histories):
        return None
    figure = Figure(figsize=(10, 3.4))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.2)
    left, right = figure.subplots(1, 2)
    for depth, history in enumerate(histories, start=1):
        loss = np.asarray(history.get("loss", ()), dtype=np.float64)
        # History entry i is the state after iteration i + 1.
        iterations = np.arange(1, len(loss) + 1)
        left.plot(iterations, np.where(loss > 0, loss, np.nan), label=f"layer {depth}")
        mean_activation = np.asarray(
            history.get("mean_activation", ()), dtype=np.float64
        )
        right.plot(
            np.arange(1, len(mean_activation) + 1),
            mean_activation,
            label=f"layer {depth}",
        )
    right.axhline(sparsity_target, color="black", linestyle="--", label="target ρ")
    left.set_yscale("log")
    left.set_title("pretraining objective of each layer")
    right.set_title("mean activation of each layer")
    for axes in (left, right):
        axes.set_xlabel("iteration")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize="small")
    return _data_uri(figure)


def rho_hat_figure(rho_hat, sparsity_target=None) -> str:
    """Histogram of the units' mean activations ρ̂ with ρ marked, as a PNG URI.

    The axis is logarithmic when ρ̂ spans more than two decades, as it does
    when some units are nearly dead; units with ρ̂ = 0, which a log axis
    cannot place, are then counted apart in the corner.  ``sparsity_target``
    None (ReLU, top-k) draws no target.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rho_hat = np.asarray(rho_hat, dtype=np.float64)
    figure = Figure(figsize=(5, 3))
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.22, top=0.95)
    axes = figure.add_subplot()
    zero_note = None
    marks = [] if sparsity_target is None else [float(sparsity_target)]
    positive = rho_hat[rho_hat > 0]
    n_zero = int(np.count_nonzero(rho_hat <= 0))
    low = min([*marks, float(positive.min())]) if positive.size else None
    high = max([*marks, float(rho_hat.max())])
    if low is not None and high / max(low, 1e-300) > 100:
        low = max(low, 1e-12)
        counts, _, _ = axes.hist(positive, bins=np.geomspace(low, high, 31))
        axes.set_xscale("log")
        if n_zero:
            # A log axis has no place for 0: those units are counted apart.
            zero_note = f"ρ̂ = 0: {n_zero} unit{'s' if n_zero != 1 else ''} (not drawn)"
    else:
        low = min([*marks, float(rho_hat.min())])
        pad = 0.05 * (high - low) or 0.05 * high or 0.05
        counts, _, _ = axes.hist(
            rho_hat, bins=30, range=(max(low - pad, 0.0), high + pad)
        )
        # Matplotlib's default of up to 9 ticks runs labels such as 0.0525
        # into one another on a narrow range.
        axes.xaxis.set_major_locator(MaxNLocator(nbins=5))
    for mark in marks:
        axes.axvline(mark, color="C3", linestyle="--", label="target ρ")
        # Room above the tallest bar for the legend, which would cover it.
        axes.set_ylim(0, 1.35 * max(counts.max(), 1))
        axes.legend(fontsize="small", loc="upper right")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    label = "mean activation ρ̂ of a unit"
    axes.set_xlabel(f"{label}\n{zero_note}" if zero_note else label)
    axes.set_ylabel("units")
    return _data_uri(figure)
