"""The HTML report of a fitted stacked autoencoder classifier, measured on data.

A :class:`~sparseae.models.stacked.StackedAutoencoder` is several sparse
autoencoders, pretrained one on the activations of the one before, with a
softmax layer on top, then fine-tuned together.  Its report has what applies
to that: the layers' figures (each pretrained autoencoder on its own input,
and every hidden layer of the fine-tuned network on the data), the accuracy
when labels are given, the pretraining curves, the first layer's filters
before and after fine-tuning, and a card per first-layer unit.  Deeper units
read the activations below them, not the inputs, so they have no pictures.
The page is as self-contained as the autoencoder's (:mod:`.build`).
"""

from __future__ import annotations

import copy
import datetime
import time

import numpy as np

from ..core.stacked import stack_forward
from ..metrics import summarize
from .build import (
    HISTOGRAM_HEIGHT,
    HISTOGRAM_WIDTH,
    _cards,
    _data_range,
    _describe_layout,
    _display_sizes,
    _environment,
    _filter_grid,
    _pages,
    _params,
    _top_inputs,
    _unit_filters,
    _versions,
    check_count,
    check_fitted,
)
from .images import ImageLayout

__all__ = ["build_stacked_report", "stacked_model_html"]


class _FineTunedLayer:
    """The fine-tuned network up to one hidden layer, as ``summarize`` reads a model.

    ``transform`` is that layer's activations in the fine-tuned network;
    ``inverse_transform`` decodes them back to the inputs through the
    pretrained decoders, only because ``summarize`` asks for it (its FVU is
    not reported).
    """

    hidden_activation = "sigmoid"

    def __init__(self, model, depth: int):
        self.model, self.depth = model, depth
        self.n_components = model.autoencoders_[depth - 1].n_components
        self.sparsity_target = model.sparsity_target

    def transform(self, X) -> np.ndarray:
        activations, _ = stack_forward(self.model.weights_, self.model.intercepts_, X)
        return activations[self.depth]  # (n_samples, n_components)

    def inverse_transform(self, codes) -> np.ndarray:
        for autoencoder in reversed(self.model.autoencoders_[: self.depth]):
            codes = autoencoder.inverse_transform(codes)
        return codes


def build_stacked_report(
    model,
    X,
    y=None,
    *,
    config=None,
    image_shape=None,
    top_k=9,
    bins=20,
    units_per_page=50,
    title=None,
) -> str:
    """Render the HTML report of a fitted stacked autoencoder measured on ``X``.

    Parameters
    ----------
    model : StackedAutoencoder
        Fitted.
    X : array-like of shape (n_samples, n_features)
        Data to measure the layers on, e.g. the training set.
    y : array-like of shape (n_samples,), optional
        Labels of ``X``; when given, the accuracy before and after
        fine-tuning is reported.
    config : mapping, optional
        The run's configuration, shown as given; default the model's
        ``get_params()``.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` of a sample, as for
        :func:`~sparseae.report.build_report`.
    top_k : int, default=9
        Inputs shown on each first-layer unit's card.
    bins : int, default=20
        Bins of each first-layer unit's activation histogram, over [0, 1].
    units_per_page : int, default=50
        Unit cards shown at a time.
    title : str, optional
        Heading of the page.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> import warnings
    >>> from sparseae.models.stacked import StackedAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.uniform(size=(30, 16)), np.arange(30) % 2
    >>> model = StackedAutoencoder((4, 3), pretrain_max_iter=3, softmax_max_iter=3,
    ...                            fine_tune_max_iter=3, random_state=0)
    >>> with warnings.catch_warnings(action="ignore"):
    ...     _ = model.fit(X, y)
    >>> html = build_stacked_report(model, X, y, top_k=3)
    >>> html.startswith("<!DOCTYPE html>"), html.count('class="card')
    (True, 4)
    """
    started = time.perf_counter()
    check_fitted(model, "weights_")
    top_k = check_count("top_k", top_k, 1)
    bins = check_count("bins", bins, 1)
    units_per_page = check_count("units_per_page", units_per_page, 1)
    X = np.asarray(X, dtype=model.weights_[0].dtype)
    n_features = int(model.n_features_in_)
    if X.ndim != 2 or X.shape[1] != n_features or len(X) == 0:
        raise ValueError(
            f"X must have shape (n_samples, {n_features}) with n_samples >= 1 for "
            f"a model with {n_features} inputs, got {X.shape}"
        )
    if y is not None and len(y) != len(X):
        raise ValueError(f"y must have {len(X)} labels, one per row of X, got {len(y)}")
    layout = ImageLayout(n_features, image_shape)
    low, high = _data_range(model, X)
    layers, first = _layers(model, X, top_k, bins)

    filter_images = _unit_filters(model.weights_[0], layout)
    top_images = _top_inputs(X, first["top_inputs"], layout, low, high)
    from .figures import layer_curves_figure
    from .units import notions

    facts = notions(first)
    display_sizes = _display_sizes(layout, len(first["top_inputs"]["indices"][0]))
    cards = _cards(first, facts, filter_images, top_images, top_k, display_sizes)

    sizes = [n_features, *(a.n_components for a in model.autoencoders_)]
    n_classes = len(model.classes_)
    context = {
        "title": title
        or f"sparseae report: stacked autoencoder {' → '.join(map(str, sizes))}",
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "shape": " → ".join(map(str, sizes)) + f" → {n_classes} classes",
        "accuracy": _accuracy(model, X, y),
        "model": _stack_facts(model, sizes),
        "config": config if config is not None else _params(model),
        "data": {
            "samples": int(X.shape[0]),
            "features": n_features,
            "labels": "given" if y is not None else "none (no accuracy)",
            "drawn as": _describe_layout(layout),
        },
        "versions": _versions(),
        "layers": layers,
        "softmax_change": _relative_change(
            model.weights_[-1], model.pretrained_weights_[-1]
        ),
        "n_classes": n_classes,
        "curves": layer_curves_figure(
            [a.history_ for a in model.autoencoders_], float(model.sparsity_target)
        ),
        "pretrained_filters": _filter_grid(model.autoencoders_[0].components_, layout),
        "filters": _filter_grid(model.weights_[0], layout),
        "fine_tuned": model.n_iter_ > 0,
        "filters_are_images": layout.is_image,
        "first": first,
        "sizes": display_sizes,
        "pages": _pages(cards, units_per_page),
        "top_k": top_k,
        "units": facts,
        "histogram": {"width": HISTOGRAM_WIDTH, "height": HISTOGRAM_HEIGHT},
    }
    context["build_seconds"] = time.perf_counter() - started
    return _environment().get_template("stacked.html.j2").render(context)


