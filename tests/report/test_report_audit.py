"""The report audit's findings, each pinned: words that fit the activation,
no ρ where there is none, pictures only where there is something to show."""

import itertools
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


def card_html(html, unit):
    start = html.index(f'id="unit-{unit}"')
    return html[start : html.index("</article>", start)]


def test_a_unit_active_on_few_inputs_shows_only_those(relu_model, digits):
    from .test_build import Page, decode

    summary = summarize(relu_model, digits, top_k=9, bins=20)
    active = np.rint(np.array(summary["active_fraction"]) * len(digits))
    few = [j for j, n in enumerate(active) if 0 < n < 9]
    assert few
    html = build_report(relu_model, digits, summary=summary)
    for j in few:
        n = int(active[j])
        card = card_html(html, j)
        # Not rows 0, 1, 2... of the data, at activation 0, after them.
        title = re.search(r'title="(row [^"]*)"', card).group(1)
        assert len(title.split("; ")) == n and ": 0;" not in title + ";"
        noun = "input activates" if n == 1 else "inputs activate"
        assert f"only {n} {noun} it" in card
        # Their places in the 3 x 3 grid are drawn; the rest are left blank.
        src = Page(card).all("img", alt=f"inputs that activate unit {j} most")[0]
        grid = np.asarray(decode(src["src"]))
        cells = [
            grid[1 + 9 * r : 9 + 9 * r, 1 + 9 * c : 9 + 9 * c]
            for r in range(3)
            for c in range(3)
        ]
        assert all((cell != 96).any() for cell in cells[:n])
        assert all((cell == 96).all() for cell in cells[n:])
    busy = [j for j, n in enumerate(active) if n >= 9]
    assert "top 9 inputs" in card_html(html, busy[0])


def test_strips_of_top_inputs_are_as_tall_as_the_inputs_shown(flat_model, flat_data):
    from .test_build import Page, decode

    summary = summarize(flat_model, flat_data, top_k=4, bins=20)
    # Unit 1 as a ReLU unit active on 2 inputs would have it.
    summary["top_inputs"]["activations"][1][2:] = [0.0, 0.0]
    html = build_report(flat_model, flat_data, top_k=4, summary=summary)
    page = Page(html)
    strips = {
        j: page.all("img", alt=f"inputs that activate unit {j} most")[0] for j in (0, 1)
    }
    assert decode(strips[0]["src"]).size == (10, 4)
    assert decode(strips[1]["src"]).size == (10, 2)
    assert [strips[j]["height"] for j in (0, 1)] == ["24", "12"]


def test_data_that_do_not_vary_have_no_fraction_of_variance(quiet_model):
    html = build_report(quiet_model, np.full((30, 64), 0.3))
    headline = re.search(
        r'figure-value">([^<]*)</div><div class="figure-label">'
        r"fraction of variance unexplained([^<]*)<",
        html,
    )
    assert headline.groups() == (
        "undefined",
        ": the data do not vary, so there is no variance to explain",
    )
    body = re.sub(r"data:[^\"]*", "", html)
    assert not re.search(r">[^<]*\bnan\b", body)


def drawn(function, *args):
    """The Matplotlib figure ``function`` draws, laid out as it is saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with mock.patch("sparseae.report.figures._data_uri") as data_uri:
        function(*args)
    figure = data_uri.call_args.args[0]
    FigureCanvasAgg(figure).draw()
    return figure


@pytest.mark.parametrize(
    ("rho_hat", "target"),
    [
        (np.linspace(0.05004, 0.05067, 12), 0.05),  # 12 units at ρ
        ([0.068], 0.05),  # 1 unit
        (np.linspace(0.0977, 0.1041, 36), 0.1),
        (np.linspace(0.2, 0.9, 20), None),
        ([1e-5, 1e-3, 0.04, 0.05, 0.06, 0.3], 0.05),  # a log axis
    ],
)
def test_mean_activation_ticks_and_legend_do_not_overlap(rho_hat, target):
    from sparseae.report.figures import rho_hat_figure

    figure = drawn(rho_hat_figure, rho_hat, target)
    axes = figure.axes[0]
    low, high = axes.get_xlim()
    boxes = sorted(
        (
            label.get_window_extent()
            for label in axes.get_xticklabels()
            if label.get_text() and low <= label.get_position()[0] <= high
        ),
        key=lambda box: box.x0,
    )
    assert len(boxes) >= 3
    assert all(left.x1 < right.x0 for left, right in itertools.pairwise(boxes))
    legend = axes.get_legend()
    if target is not None:
        box = legend.get_window_extent()
        bars = [p.get_window_extent() for p in axes.patches if p.get_height() > 0]
        assert not any(box.overlaps(bar) for bar in bars)


def test_an_unfitted_model_is_named(digits):
    from sklearn.exceptions import NotFittedError

    from sparseae.models.stacked import StackedAutoencoder
    from sparseae.report import build_stacked_report

    with pytest.raises(NotFittedError, match="This SparseAutoencoder instance is not"):
        build_report(SparseAutoencoder(4), digits)
    with pytest.raises(NotFittedError, match="This StackedAutoencoder instance is not"):
        build_stacked_report(StackedAutoencoder((4,)), digits)


def test_numpy_integers_are_counts(quiet_model, digits):
    html = build_report(quiet_model, digits[:50], top_k=np.int64(3), bins=np.int32(5))
    assert "top 3 inputs" in html


def test_sparse_data_give_the_report_of_dense_data(quiet_model, digits):
    import scipy.sparse as sp

    def without_times(html):
        return re.sub(r"Generated .*? samples", "", html)

    dense = build_report(quiet_model, digits[:200], top_k=4)
    sparse = build_report(quiet_model, sp.csr_matrix(digits[:200]), top_k=4)
    assert without_times(sparse) == without_times(dense)


def test_stacked_first_layer_cards_show_their_top_inputs(digits):
    from sparseae.models.stacked import StackedAutoencoder
    from sparseae.report import build_stacked_report

    from .test_build import Page, decode

    model = StackedAutoencoder(
        (6, 4), pretrain_max_iter=3, softmax_max_iter=3, fine_tune_max_iter=3
    )
    with warnings.catch_warnings(action="ignore"):
        model.fit(digits[:100], np.arange(100) % 3)
    page = Page(build_stacked_report(model, digits[:100], top_k=4))
    for j in range(6):
        top = page.all("img", alt=f"inputs that activate unit {j} most")[0]
        assert decode(top["src"]).size == (19, 19)  # 2 x 2 digits of 8 x 8
        assert (top["width"], top["height"]) == ("152", "152")
