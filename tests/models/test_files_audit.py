"""Parameters of NumPy types in model files (found by a user audit)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder, StackedAutoencoder, load, save
from sparseae.io import read_info


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(30, 6))


def fitted(estimator, *data):
    with warnings.catch_warnings(action="ignore"):
        return estimator.fit(*data)


def test_numpy_scalar_params_are_saved_as_the_numbers_they_hold(X, tmp_path):
    model = fitted(
        SparseAutoencoder(
            np.int64(3),
            max_iter=np.int32(2),
            sparsity_target=np.float32(0.05),
            random_state=np.int64(3),
        ),
        X,
    )
    path = save(model, tmp_path / "m.safetensors")
    params = read_info(path)["params"]
    assert params["random_state"] == 3 and type(params["random_state"]) is int
    assert params["n_components"] == 3 and params["max_iter"] == 2
    assert params["sparsity_target"] == float(np.float32(0.05))
    again = load(path)
    assert again.random_state == 3 and again.n_components == 3
    np.testing.assert_array_equal(again.transform(X), model.transform(X))


def test_a_random_state_instance_is_saved_as_none_with_a_warning(X, tmp_path):
    random_state = np.random.RandomState(0)
    model = fitted(SparseAutoencoder(2, max_iter=2, random_state=random_state), X)
    with pytest.warns(UserWarning, match="random_state=.*saved as None.*seed"):
        path = model.save(tmp_path / "m.safetensors")
    assert load(path).random_state is None


def test_a_stack_saves_numpy_params_and_warns_for_a_generator(X, tmp_path):
    y = np.arange(len(X)) % 2
    small = dict(pretrain_max_iter=2, softmax_max_iter=2, fine_tune_max_iter=2)
    stack = fitted(
        StackedAutoencoder((np.int64(3),), random_state=np.int64(5), **small), X, y
    )
    again = load(save(stack, tmp_path / "s.safetensors"))
    assert again.random_state == 5 and again.hidden_layer_sizes == (3,)
    np.testing.assert_array_equal(again.predict(X), stack.predict(X))
    stack.set_params(random_state=np.random.RandomState(0))
    with pytest.warns(UserWarning, match="random_state"):
        save(stack, tmp_path / "s.safetensors")


def test_a_loaded_model_draws_its_filters_in_the_saved_image_shape(tmp_path):
    # `sparseae train --image-shape 5 8` saves the shape with the model; the
    # notebook view of the loaded model draws 5×8 images, as the report does,
    # instead of a heat map of 40 columns.
    import subprocess
    import sys

    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(60, 40)))
    argv = [sys.executable, "-m", "sparseae.cli", "train", str(tmp_path / "x.npy")]
    argv += ["-o", str(tmp_path / "r"), "--image-shape", "5", "8", "--quiet"]
    argv += ["--max-iter", "2", "--n-components", "4"]
    subprocess.run(argv, check=True, capture_output=True)
    model = load(tmp_path / "r" / "model.safetensors")
    html = model._repr_mimebundle_()["text/html"]
    assert "heat map of the encoder weights" not in html
    model.save(tmp_path / "plain.safetensors")  # no image shape noted
    html = load(tmp_path / "plain.safetensors")._repr_mimebundle_()["text/html"]
    assert "heat map of the encoder weights" in html


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", learning_rate=np.float32(0.01)),
        dict(solver="sgd", learning_rate=np.float16(0.01), momentum=np.float32(0.5)),
    ],
)
def test_numpy_scalar_step_sizes_are_saved_with_the_optimiser_state(
    X, tmp_path, params
):
    # The optimiser kept np.float32(0.01), which JSON cannot hold: save
    # raised TypeError for a model the constructor had accepted.
    model = fitted(SparseAutoencoder(3, max_iter=2, random_state=0, **params), X)
    again = load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(again.transform(X), model.transform(X))
    for estimator in (model, again):
        with warnings.catch_warnings(action="ignore"):
            estimator.partial_fit(X)
    np.testing.assert_array_equal(again.components_, model.components_)


@pytest.mark.parametrize("labels", [[False, True], [True, False]])
def test_a_stack_of_boolean_labels_loads_back(X, tmp_path, labels):
    # Saved without complaint, then refused by load ("classes that are not 2
    # or more distinct, sorted labels of one type").
    y = np.array(labels * (len(X) // 2))
    small = dict(pretrain_max_iter=2, softmax_max_iter=2, fine_tune_max_iter=2)
    stack = fitted(StackedAutoencoder((3,), random_state=0, **small), X, y)
    again = load(stack.save(tmp_path / "s.safetensors"))
    assert again.classes_.dtype == bool
    assert again.classes_.tolist() == [False, True]
    np.testing.assert_array_equal(again.predict(X), stack.predict(X))


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_file_without_the_training_state_encodes_alike_and_starts_afresh(
    tmp_path, solver
):
    X = np.random.default_rng(0).uniform(size=(120, 30))
    options = dict(batch_size=40) if solver == "adam" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SparseAutoencoder(
            8, solver=solver, max_iter=12, random_state=0, **options
        ).fit(X)
    whole = model.save(tmp_path / "whole.safetensors")
    light = model.save(tmp_path / "light.safetensors", training_state=False)
    # L-BFGS keeps 20 vectors of θ's size, Adam two moments and an order.
    assert light.stat().st_size * {"lbfgs": 5, "adam": 2}[solver] < (
        whole.stat().st_size
    )
    loaded = load(light)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    assert loaded.score(X) == model.score(X)
    assert loaded.history_ == model.history_
    with pytest.raises(ValueError, match="needs a model saved with its training state"):
        loaded.resume_fit(X)
    if solver == "adam":
        loaded.partial_fit(X)  # a new optimiser from the saved weights
        assert loaded.n_iter_ == model.n_iter_ + 1
    with pytest.raises(TypeError, match="training_state must be True or False"):
        model.save(tmp_path / "bad.safetensors", training_state="no")
    assert not (tmp_path / "bad.safetensors").exists()
