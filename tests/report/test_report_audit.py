"""The report audit's findings, each pinned: words that fit the activation,
no ρ where there is none, pictures only where there is something to show."""

import re
import warnings
from unittest import mock

import numpy as np
import pytest

from sparseae import SparseAutoencoder
from sparseae.metrics import summarize
from sparseae.report import build_report
from sparseae.report.figures import curves_figure

from .conftest import fit

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def quiet_model(digits):
    """Sigmoid units at ρ = 0.05: most are never above 0.5, none is dead."""
    return fit(100, digits, max_iter=30)


@pytest.fixture(scope="module")
def relu_model(digits):
    """An L1 penalty switches some ReLU units off on every input; others pass 1."""
    return fit(
        30,
        digits,
        hidden_activation="relu",
        penalty="l1",
        sparsity_weight=0.1,
        output_activation="linear",
        max_iter=30,
    )


@pytest.fixture(scope="module")
def topk_model(digits):
    return fit(
        16,
        digits,
        hidden_activation="topk",
        k=4,
        aux_k=8,
        solver="adam",
        output_activation="linear",
        max_iter=3,
    )


def test_sigmoid_units_never_above_half_are_quiet_not_dead(quiet_model, digits):
    summary = summarize(quiet_model, digits, top_k=9, bins=20)
    maxima = np.array([a[0] for a in summary["top_inputs"]["activations"]])
    assert summary["dead_units"]["count"] > 0 and maxima.min() >= 1e-3
    html = build_report(quiet_model, digits, summary=summary)
    assert 'class="badge dead"' not in html
    assert html.count('class="badge quiet"') == summary["dead_units"]["count"]
    assert "dead units (never above" not in html
    assert "quiet units (never above 0.5)" in html
    assert re.search(r'id="dead-count"><div class="figure-value">0<', html)
    # The definitions are on the page.
    assert 'class="definitions"' in html and "largest activation over the data" in html


@pytest.mark.parametrize("name", ["relu_model", "topk_model"])
def test_relu_and_topk_reports_show_no_target_or_kl(name, request, digits):
    model = request.getfixturevalue(name)
    html = build_report(model, digits)
    body = html[html.index("<body>") :]
    for word in ("target ρ", "sparsity target", "KL(", "saturated units", "quiet"):
        assert word not in body, word
    assert ">saturated<" not in body
    assert "always on units (active (above 0) on &gt; 90% of inputs)" in html


def test_topk_report_shows_k(topk_model, digits):
    html = build_report(topk_model, digits)
    assert "units kept per sample k" in html
    assert "k / h = 0.25" in html


def test_a_unit_no_input_activates_shows_no_top_inputs(relu_model, digits):
    summary = summarize(relu_model, digits, top_k=9, bins=20)
    silent = [
        j for j, a in enumerate(summary["top_inputs"]["activations"]) if a[0] <= 0
    ]
    assert silent
    html = build_report(relu_model, digits, summary=summary)
    assert html.count("no input activates this unit") == len(silent)
    for j in silent:
        assert f'alt="inputs that activate unit {j} most"' not in html
        assert 'class="badge dead"' in html
    assert re.search(rf'id="dead-count"><div class="figure-value">{len(silent)}<', html)


def test_relu_histograms_span_each_units_largest_activation(relu_model, digits):
    summary = summarize(relu_model, digits, top_k=9, bins=20)
    html = build_report(relu_model, digits, summary=summary)
    active = [a[0] for a in summary["top_inputs"]["activations"] if a[0] > 0]
    assert max(active) > 1  # what [0, 1] would clip
    labels = re.findall(r'<text class="end"[^>]*>([^<]*)</text>', html)
    assert sum(label.startswith("max ") for label in labels) == len(active)
    assert f"max {max(active):.3g}" in labels
    # Not every unit piled into the last bar.
    assert "over [0, the unit's largest activation]" in html


def test_units_with_mean_activation_zero_are_counted_apart(relu_model, digits):
    summary = summarize(relu_model, digits, top_k=9, bins=20)
    zero = sum(1 for r in summary["rho_hat"] if r == 0)
    assert zero
    html = build_report(relu_model, digits, summary=summary)
    assert f"ρ̂ = 0: {zero} unit" in html


def test_curves_draw_the_auxiliary_term_and_say_epoch():
    history = {"auxiliary": [0.5, 0.25], "mean_activation": []}
    with mock.patch("matplotlib.axes.Axes.set_xlabel") as set_xlabel:
        assert curves_figure(history, None, step="epoch") is not None
    assert {call.args[0] for call in set_xlabel.call_args_list} == {"epoch"}


def test_minibatch_report_labels_epochs(topk_model, digits):
    with mock.patch("matplotlib.axes.Axes.set_xlabel") as set_xlabel:
        html = build_report(topk_model, digits)
    assert "epoch" in {call.args[0] for call in set_xlabel.call_args_list}
    assert "<th>epochs</th>" in html


def test_configuration_lists_of_mappings_read_as_rows(quiet_model, digits):
    threads = [{"library": "openblas", "threads": 2}, {"library": "gomp", "threads": 4}]
    html = build_report(quiet_model, digits, config={"threads": threads})
    assert "{&#39;" not in html
    assert "library: openblas, threads: 2" in html


def test_one_unit_filter_is_not_drawn_640_pixels_wide(digits):
    model = fit(1, digits, max_iter=5)
    html = build_report(model, digits)
    grid = re.search(r'class="pixelated filter-grid"[^>]*width="(\d+)"', html)
    assert int(grid.group(1)) <= 160  # 16 times (8 + 2 padding), not 640


def test_fitted_stacked_model_shows_its_layers_and_filters(digits):
    from sparseae.models.stacked import StackedAutoencoder

    y = np.arange(len(digits)) % 3
    model = StackedAutoencoder(
        (8, 4),
        pretrain_max_iter=3,
        softmax_max_iter=3,
        fine_tune_max_iter=3,
        random_state=0,
    )
    with warnings.catch_warnings(action="ignore"):
        model.fit(digits[:200], y[:200])
    html = model._repr_mimebundle_()["text/html"]
    assert html.index('class="sparseae-model"') < html.index("sk-top-container")
    assert "StackedAutoencoder</strong>" in html and "64 → 8 → 4 → 3 classes" in html
    assert html.count("data:image/png;base64,") == 1
    unfitted = StackedAutoencoder((8, 4))._repr_mimebundle_()["text/html"]
    assert "sparseae-model" not in unfitted


def test_sigmoid_report_keeps_rho_and_kl(quiet_model, digits):
    html = build_report(quiet_model, digits)
    assert "target ρ = 0.05" in html and "Σ KL(ρ ‖ ρ̂)" in html
    assert isinstance(quiet_model, SparseAutoencoder)
