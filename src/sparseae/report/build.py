"""Build the self-contained HTML report of a fitted autoencoder on data.

The page is rendered by Jinja2 from ``templates/report.html.j2``; every
picture is inline (PNG ``data:`` URIs, SVG), styles and the few lines of
paging script are in the page, so the file can be mailed or archived alone and
opening it makes no request.  The model is read only through its public API
(the fitted weights, ``transform``, ``inverse_transform``, ``get_params``,
``history_``), as :func:`sparseae.metrics.summarize` reads it.
"""

from __future__ import annotations

import datetime
import functools
import math
import platform
import time
from numbers import Integral

import numpy as np

from .._version import __version__
from ..metrics import dense_rows, summarize
from .images import ImageLayout, diverging, grey, grid, png_data_uri

__all__ = ["build_report", "model_html"]

# Size of a unit card's activation histogram, in SVG units.
HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT = 160, 44
# Rows of X sampled to choose the grey scale of inputs that are not in [0, 1].
RANGE_SAMPLE = 2000
# Grey level between the top inputs of a grid, and of its empty places.
GRID_FILL = 96
# Screen pixels of one input in a strip of top inputs (data that are not images).
STRIP_ROW = 6


@functools.cache
def _environment():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sparseae.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["g"] = _format_number
    return environment


def _format_number(value, digits=4):
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return value
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if math.isnan(value):
        # The FVU of data that do not vary, say: a word, not "nan".
        return "undefined"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


def build_report(
    model,
    X,
    *,
    history=None,
    config=None,
    image_shape=None,
    top_k=9,
    bins=20,
    units_per_page=50,
    n_reconstructions=8,
    summary=None,
    title=None,
) -> str:
    """Render the HTML report of a fitted autoencoder measured on ``X``.

    Parameters
    ----------
    model : SparseAutoencoder
        Fitted.
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Data to measure the units on, e.g. the training set; an ``np.memmap``
        is read in chunks, a SciPy sparse matrix made dense a chunk at a time.
    history : mapping of str to list, optional
        Training curves (keys ``"loss"``, ``"reconstruction"``,
        ``"weight_decay"``, ``"sparsity"``, ``"mean_activation"``,
        ``"time"``); default ``model.history_``.
    config : mapping, optional
        The run's configuration, shown as given (nested mappings as nested
        tables); default the model's ``get_params()``.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` of a sample.  ``None`` draws samples and filters as
        square images when ``n_features`` is a square number, and as heat
        maps otherwise.
    top_k : int, default=9
        Inputs shown on each unit's card: those that activate it most.
    bins : int, default=20
        Bins of each unit's activation histogram, over [0, 1].
    units_per_page : int, default=50
        Unit cards shown at a time; all are in the page, the rest hidden
        until their page is chosen.
    n_reconstructions : int, default=8
        Inputs, evenly spaced through ``X``, shown beside their
        reconstructions.
    summary : dict, optional
        :func:`sparseae.metrics.summarize` of ``model`` on ``X`` computed with
        the same ``top_k`` and ``bins``, to save a second pass over ``X``.
    title : str, optional
        Heading of the page.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> import warnings
    >>> from sparseae import SparseAutoencoder
    >>> X = np.random.default_rng(0).uniform(size=(30, 16))
    >>> model = SparseAutoencoder(4, max_iter=3, random_state=0)
    >>> with warnings.catch_warnings(action="ignore"):
    ...     _ = model.fit(X)
    >>> html = build_report(model, X, top_k=3)
    >>> html.startswith("<!DOCTYPE html>"), html.count('class="card')
    (True, 4)
    """
    if _is_stacked(model):
        raise TypeError(
            f"build_report takes a SparseAutoencoder, got a {type(model).__name__}; "
            "use build_stacked_report (or write_report) for a stacked model"
        )
    started = time.perf_counter()
    check_fitted(model, "components_")
    top_k = check_count("top_k", top_k, 1)
    bins = check_count("bins", bins, 1)
    units_per_page = check_count("units_per_page", units_per_page, 1)
    n_reconstructions = check_count("n_reconstructions", n_reconstructions, 0)
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    n_features = int(model.n_features_in_)
    if len(X.shape) != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X must have shape (n_samples, {n_features}) for a model with "
            f"{n_features} inputs, got {X.shape}"
        )
    if not _covers(summary, top_k, bins):
        summary = summarize(model, X, top_k=top_k, bins=bins)
    if history is None:
        history = getattr(model, "history_", None) or {}
    layout = ImageLayout(n_features, image_shape)
    low, high = _data_range(model, X)

    filter_images = _unit_filters(model.components_, layout)
    top_images = _top_inputs(X, summary["top_inputs"], layout, low, high)
    from .figures import curves_figure, rho_hat_figure
    from .units import notions, unit_histograms

    hidden_activation = getattr(model, "hidden_activation", "sigmoid")
    facts = notions(summary, hidden_activation=hidden_activation, k=model_k(model))
    counts = None
    if not facts["sigmoid"]:
        counts = unit_histograms(model, X, facts["maxima"], bins)
    sizes = _display_sizes(layout, len(summary["top_inputs"]["indices"][0]))
    cards = _cards(summary, facts, filter_images, top_images, top_k, sizes, counts)
    pages = _pages(cards, units_per_page)
    target = float(model.sparsity_target) if facts["target"] else None

    context = {
        "title": title
        or f"sparseae report: {n_features} inputs, {model.n_components} hidden units",
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "model": _model_facts(model, history),
        "config": config if config is not None else _params(model),
        "units": facts,
        "data": {
            "samples": int(X.shape[0]),
            "features": n_features,
            "drawn as": _describe_layout(layout),
        },
        "versions": _versions(),
        "summary": summary,
        "fvu_undefined": math.isnan(summary["fvu"]),
        "filters": _filter_grid(model.components_, layout),
        "filters_are_images": layout.is_image,
        "sizes": sizes,
        "curves": curves_figure(history, target, step=_step(model)),
        "rho_hat_plot": rho_hat_figure(summary["rho_hat"], target),
        "rho_hat_zero": sum(1 for value in summary["rho_hat"] if value <= 0),
        "reconstructions": _reconstructions(
            model, X, layout, low, high, n_reconstructions
        ),
        "pages": pages,
        "units_per_page": units_per_page,
        "top_k": top_k,
        "histogram": {"width": HISTOGRAM_WIDTH, "height": HISTOGRAM_HEIGHT},
    }
    context["build_seconds"] = time.perf_counter() - started
    return _environment().get_template("report.html.j2").render(context)


