import itertools
import logging

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparseae import Progress, SparseAutoencoder, loss_terms
from sparseae.datasets import load_digits_scaled

# scikit-learn's checks draw data from normal distributions and blobs, outside
# [0, 1]; a sigmoid output layer refuses such data with a ValueError by design
# (it could not reconstruct it, and cross-entropy would be unbounded below).
# The linear-output instances below run every check on that data and pass.
OUT_OF_RANGE = (
    "the check's data lies outside [0, 1], which a sigmoid output layer refuses "
    "by design; the same check passes with output_activation='linear'"
)
SIGMOID_FAILURES = {
    name: OUT_OF_RANGE
    for name in (
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_pipeline_consistency",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_transformer_n_iter",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    )
}


def expected_failures(estimator):
    return SIGMOID_FAILURES if estimator.output_activation == "sigmoid" else {}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        SparseAutoencoder(4, output_activation="linear", max_iter=20, random_state=0),
        SparseAutoencoder(
            4, output_activation="linear", solver="adam", max_iter=3, random_state=0
        ),
        SparseAutoencoder(
            4,
            output_activation="linear",
            solver="sgd",
            learning_rate=0.01,
            rho_estimate="batch",
            max_iter=3,
            random_state=0,
        ),
        SparseAutoencoder(4, max_iter=20, random_state=0),
    ],
    expected_failed_checks=expected_failures,
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    return load_digits_scaled()[0]


# A small problem that L-BFGS solves to convergence in well under a second: the
# MNIST hyperparameters of the course (rho=0.1, lambda=3e-3, beta=3) on 500 digits.
HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=3e-3)


@pytest.fixture(scope="module")
def lbfgs_objective(digits):
    model = SparseAutoencoder(10, **HYPER, max_iter=2000, random_state=0)
    return loss_terms(model.fit(digits[:500])._params(), digits[:500], **HYPER).total


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("solver", "learning_rate"), [("sgd", 0.1), ("adam", 0.01)], ids=["sgd", "adam"]
)
def test_large_batches_reach_the_lbfgs_objective(
    digits, lbfgs_objective, solver, learning_rate
):
    X = digits[:500]
    model = SparseAutoencoder(
        10,
        **HYPER,
        solver=solver,
        learning_rate=learning_rate,
        batch_size=250,
        rho_estimate="batch",
        max_iter=1500,
        n_iter_no_change=1500,
        random_state=0,
    ).fit(X)
    reached = loss_terms(model._params(), X, **HYPER).total
    assert reached == pytest.approx(lbfgs_objective, rel=0.02)


def test_running_estimate_ends_closer_to_the_target_than_the_batch_estimate(digits):
    # docs/minibatch.md: the batch estimate's s term is biased towards pushing
    # activations up when rho = 0.01 and batches hold 32 samples.
    gaps = {"batch": [], "running": []}
    for estimate, seed in itertools.product(gaps, range(3)):
        model = SparseAutoencoder(
            25,
            sparsity_target=0.01,
            solver="adam",
            learning_rate=0.01,
            batch_size=32,
            rho_estimate=estimate,
            max_iter=60,
            tol=0,
            n_iter_no_change=60,
            random_state=seed,
        )
        with pytest.warns(ConvergenceWarning, match="max_iter=60"):
            model.fit(digits)
        gaps[estimate].append(model.transform(digits).mean() - 0.01)
    # Measured: 0.0072 against 0.0078 (docs/minibatch.md).
    assert 0 < np.mean(gaps["running"]) < 0.97 * np.mean(gaps["batch"])
    assert all(np.less(gaps["running"], gaps["batch"]))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_and_grid_search(digits):
    X, y = digits[:200], load_digits_scaled()[1][:200]
    pipeline = make_pipeline(
        SparseAutoencoder(16, max_iter=50, random_state=0),
        LogisticRegression(max_iter=500),
    )
    search = GridSearchCV(
        pipeline, {"sparseautoencoder__sparsity_target": [0.05, 0.1]}, cv=2
    ).fit(X, y)
    assert search.best_score_ > 0.6
    assert search.predict(X[:5]).shape == (5,)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_reconstruction_score(digits):
    search = GridSearchCV(
        SparseAutoencoder(max_iter=50, random_state=0), {"n_components": [2, 16]}, cv=2
    ).fit(digits[:200])
    assert search.best_params_ == {"n_components": 16}


def test_partial_fit_initialises_lazily_and_accepts_any_number_of_calls(digits):
    model = SparseAutoencoder(8, solver="adam", batch_size=50, random_state=0)
    assert not hasattr(model, "components_")
    for start in range(0, 300, 100):
        model.partial_fit(digits[start : start + 100])
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert model.transform(digits[:5]).shape == (5, 8)


