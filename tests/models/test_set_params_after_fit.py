"""Parameters changed with ``set_params`` between a fit and what follows it.

scikit-learn's estimators predict with their fitted attributes whatever the
parameters say since; training further, or saving, cannot do both, and says
which parameter disagrees with the fitted model instead of failing deep down
(found by a user audit).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder, StackedAutoencoder, load


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(40, 6))


def fitted(estimator, *data, method="fit"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(estimator, method)(*data)


def test_inverse_transform_decodes_with_the_fitted_units(X):
    model = fitted(SparseAutoencoder(3, max_iter=3, random_state=0), X)
    expected = model.inverse_transform(model.transform(X))
    model.set_params(n_components=5)
    codes = model.transform(X)
    assert codes.shape == (40, 3)
    np.testing.assert_array_equal(model.inverse_transform(codes), expected)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\).*got \(40, 5\)"):
        model.inverse_transform(np.zeros((40, 5)))


@pytest.mark.parametrize("method", ["partial_fit", "resume_fit"])
def test_training_on_refuses_a_changed_n_components(X, method):
    model = fitted(
        SparseAutoencoder(3, solver="adam", max_iter=2, tol=0, random_state=0),
        X,
        method="partial_fit" if method == "partial_fit" else "fit",
    )
    before = model.components_.copy()
    model.set_params(n_components=4, max_iter=4)
    with pytest.raises(
        ValueError,
        match=rf"^n_components=4 differs from the 3 hidden units of the fitted "
        rf"model, which {method} trains on: set n_components=3, or call fit",
    ):
        getattr(model, method)(X)
    np.testing.assert_array_equal(model.components_, before)
    n_iter = model.n_iter_
    model.set_params(n_components=3)
    assert fitted(model, X, method=method).n_iter_ > n_iter


def test_resume_fit_of_lbfgs_refuses_a_changed_n_components(X):
    model = fitted(SparseAutoencoder(3, max_iter=2, tol=0, random_state=0), X)
    model.set_params(n_components=4, max_iter=4)
    with pytest.raises(ValueError, match="n_components=4 differs from the 3"):
        model.resume_fit(X)


@pytest.mark.parametrize("method", ["partial_fit", "resume_fit"])
def test_training_on_refuses_a_changed_dtype(X, method):
    # partial_fit used to round X to float32 and train the float64 weights on;
    # resume_fit said the data was not that of the fit.
    model = fitted(
        SparseAutoencoder(3, solver="sgd", max_iter=2, tol=0, random_state=0), X
    )
    model.set_params(dtype=np.float32, max_iter=4)
    with pytest.raises(
        ValueError,
        match=rf"^dtype=float32 differs from the fitted model's float64, which "
        rf"{method} trains on: set dtype='float64'",
    ):
        getattr(model, method)(X)


def test_save_refuses_a_changed_n_components(X, tmp_path):
    model = fitted(SparseAutoencoder(3, max_iter=2, random_state=0), X)
    model.set_params(n_components=4)
    path = tmp_path / "m.safetensors"
    with pytest.raises(
        ValueError,
        match=r"cannot save: n_components=4 was set after the fit, whose weights "
        r"have 3 hidden units; set n_components=3",
    ):
        model.save(path)
    assert not path.exists()
    model.set_params(n_components=3)
    np.testing.assert_array_equal(
        load(model.save(path)).transform(X), model.transform(X)
    )


def test_save_refuses_an_lbfgs_memory_below_the_saved_pairs(X, tmp_path):
    model = fitted(SparseAutoencoder(3, max_iter=5, tol=0, random_state=0), X)
    model.set_params(lbfgs_memory=2)
    with pytest.raises(
        ValueError,
        match=r"cannot save: lbfgs_memory=2 was set after the fit, whose L-BFGS "
        r"state holds 5 correction pairs; set lbfgs_memory=5 or more",
    ):
        model.save(tmp_path / "m.safetensors")
    model.set_params(lbfgs_memory=20)  # more memory holds the pairs: saved
    assert load(model.save(tmp_path / "m.safetensors")).lbfgs_memory == 20


def test_save_refuses_changed_hidden_layer_sizes(X, tmp_path):
    y = np.arange(len(X)) % 2
    small = dict(pretrain_max_iter=2, softmax_max_iter=2, fine_tune_max_iter=2)
    stack = fitted(StackedAutoencoder((3,), random_state=0, **small), X, y)
    stack.set_params(hidden_layer_sizes=[4])
    with pytest.raises(
        ValueError,
        match=r"cannot save: hidden_layer_sizes=\[4\] was set after the fit, whose "
        r"layers have \(3,\) units",
    ):
        stack.save(tmp_path / "s.safetensors")
    stack.set_params(hidden_layer_sizes=[3])
    again = load(stack.save(tmp_path / "s.safetensors"))
    np.testing.assert_array_equal(again.predict(X), stack.predict(X))