def model_html(model, *, image_shape=None) -> str:
    """A fitted model's settings, training summary and filters, as HTML.

    What a notebook shows for a fitted model: no data is needed, so there are
    no unit statistics (see :func:`build_report` for those).

    Parameters
    ----------
    model : SparseAutoencoder
        Fitted.
    image_shape : tuple of int or None, default=None
        As for :func:`build_report`.

    Returns
    -------
    str
        An HTML fragment with its own scoped styles.
    """
    layout = ImageLayout(int(model.n_features_in_), image_shape)
    history = getattr(model, "history_", None) or {}
    context = {
        "model": _model_facts(model, history),
        "config": _params(model),
        "filters": _filter_grid(model.components_, layout),
        "filters_are_images": layout.is_image,
        "kind": "SparseAutoencoder",
        "filters_title": None,
        "weights": "components_",
    }
    return _environment().get_template("model.html.j2").render(context)


def check_fitted(model, attribute) -> None:
    """Refuse a model that has not been fitted, as scikit-learn words it."""
    if not hasattr(model, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet: call fit "
            "before building its report"
        )


def check_count(name, value, low) -> int:
    """``value`` as an int >= ``low`` (NumPy integers too), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _is_stacked(model) -> bool:
    """Whether ``model`` is a StackedAutoencoder, without importing scikit-learn."""
    return hasattr(model, "autoencoders_")


def _covers(summary, top_k, bins) -> bool:
    """Whether a given summary has the top inputs and histograms asked for."""
    if summary is None or "top_inputs" not in summary or "histograms" not in summary:
        return False
    kept = len(summary["top_inputs"]["indices"][0])
    return (
        kept >= min(top_k, summary["n_samples"])
        and len(summary["histograms"]["counts"][0]) == bins
    )


def _cards(summary, facts, filter_images, top_images, top_k, sizes, counts=None):
    """What each unit's card shows (see :func:`.units.cards`).

    ``sizes`` is :func:`_display_sizes`: a strip of top inputs is as tall as
    the inputs it shows.
    """
    from .units import cards

    if counts is None:
        counts = summary["histograms"]["counts"]
    result = cards(
        summary,
        facts,
        filter_images,
        top_images,
        top_k,
        counts=counts,
        width=HISTOGRAM_WIDTH,
        height=HISTOGRAM_HEIGHT,
    )
    width, height = sizes["top"]
    for card in result:
        if "strip_row" in sizes:
            height = sizes["strip_row"] * len(card["top_inputs"])
        card["top_size"] = (width, height)
    return result


def _pages(cards, units_per_page) -> list[list[dict]]:
    return [
        cards[start : start + units_per_page]
        for start in range(0, len(cards), units_per_page)
    ]


def _params(model) -> dict:
    if not hasattr(model, "get_params"):
        return {}
    params = model.get_params(deep=False)
    shown = {}
    for name, value in params.items():
        if name == "dtype":
            value = np.dtype(value).name
        elif not isinstance(value, int | float | str | None):
            value = str(value)
        shown[name] = value
    return shown


def model_k(model):
    """Units kept per sample of a top-k model, else None."""
    if getattr(model, "hidden_activation", "sigmoid") != "topk":
        return None
    return getattr(model, "k", None)


def _step(model) -> str:
    """What one history entry is: a minibatch solver's epoch, or an iteration."""
    return (
        "epoch" if getattr(model, "solver", "lbfgs") in ("sgd", "adam") else "iteration"
    )


