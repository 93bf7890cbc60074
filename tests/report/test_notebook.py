import pytest
from sklearn import config_context

from sparseae import SparseAutoencoder

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def test_a_fitted_model_shows_its_summary_and_filters_above_the_diagram(
    digits_model,
):
    html = digits_model._repr_mimebundle_()["text/html"]
    summary = html.index('class="sparseae-model"')
    assert html.count("data:image/png;base64,") == 1
    assert "60 hidden units" in html and "sparsity target ρ" in html
    # scikit-learn's diagram follows.
    assert html.index("sk-top-container") > summary
    # The diagram's element ids change from call to call; the rest does not.
    again = digits_model._repr_html_()
    assert again[: again.index("<style>")] == html[: html.index("<style>", summary)]


def test_an_unfitted_model_keeps_scikit_learns_view():
    model = SparseAutoencoder(3)
    html = model._repr_mimebundle_()["text/html"]
    assert "sparseae-model" not in html and "sk-top-container" in html
    again = model._repr_html_()
    assert "sparseae-model" not in again and "sk-top-container" in again


def test_the_text_display_setting_is_respected(digits_model):
    with config_context(display="text"):
        assert not hasattr(SparseAutoencoder(3), "_repr_html_")
        bundle = digits_model._repr_mimebundle_()
        assert bundle["text/plain"].startswith("SparseAutoencoder(")
        assert bundle["text/html"].startswith('<div class="sparseae-model">')