def test_partial_fit_continues_from_lbfgs_weights(digits):
    model = SparseAutoencoder(4, tol=1e-2, random_state=0).fit(digits[:100])
    before = model.score(digits[:100])
    model.set_params(solver="adam", learning_rate=1e-3).partial_fit(digits[:100])
    assert model.n_iter_ == len(model.loss_curve_)
    assert model.score(digits[:100]) == pytest.approx(before, rel=0.05)


def test_partial_fit_is_only_offered_by_minibatch_solvers():
    assert not hasattr(SparseAutoencoder(solver="lbfgs"), "partial_fit")
    assert hasattr(SparseAutoencoder(solver="sgd"), "partial_fit")


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_same_random_state_same_model(digits, solver):
    models = [
        SparseAutoencoder(6, solver=solver, max_iter=3, random_state=7)
        for _ in range(2)
    ]
    for model in models:
        with pytest.warns(ConvergenceWarning):
            model.fit(digits[:200])
    np.testing.assert_array_equal(models[0].components_, models[1].components_)


def test_convergence_warning_names_the_limit(digits):
    with pytest.warns(ConvergenceWarning, match="adam reached max_iter=2 epochs"):
        SparseAutoencoder(4, solver="adam", max_iter=2).fit(digits[:100])


def test_early_stopping_ends_without_warning(digits):
    model = SparseAutoencoder(
        4, solver="adam", max_iter=500, tol=0.5, n_iter_no_change=2, random_state=0
    ).fit(digits[:100])
    assert model.n_iter_ == 3


def test_float32_is_kept(digits):
    model = SparseAutoencoder(4, solver="adam", max_iter=1, dtype=np.float32)
    with pytest.warns(ConvergenceWarning):
        model.fit(digits[:100])
    assert model.components_.dtype == np.float32
    assert model.transform(digits[:3]).dtype == np.float32


def test_callback_sees_progress_and_can_stop(digits):
    seen = []

    def callback(model, progress):
        seen.append(progress)
        return len(seen) == 5

    model = SparseAutoencoder(4, solver="sgd", batch_size=10, max_iter=3)
    model.fit(digits[:40], callback=callback)
    assert len(seen) == 5 and isinstance(seen[0], Progress)
    assert [p.step for p in seen] == [1, 2, 3, 4, 1]
    assert seen[-1].iteration == model.n_iter_ == 1
    assert 0 < seen[0].fraction < seen[-1].fraction < 1


def test_verbose_logs_each_epoch(digits, caplog):
    with caplog.at_level(logging.INFO, logger="sparseae"):
        with pytest.warns(ConvergenceWarning):
            SparseAutoencoder(4, solver="adam", max_iter=2, verbose=1).fit(digits)
    assert sum("epoch" in record.message for record in caplog.records) == 2


def test_feature_names_and_set_output(digits):
    model = SparseAutoencoder(3, tol=1e-2, random_state=0).fit(digits[:50])
    names = model.get_feature_names_out()
    assert names.tolist() == [f"sparseautoencoder{i}" for i in range(3)]
    model.set_output(transform="default")
    assert isinstance(model.transform(digits[:2]), np.ndarray)


def test_set_output_pandas(digits):
    pytest.importorskip("pandas")
    model = SparseAutoencoder(3, tol=1e-2, random_state=0).set_output(
        transform="pandas"
    )
    frame = model.fit_transform(digits[:50])
    assert list(frame.columns)[:2] == ["sparseautoencoder0", "sparseautoencoder1"]


def test_score_is_negative_mean_reconstruction_error(digits):
    model = SparseAutoencoder(8, tol=1e-2, random_state=0).fit(digits[:100])
    reconstruction = model.inverse_transform(model.transform(digits[:100]))
    error = 0.5 * ((reconstruction - digits[:100]) ** 2).sum(axis=1).mean()
    assert model.score(digits[:100]) == pytest.approx(-error)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(solver="newton"), r"'solver' parameter .* Got 'newton'"),
        (dict(rho_decay=1.0), r"'rho_decay' parameter .* Got 1.0"),
        (dict(batch_size=0), r"'batch_size' parameter .* Got 0"),
        (
            dict(loss="cross_entropy", output_activation="linear"),
            "loss='cross_entropy' needs output_activation='sigmoid'",
        ),
    ],
)
def test_bad_parameters_are_named(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(**kwargs).fit(digits[:10])


def test_data_outside_the_sigmoid_range_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="output_activation='linear'"):
        SparseAutoencoder(2).fit(np.array([[0.0, 2.0], [1.0, 0.5]]))
