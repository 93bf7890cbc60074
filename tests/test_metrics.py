import json
import warnings

import numpy as np
import pytest

from sparseae import SparseAutoencoder
from sparseae.metrics import summarize

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(1).uniform(size=(57, 12))
    model = SparseAutoencoder(5, max_iter=10, random_state=0)
    with warnings.catch_warnings(action="ignore"):
        model.fit(X)
    return model, X


def direct(model, X, threshold=0.5):
    """The figures computed in one go with plain NumPy from the weights."""
    H = sigmoid(X @ model.components_.T + model.intercept_hidden_)
    Xhat = sigmoid(H @ model.decoder_weights_.T + model.intercept_visible_)
    rho, rho_hat = model.sparsity_target, H.mean(axis=0)
    active = H > threshold
    return {
        "H": H,
        "rho_hat": rho_hat,
        "l0": active.sum(axis=1).mean(),
        "fvu": ((X - Xhat) ** 2).sum() / ((X - X.mean(axis=0)) ** 2).sum(),
        "kl": rho * np.log(rho / rho_hat)
        + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)),
        "active_fraction": active.mean(axis=0),
    }


def test_figures_match_direct_numpy(fitted):
    model, X = fitted
    summary = summarize(model, X)
    expected = direct(model, X)
    assert summary["n_samples"] == 57 and summary["n_components"] == 5
    assert summary["threshold"] == 0.5 and summary["hidden_activation"] == "sigmoid"
    np.testing.assert_allclose(summary["rho_hat"], expected["rho_hat"], rtol=1e-12)
    np.testing.assert_allclose(summary["kl"], expected["kl"], rtol=1e-9)
    assert summary["kl_total"] == pytest.approx(expected["kl"].sum(), rel=1e-9)
    assert summary["l0"] == pytest.approx(expected["l0"], rel=1e-12)
    assert summary["fvu"] == pytest.approx(expected["fvu"], rel=1e-10)
    assert summary["mean_activation"] == pytest.approx(expected["H"].mean())
    np.testing.assert_allclose(
        summary["active_fraction"], expected["active_fraction"], rtol=0
    )
    quantiles = summary["rho_hat_quantiles"]
    assert list(quantiles) == ["0", "0.05", "0.25", "0.5", "0.75", "0.95", "1"]
    assert quantiles["0.5"] == pytest.approx(np.median(expected["rho_hat"]))
    assert quantiles["1"] == pytest.approx(expected["rho_hat"].max())


@pytest.mark.parametrize("chunk_size", [1, 7, 56, 57, 1000])
def test_chunking_gives_the_result_of_one_chunk(fitted, chunk_size):
    model, X = fitted
    whole = summarize(model, X, chunk_size=len(X), top_k=4, bins=10)
    chunked = summarize(model, X, chunk_size=chunk_size, top_k=4, bins=10)
    assert chunked.keys() == whole.keys()
    for key in ("rho_hat", "kl", "active_fraction"):
        np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-9, atol=1e-15)
    for key in ("l0", "fvu", "reconstruction_error", "mean_activation"):
        assert chunked[key] == pytest.approx(whole[key], rel=1e-12)
    assert chunked["top_inputs"]["indices"] == whole["top_inputs"]["indices"]
    assert chunked["histograms"] == whole["histograms"]
    assert chunked["dead_units"] == whole["dead_units"]


def test_memmap_is_read_in_chunks(fitted, tmp_path):
    model, X = fitted
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert summarize(model, mapped, chunk_size=10)["fvu"] == pytest.approx(
        summarize(model, X)["fvu"], rel=1e-12
    )


