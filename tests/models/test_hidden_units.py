"""SparseAutoencoder with ReLU and top-k hidden units and unit-norm decoders."""

import dataclasses

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparseae import SparseAutoencoder, load
from sparseae.io import model_file
from sparseae.models import _persistence

pytestmark = [
    pytest.mark.usefixtures("one_blas_thread"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(200, 12))


@pytest.mark.filterwarnings("ignore:X has values in:UserWarning")
@parametrize_with_checks(
    [
        SparseAutoencoder(
            4,
            hidden_activation="relu",
            penalty="l1",
            output_activation="linear",
            max_iter=20,
            random_state=0,
        ),
        SparseAutoencoder(
            4,
            hidden_activation="topk",
            k=1,  # some checks set n_components=1
            unit_norm_decoder=True,
            output_activation="linear",
            solver="adam",
            max_iter=3,
            random_state=0,
        ),
    ],
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_topk_codes_have_at_most_k_nonzeros(X, solver):
    model = SparseAutoencoder(
        8, hidden_activation="topk", k=3, solver=solver, max_iter=20, random_state=0
    ).fit(X)
    codes = model.transform(X)
    assert ((codes > 0).sum(axis=1) <= 3).all()
    assert (codes >= 0).all()
    # No sparsity term: k alone makes the codes sparse.
    assert model.history_["sparsity"][-1] == 0.0
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_a_larger_l1_weight_gives_sparser_relu_codes(X):
    active = []
    for weight in (0.0, 0.3):
        model = SparseAutoencoder(
            8,
            hidden_activation="relu",
            penalty="l1",
            sparsity_weight=weight,
            output_activation="linear",
            max_iter=100,
            random_state=0,
        ).fit(X)
        active.append(np.mean(model.transform(X) > 0))
    assert active[1] < 0.5 * active[0]


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_unit_norm_decoder_columns(X, solver):
    model = SparseAutoencoder(
        6,
        hidden_activation="relu",
        penalty="l1",
        sparsity_weight=0.2,
        unit_norm_decoder=True,
        output_activation="linear",
        solver=solver,
        learning_rate=0.01 if solver == "sgd" else "auto",
        max_iter=15,
        random_state=0,
    ).fit(X)
    np.testing.assert_allclose(
        np.linalg.norm(model.decoder_weights_, axis=0), 1, rtol=1e-12
    )
    assert model.loss_curve_[-1] < model.loss_curve_[0]


UNIT_NORM = dict(
    hidden_activation="relu",
    penalty="l1",
    sparsity_weight=0.2,
    unit_norm_decoder=True,
    output_activation="linear",
    random_state=0,
    tol=0,
)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_unit_norm_decoder_is_unit_norm_at_every_callback(X, solver, tmp_path):
    # The steps move V off unit columns; what a callback sees (and saves) is
    # V / ‖V‖, and the state keeps V, so a saved model resumes bit for bit.
    norms = []

    def callback(model, progress):
        norms.append(np.linalg.norm(model.decoder_weights_, axis=0))
        if progress.iteration == 3:
            model.save(tmp_path / "at3.safetensors")
        return progress.iteration == 3

    hyper = dict(UNIT_NORM, solver=solver, learning_rate=0.05, max_iter=8)
    stopped = SparseAutoencoder(6, **hyper).fit(X, callback=callback)
    np.testing.assert_allclose(np.concatenate(norms), 1, rtol=1e-12)
    np.testing.assert_allclose(
        np.linalg.norm(stopped.decoder_weights_, axis=0), 1, rtol=1e-12
    )
    whole = SparseAutoencoder(6, **hyper).fit(X)
    for resumed in (stopped, load(tmp_path / "at3.safetensors")):
        resumed.resume_fit(X)
        np.testing.assert_array_equal(resumed.decoder_weights_, whole.decoder_weights_)
        np.testing.assert_array_equal(resumed.components_, whole.components_)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_unit_norm_run_extended_is_one_run(X, solver):
    hyper = dict(UNIT_NORM, solver=solver, learning_rate=0.05)
    whole = SparseAutoencoder(6, **hyper, max_iter=8).fit(X)
    extended = SparseAutoencoder(6, **hyper, max_iter=4).fit(X)
    extended.set_params(max_iter=8).resume_fit(X)
    np.testing.assert_array_equal(extended.decoder_weights_, whole.decoder_weights_)
    np.testing.assert_array_equal(extended.components_, whole.components_)
    assert extended.loss_curve_ == whole.loss_curve_


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(hidden_activation="relu"), "hidden_activation='relu' needs penalty='l1'"),
        (dict(hidden_activation="topk"), r"needs k.*n_components=5\], got k=None"),
        (dict(hidden_activation="topk", k=6), r"n_components=5\], got k=6"),
    ],
)
def test_invalid_combinations_name_the_parameter(X, params, message):
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(5, **params).fit(X)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_a_k_that_the_units_do_not_use_is_warned_about(X, activation):
    params = dict(hidden_activation=activation, k=3, max_iter=2)
    if activation == "relu":
        params["penalty"] = "l1"
    with pytest.warns(
        UserWarning, match=rf"k=3 is not used.*got hidden_activation='{activation}'"
    ):
        SparseAutoencoder(5, **params).fit(X)


def test_saved_files_record_the_unit(X, tmp_path):
    model = SparseAutoencoder(
        6,
        hidden_activation="topk",
        k=2,
        unit_norm_decoder=True,
        max_iter=5,
        random_state=0,
    ).fit(X)
    again = load(model.save(tmp_path / "m.safetensors"))
    assert (again.hidden_activation, again.k, again.unit_norm_decoder) == (
        "topk",
        2,
        True,
    )
    np.testing.assert_array_equal(again.transform(X), model.transform(X))


def test_files_written_before_these_parameters_load_as_sigmoid(
    X, tmp_path, monkeypatch
):
    model = SparseAutoencoder(4, max_iter=5, random_state=0).fit(X)
    registered = model_file._FORMATS[_persistence.FORMAT]

    def old_dump(m):
        fields, arrays = registered.dump(m)
        for name in _persistence.ADDED_PARAMS:
            del fields["params"][name]
        return fields, arrays

    monkeypatch.setitem(
        model_file._FORMATS,
        _persistence.FORMAT,
        dataclasses.replace(registered, dump=old_dump),
    )
    path = model.save(tmp_path / "old.safetensors")
    assert "hidden_activation" not in model_file.read_info(path)["params"]
    monkeypatch.undo()
    again = load(path)
    assert again.hidden_activation == "sigmoid" and again.k is None
    assert again.unit_norm_decoder is False and again.tied_weights is False
    np.testing.assert_array_equal(again.transform(X), model.transform(X))