def _layers(model, X, top_k, bins) -> tuple[list[dict], dict]:
    """Each hidden layer's figures, and the first fine-tuned layer's summary.

    The pretrained autoencoders are measured each on its own input (the
    pretrained activations of the layer below, as in pretraining); the
    fine-tuned layers on ``X`` through the fine-tuned network.
    """
    layers, inputs, first = [], X, None
    for depth, autoencoder in enumerate(model.autoencoders_, start=1):
        pretrained = summarize(autoencoder, inputs)
        fine_tuned = summarize(
            _FineTunedLayer(model, depth),
            X,
            top_k=top_k if depth == 1 else 0,
            bins=bins if depth == 1 else 0,
        )
        if depth == 1:
            first = fine_tuned
        history = autoencoder.history_
        layers.append(
            {
                "depth": depth,
                "inputs": int(autoencoder.n_features_in_),
                "units": int(autoencoder.n_components),
                "iterations": int(autoencoder.n_iter_),
                "objective": history["loss"][-1] if history["loss"] else None,
                "pretrained": pretrained,
                "fine_tuned": fine_tuned,
                "change": _relative_change(
                    model.weights_[depth - 1], autoencoder.components_
                ),
            }
        )
        inputs = autoencoder.transform(inputs)
    return layers, first


def _relative_change(after, before) -> float:
    """‖after − before‖ / ‖before‖ (Frobenius): how far fine-tuning moved a layer."""
    norm = float(np.linalg.norm(before))
    change = float(np.linalg.norm(np.asarray(after) - np.asarray(before)))
    return change / norm if norm > 0 else change


def _accuracy(model, X, y) -> dict | None:
    """Accuracy on (X, y) of the fine-tuned and the pretrained network."""
    if y is None:
        return None
    pretrained = copy.copy(model)
    pretrained.weights_ = model.pretrained_weights_
    pretrained.intercepts_ = model.pretrained_intercepts_
    return {
        "after": float(model.score(X, y)),
        "before": float(pretrained.score(X, y)),
    }


def _stack_facts(model, sizes) -> dict:
    facts = {
        "layers": " → ".join(map(str, sizes)) + f" → {len(model.classes_)} classes",
        "classes": [str(c) for c in model.classes_],
        "sparsity target ρ": float(model.sparsity_target),
        "fine-tuning iterations": int(model.n_iter_),
    }
    for stage, seconds in model.fit_times_.items():
        facts[f"{stage} (s)"] = float(seconds)
    return facts


def stacked_model_html(model, *, image_shape=None) -> str:
    """A fitted stacked model's layers and first-layer filters, as HTML.

    What a notebook shows for a fitted
    :class:`~sparseae.models.stacked.StackedAutoencoder`: no data is needed,
    so there is no accuracy (see :func:`build_stacked_report` for that).

    Parameters
    ----------
    model : StackedAutoencoder
        Fitted.
    image_shape : tuple of int or None, default=None
        As for :func:`build_stacked_report`.

    Returns
    -------
    str
        An HTML fragment with its own scoped styles.
    """
    n_features = int(model.n_features_in_)
    layout = ImageLayout(n_features, image_shape)
    sizes = [n_features, *(a.n_components for a in model.autoencoders_)]
    facts = _stack_facts(model, sizes)
    facts.pop("classes")
    for depth, autoencoder in enumerate(model.autoencoders_, start=1):
        facts[f"layer {depth}"] = (
            f"{autoencoder.n_features_in_} → {autoencoder.n_components} units, "
            f"{autoencoder.n_iter_} pretraining iterations"
        )
    context = {
        "kind": "StackedAutoencoder",
        "model": facts,
        "config": _params(model),
        "filters": _filter_grid(model.weights_[0], layout),
        "filters_are_images": layout.is_image,
        "filters_title": "First hidden layer, after fine-tuning:",
        "weights": "weights_[0]",
    }
    return _environment().get_template("model.html.j2").render(context)