def _model_facts(model, history) -> dict:
    activation = getattr(model, "hidden_activation", "sigmoid")
    facts = {
        "shape": f"{model.n_features_in_} inputs → {model.n_components} hidden units",
        "hidden activation": activation,
    }
    k = model_k(model)
    if activation == "sigmoid":
        facts["sparsity target ρ"] = float(model.sparsity_target)
    elif k is not None:
        facts["units kept per sample k"] = int(k)
        facts["k / hidden units"] = k / int(model.n_components)
    facts["epochs" if _step(model) == "epoch" else "iterations"] = getattr(
        model, "n_iter_", None
    )
    for key, label in (
        ("loss", "final objective"),
        ("reconstruction", "final reconstruction term"),
        ("mean_activation", "final mean activation"),
        ("time", "training time (s)"),
    ):
        if history.get(key):
            facts[label] = float(history[key][-1])
    return facts


def _versions() -> dict:
    import matplotlib
    import PIL

    return {
        "sparseae": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "pillow": PIL.__version__,
    }


def _describe_layout(layout) -> str:
    if not layout.is_image:
        return "heat maps (not images)"
    colour = " colour" if layout.n_channels == 3 else ""
    return f"{layout.shape[0]}×{layout.shape[1]}{colour} images"


def _data_range(model, X) -> tuple[float, float]:
    """Grey scale of the inputs: [0, 1] for sigmoid outputs, else X's 0.5-99.5%."""
    if getattr(model, "output_activation", None) == "sigmoid":
        return 0.0, 1.0
    rows = np.unique(
        np.linspace(0, X.shape[0] - 1, min(X.shape[0], RANGE_SAMPLE)).astype(int)
    )
    sample = dense_rows(X, rows).astype(np.float64)
    low, high = np.percentile(sample, [0.5, 99.5])
    return float(low), float(high)


def _scaled_rows(W) -> np.ndarray:
    """Each row of W mapped from its own minimum (0) to maximum (1)."""
    low = W.min(axis=1, keepdims=True)
    span = W.max(axis=1, keepdims=True) - low
    return np.where(span > 0, (W - low) / np.where(span > 0, span, 1.0), 0.5)


