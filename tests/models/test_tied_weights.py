"""SparseAutoencoder(tied_weights=True): every solver, saving, and refusals."""

import warnings

import numpy as np
import pytest

from sparseae import SparseAutoencoder, load


@pytest.fixture
def X():
    return np.random.default_rng(0).uniform(size=(200, 12))


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_every_solver_keeps_the_decoder_the_encoders_transpose(X, solver):
    model = fit_quietly(
        SparseAutoencoder(
            5, tied_weights=True, solver=solver, max_iter=20, random_state=0
        ),
        X,
    )
    assert np.array_equal(model.decoder_weights_, model.components_.T)
    assert model.loss_curve_[-1] < model.loss_curve_[0]


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_tied_training_differs_from_untied(X, solver):
    options = dict(solver=solver, max_iter=10, random_state=0)
    tied = fit_quietly(SparseAutoencoder(5, tied_weights=True, **options), X)
    untied = fit_quietly(SparseAutoencoder(5, **options), X)
    assert not np.allclose(tied.components_, untied.components_)
    assert not np.allclose(untied.decoder_weights_, untied.components_.T)


def test_tied_topk_minibatch_partial_fit(X):
    model = SparseAutoencoder(
        6,
        tied_weights=True,
        hidden_activation="topk",
        k=2,
        output_activation="linear",
        solver="sgd",
        learning_rate=0.05,
        random_state=0,
    )
    for _ in range(3):
        model.partial_fit(X)
    assert np.array_equal(model.decoder_weights_, model.components_.T)
    assert np.isfinite(model.loss_curve_).all()


def test_saved_tied_model_loads_tied(X, tmp_path):
    model = fit_quietly(
        SparseAutoencoder(4, tied_weights=True, max_iter=5, random_state=0), X
    )
    path = tmp_path / "tied.safetensors"
    model.save(path)
    loaded = load(path)
    assert loaded.tied_weights is True
    assert np.array_equal(loaded.transform(X), model.transform(X))
    assert np.array_equal(
        loaded.inverse_transform(loaded.transform(X)),
        model.inverse_transform(model.transform(X)),
    )


def test_tied_weights_with_a_unit_norm_decoder_is_refused(X):
    model = SparseAutoencoder(4, tied_weights=True, unit_norm_decoder=True)
    with pytest.raises(ValueError, match="tied_weights=True and unit_norm_decoder"):
        model.fit(X)


def test_tied_weights_must_be_a_boolean(X):
    with pytest.raises(ValueError, match="tied_weights"):
        SparseAutoencoder(4, tied_weights="yes").fit(X)


def test_a_callback_sees_tied_weights_after_every_epoch(X):
    seen = []

    def callback(model, progress):
        seen.append(np.array_equal(model.decoder_weights_, model.components_.T))

    model = SparseAutoencoder(
        5, tied_weights=True, solver="sgd", max_iter=3, random_state=0
    )
    fit_quietly_with(model, X, callback)
    assert seen and all(seen)


def fit_quietly_with(model, X, callback):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, callback=callback)