def test_top_inputs_and_histograms_match_direct_numpy(fitted):
    model, X = fitted
    summary = summarize(model, X, top_k=3, bins=4, chunk_size=9)
    H = direct(model, X)["H"]
    top = summary["top_inputs"]
    for j in range(5):
        assert top["indices"][j] == np.argsort(-H[:, j], kind="stable")[:3].tolist()
        np.testing.assert_allclose(top["activations"][j], np.sort(H[:, j])[::-1][:3])
        counts, _ = np.histogram(H[:, j], bins=4, range=(0, 1))
        assert summary["histograms"]["counts"][j] == counts.tolist()
    assert summary["histograms"]["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]


class HandMadeModel:
    """Three sigmoid units on two features, weights chosen by hand.

    Unit 0 is dead (bias -50: never above 0.5), unit 1 saturated (bias +50:
    always above), unit 2 follows the first feature (active when x0 > 0.5).
    The decoder returns the mean input, so the FVU is exactly 1.
    """

    n_components = 3
    sparsity_target = 0.1
    output_activation = "linear"

    def __init__(self, mean):
        self.components_ = np.array([[0.0, 0.0], [0.0, 0.0], [100.0, 0.0]])
        self.intercept_hidden_ = np.array([-50.0, 50.0, -50.0])
        self.decoder_weights_ = np.zeros((2, 3))
        self.intercept_visible_ = np.asarray(mean)

    def transform(self, X):
        return sigmoid(X @ self.components_.T + self.intercept_hidden_)

    def inverse_transform(self, H):
        return H @ self.decoder_weights_.T + self.intercept_visible_


def test_hand_made_model_with_a_dead_and_a_saturated_unit():
    X = np.array([[0.0, 1.0], [0.2, 0.0], [0.9, 0.5], [1.0, 1.0]])
    model = HandMadeModel(X.mean(axis=0))
    summary = summarize(model, X, chunk_size=3)
    assert summary["dead_units"] == {"count": 1, "indices": [0]}
    assert summary["saturated_units"] == {"count": 1, "indices": [1]}
    assert summary["active_fraction"] == [0.0, 1.0, 0.5]
    # Units 1 and 2 are active on 4 and 2 of the 4 inputs.
    assert summary["l0"] == 1.5
    assert summary["fvu"] == pytest.approx(1.0)
    np.testing.assert_allclose(summary["rho_hat"], [0, 1, 0.5], atol=1e-20)
    # ρ̂ = 0 and 1 are clipped, so the KL is large but finite, and JSON is valid.
    assert all(np.isfinite(summary["kl"])) and summary["kl"][0] > 2
    json.dumps(summary, allow_nan=False)


def test_units_that_can_be_zero_are_active_above_zero():
    X = np.array([[0.0, 1.0], [0.2, 0.0], [0.9, 0.5], [1.0, 1.0]])
    model = HandMadeModel(X.mean(axis=0))
    model.hidden_activation = "relu"
    model.transform = lambda X: np.maximum(X @ np.array([[1.0, 0.0]]).T - 0.1, 0)
    model.n_components = 1
    model.decoder_weights_ = np.zeros((2, 1))
    summary = summarize(model, X)
    assert summary["threshold"] == 0.0 and summary["hidden_activation"] == "relu"
    assert summary["active_fraction"] == [0.75]
    assert summary["l0"] == 0.75


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 0}, "chunk_size must be an int >= 1, got 0"),
        ({"top_k": -1}, "top_k must be an int >= 0, got -1"),
        ({"bins": 2.5}, "bins must be an int >= 0, got 2.5"),
        ({"threshold": "high"}, "threshold must be a real number, got 'high'"),
        (
            {"quantiles": [0.5, 2]},
            r"quantiles must be a sequence of numbers in \[0, 1\]",
        ),
    ],
)
def test_bad_parameters_are_named(fitted, kwargs, message):
    model, X = fitted
    with pytest.raises(ValueError, match=message):
        summarize(model, X, **kwargs)


def test_empty_or_flat_data_is_refused(fitted):
    model, _ = fitted
    with pytest.raises(ValueError, match=r"X must be 2-D .* got shape \(0, 12\)"):
        summarize(model, np.empty((0, 12)))
    with pytest.raises(ValueError, match=r"got shape \(12,\)"):
        summarize(model, np.zeros(12))


@pytest.mark.parametrize("value", [0.0, 0.1, 0.3, 0.7])
@pytest.mark.parametrize("chunk_size", [None, 3])
def test_fvu_of_data_that_do_not_vary_is_nan(fitted, value, chunk_size):
    """As documented; a rounded mean of 0.3s once made it about 3e31."""
    model, _ = fitted
    X = np.full((20, 12), value)
    X[:, 5] = np.linspace(0, 1, 20)  # one feature varies: a finite FVU
    assert np.isfinite(summarize(model, X, chunk_size=chunk_size)["fvu"])
    X[:, 5] = value
    assert np.isnan(summarize(model, X, chunk_size=chunk_size)["fvu"])


def test_fvu_is_unchanged_by_an_offset_of_the_data(fitted):
    """The variance is of x - x̄; far from 0 it is not swamped by rounding."""
    model, X = fitted
    expected = ((X - X.mean(axis=0)) ** 2).sum()
    summary = summarize(model, X, chunk_size=10)
    squared_error = summary["reconstruction_error"] * len(X)
    assert squared_error / summary["fvu"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("form", ["csr_matrix", "csc_matrix", "csr_array"])
def test_sparse_data_give_the_summary_of_dense_data(fitted, form):
    import scipy.sparse as sp

    model, X = fitted
    X = np.where(X > 0.6, X, 0.0)
    dense = summarize(model, X, top_k=3, bins=4, chunk_size=10)
    sparse = summarize(model, getattr(sp, form)(X), top_k=3, bins=4, chunk_size=10)
    assert sparse == dense