def _display_sizes(layout, top_k) -> dict:
    """On-screen (width, height) of a card's pictures and of a reconstruction pair.

    Images are enlarged by a whole factor, so the pixels stay square: a filter
    to about 64 screen pixels, the grid of top inputs to about 160; strips of
    features span the card.
    """
    if not layout.is_image:
        return {
            "filter": (320, 12),
            "top": (320, STRIP_ROW * top_k),
            "strip_row": STRIP_ROW,
            "pair": (320, 16),
        }
    height, width = layout.shape
    scale = max(1, 64 // max(height, width))
    n_cols = math.ceil(math.sqrt(top_k))
    n_rows = math.ceil(top_k / n_cols)
    top_width, top_height = n_cols * (width + 1) + 1, n_rows * (height + 1) + 1
    top_scale = max(1, 160 // max(top_width, top_height))
    return {
        "filter": (width * scale, height * scale),
        "top": (top_width * top_scale, top_height * top_scale),
        "pair": ((2 * (width + 1) + 1) * scale, (height + 2) * scale),
    }


def _filter_grid(components, layout) -> dict:
    W = np.asarray(components, dtype=np.float64)
    if layout.is_image:
        from ..plotting import tile_filters

        tile = tile_filters(W, image_shape=layout.shape, n_channels=layout.n_channels)
        # About 640 pixels across, but no filter above 128 pixels (one unit).
        scale = max(1, min(640 // tile.shape[1], 128 // max(layout.shape)))
        return {
            "uri": png_data_uri(grey(tile, 0.0, 1.0)),
            "width": tile.shape[1] * scale,
            "height": tile.shape[0] * scale,
        }
    return {
        "uri": png_data_uri(diverging(W, float(np.abs(W).max()))),
        "width": 1000,
        "height": min(max(6 * W.shape[0], 60), 600),
    }


def _unit_filters(components, layout) -> list[str]:
    W = np.asarray(components, dtype=np.float64)
    if layout.is_image:
        images = grey(layout.images(_scaled_rows(W)), 0.0, 1.0)
        return [png_data_uri(image) for image in images]
    limits = np.abs(W).max(axis=1)
    return [
        png_data_uri(diverging(w[None, :], limit))
        for w, limit in zip(W, limits, strict=True)
    ]


def _top_inputs(X, top_inputs, layout, low, high) -> list[str | None]:
    """Each unit's top inputs as one picture, None for a unit no input activates.

    Only inputs with an activation above 0 are drawn: a ReLU or top-k unit
    active on fewer inputs than asked for has zeros after them, at rows that
    merely come first in X.  The rest of an image grid is left blank.
    """
    indices = np.asarray(top_inputs["indices"], dtype=np.int64)  # (n_components, k)
    shown = (np.asarray(top_inputs["activations"]) > 0).sum(axis=1)  # (n_components,)
    # Each input is read and drawn once, however many units it tops.
    rows, position = np.unique(indices, return_inverse=True)
    position = position.reshape(indices.shape)
    data = dense_rows(X, rows).astype(np.float64)
    if layout.is_image:
        drawn = grey(layout.images(data), low, high)
        n_cols = math.ceil(math.sqrt(indices.shape[1]))
    else:
        drawn = grey(data, low, high)
    pictures = []
    for unit, count in zip(position, shown, strict=True):
        if not count:
            pictures.append(None)
        elif layout.is_image:
            cells = drawn[unit]  # (k, height, width[, 3]), a copy
            cells[count:] = GRID_FILL
            pictures.append(png_data_uri(grid(cells, n_cols=n_cols, fill=GRID_FILL)))
        else:
            pictures.append(png_data_uri(drawn[unit[:count]]))
    return pictures


def _reconstructions(model, X, layout, low, high, count) -> list[dict]:
    if count == 0:
        return []
    rows = np.unique(np.linspace(0, X.shape[0] - 1, min(X.shape[0], count)).astype(int))
    chosen = dense_rows(X, rows)
    inputs = chosen.astype(np.float64)
    outputs = np.asarray(model.inverse_transform(model.transform(chosen)))
    errors = np.square(inputs - outputs).sum(axis=1)
    pairs = []
    for row, x, x_hat, error in zip(rows, inputs, outputs, errors, strict=True):
        if layout.is_image:
            picture = grid(
                grey(layout.images(np.stack([x, x_hat])), low, high), n_cols=2
            )
        else:
            picture = grey(np.stack([x, x_hat]), low, high)
        pairs.append({"row": int(row), "image": png_data_uri(picture), "error": error})
    return pairs
