import itertools
import re
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_set_output_transform_pandas,
    parametrize_with_checks,
)

from sparseae import Progress, SparseAutoencoder, loss_terms
from sparseae.datasets import load_digits_scaled
from sparseae.models import _transform


# scikit-learn's checks draw data from normal distributions and blobs, outside
# [0, 1]: a sigmoid output trains on it with a UserWarning (it cannot
# reconstruct the part outside), which the checks need not see.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:X has values in:UserWarning")
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


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_callback_that_cannot_be_called_is_refused_before_training(digits, solver):
    # It raised "'str' object is not callable" from inside the loop, after
    # the first iteration's work (a pass over a whole file for fit_file).
    model = SparseAutoencoder(4, solver=solver, max_iter=2, verbose=1)
    for method in (model.fit, model.resume_fit):
        with pytest.raises(TypeError, match="callback must be None or a function"):
            method(digits[:50], callback="print")
    assert not hasattr(model, "components_")


@pytest.mark.parametrize(("solver", "lines"), [("lbfgs", 3), ("adam", 2)])
def test_verbose_prints_a_line_per_iteration_or_epoch(digits, capsys, solver, lines):
    model = SparseAutoencoder(4, solver=solver, max_iter=lines, verbose=1)
    with pytest.warns(ConvergenceWarning):
        model.fit(digits[:200])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == lines
    assert re.fullmatch(
        r"Iteration 1, loss = [\d.]+, mean activation = [\d.]+", out[0]
    ), out[0]
    assert out[-1].startswith(f"Iteration {lines}, ")


def test_silent_unless_verbose(digits, capsys):
    with pytest.warns(ConvergenceWarning):
        SparseAutoencoder(4, max_iter=2).fit(digits[:100])
    assert capsys.readouterr() == ("", "")


def test_verbose_2_draws_a_progress_bar_and_keeps_the_callback(digits, capsys):
    pytest.importorskip("tqdm")
    seen = []
    model = SparseAutoencoder(4, solver="adam", batch_size=50, max_iter=2, verbose=2)
    with pytest.warns(ConvergenceWarning):
        model.fit(digits[:200], callback=lambda m, p: seen.append(p.step))
    assert "0/2 [" in capsys.readouterr().err  # tqdm draws on stderr
    assert seen == [1, 2, 3, 4] * 2


def test_no_progress_bar_without_tqdm(digits, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails
    with pytest.warns(ConvergenceWarning):
        SparseAutoencoder(4, max_iter=2, verbose=2).fit(digits[:100])
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("Iteration") == 2


def test_a_run_cut_short_while_still_falling_warns(digits):
    with pytest.warns(ConvergenceWarning, match=r"max_iter=5 .*the loss fell") as w:
        model = SparseAutoencoder(4, max_iter=5, random_state=0).fit(digits[:200])
    # The fall is relative to where the window began: 4.9 -> 0.23 is 95%, not
    # the 2000% it read when it was relative to the end.
    curve = model.loss_curve_
    fell = float(re.search(r"fell ([0-9.]+)%", str(w[0].message)).group(1))
    assert fell == pytest.approx(100 * (curve[0] - curve[-1]) / curve[0], abs=0.01)
    assert 0 < fell <= 100


def test_a_minibatch_run_that_ends_worse_than_it_began_warns(digits, monkeypatch):
    # A run worse than it began but short of the divergence factor (raised
    # here so that this one is not stopped as diverged) once
    # ended as "no improvement" without a word.
    import sparseae.training.minibatch as minibatch

    monkeypatch.setattr(minibatch, "DIVERGENCE_FACTOR", 1e9)
    model = SparseAutoencoder(
        4, solver="sgd", sparsity_weight=300, max_iter=30, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="made the model worse.*learning_rate"):
        model.fit(digits[:300])
    assert model.loss_curve_[-1] > model.loss_curve_[0]


def test_a_line_search_stalled_at_the_kinks_of_topk_says_so():
    from sparseae.solvers import SolverResult
    from sparseae.training.lbfgs import LbfgsOutcome, convergence_problem

    stalled = SolverResult(
        np.zeros(2), 0.5, 74, 80, False, "the line search found no lower loss"
    )
    outcome = LbfgsOutcome(stalled, stopped=False, state=None)
    assert "use dtype=float64" in convergence_problem(outcome, 400)
    kinked = convergence_problem(outcome, 400, kinked=True)
    assert "kinks" in kinked and "dtype=float64" not in kinked
    # At the resolution of a minimum of 0 the run has converged.
    at_zero = SolverResult(np.zeros(2), 1e-12, 74, 80, False, "no lower loss")
    at_zero = LbfgsOutcome(at_zero, stopped=False, state=None)
    assert convergence_problem(at_zero, 400, start_loss=0.3) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_iter=400, tol=0),
        dict(solver="adam", learning_rate=1e-7, max_iter=12, tol=0),
    ],
    ids=["lbfgs", "adam"],
)
def test_a_run_the_budget_ends_after_it_flattened_does_not_warn(kwargs):
    # Warnings are errors: a ConvergenceWarning here fails the test.  The
    # L-BFGS run falls 0.004% in its last 10 iterations, Adam with a step this
    # small not at all (docs: the tol parameter).
    X = np.random.default_rng(0).uniform(size=(200, 16))
    model = SparseAutoencoder(4, random_state=0, **kwargs).fit(X)
    assert model.n_iter_ == model.max_iter


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


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_score_adds_up_blocks_of_rows(digits, monkeypatch, layout):
    model = SparseAutoencoder(8, tol=1e-2, random_state=0).fit(digits[:100])
    reconstruction = model.inverse_transform(model.transform(digits[:100]))
    error = 0.5 * ((reconstruction - digits[:100]) ** 2).sum(axis=1).mean()
    # Blocks of 7 rows, the last of 2.
    monkeypatch.setattr(_transform, "SCORE_BLOCK_VALUES", 7 * digits.shape[1])
    X = digits[:100] if layout == "dense" else sp.csr_matrix(digits[:100])
    assert model.score(X) == pytest.approx(-error, rel=1e-12)


def test_score_of_sparse_input_never_holds_a_dense_reconstruction():
    # 4,000 × 2,000 at 1%: 0.5 MB stored, a 64 MB reconstruction when whole
    # (the peak before scoring went by blocks of rows).
    X = sp.random(4000, 2000, density=0.01, format="csr", random_state=0)
    with warnings.catch_warnings(action="ignore"):
        model = SparseAutoencoder(8, max_iter=1, random_state=0).fit(X[:50])
    dense = model.score(X.toarray())
    tracemalloc.start()
    try:
        score = model.score(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert score == pytest.approx(dense, rel=1e-12)
    assert peak < 4000 * 2000 * 8 / 2


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


def test_data_outside_the_sigmoid_range_trains_with_a_warning_naming_the_fix():
    X = np.array([[0.0, 2.0], [1.0, 0.5], [0.2, 0.3]])
    with pytest.warns(UserWarning, match=r"X has values in \[0, 2\].*MinMaxScaler"):
        model = SparseAutoencoder(2, tol=1e-3, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = model.transform(X + 5)
    assert np.isfinite(codes).all()


def test_cross_entropy_refuses_targets_outside_0_1():
    with pytest.raises(ValueError, match="loss='cross_entropy' needs targets in"):
        SparseAutoencoder(2, loss="cross_entropy").fit([[0.0, 2.0], [1.0, 0.5]])


def test_minmax_pipeline_scores_held_out_data():
    # MinMaxScaler fitted on one fold maps the others slightly outside [0, 1]
    # (digits: up to 2.67 where a pixel is brighter than in the training fold).
    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(
        MinMaxScaler(),
        SparseAutoencoder(16, max_iter=30, random_state=0),
        LogisticRegression(max_iter=300),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipeline, X[:600], y[:600], cv=3, error_score="raise")
    assert np.isfinite(scores).all() and scores.min() > 0.2  # chance: 0.1


def test_transform_honours_set_output_and_config_context(digits):
    pd = pytest.importorskip("pandas")
    model = SparseAutoencoder(3, tol=1e-2, random_state=0).fit(digits[:50])
    with config_context(transform_output="pandas"):
        assert isinstance(model.transform(digits[:2]), pd.DataFrame)
    frame = model.set_output(transform="pandas").transform(digits[:2])
    assert list(frame.columns) == [f"sparseautoencoder{i}" for i in range(3)]


def test_pandas_pipeline_passes_feature_names_to_the_classifier(digits):
    pytest.importorskip("pandas")
    y = load_digits_scaled()[1][:100]
    pipeline = make_pipeline(
        SparseAutoencoder(8, tol=1e-2, random_state=0), LogisticRegression()
    ).set_output(transform="pandas")
    # Warnings are errors: LogisticRegression would warn that predict's X has
    # no feature names when fit's had them.
    pipeline.fit(digits[:100], y).predict(digits[:5])


@pytest.mark.parametrize(
    "check", [check_set_output_transform_pandas, check_global_output_transform_pandas]
)
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_scikit_learn_pandas_output_checks(check, output):
    pytest.importorskip("pandas")
    model = SparseAutoencoder(3, output_activation=output, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "X has values in", UserWarning)
        # The checks fit on a DataFrame and transform an array, and the other
        # way round, on purpose: scikit-learn's feature-name warnings follow.
        warnings.filterwarnings("ignore", ".*feature names", UserWarning)
        check("SparseAutoencoder", model)


SPARSE_CASES = list(
    itertools.product(["lbfgs", "adam"], ["csr", "csc"], [np.float32, np.float64])
)


@pytest.mark.parametrize(("solver", "layout", "dtype"), SPARSE_CASES)
def test_sparse_input_gives_the_model_of_the_dense_array(solver, layout, dtype):
    rng = np.random.default_rng(0)
    dense = (rng.random((120, 30)) < 0.1) * rng.random((120, 30))
    sparse = sp.csr_matrix(dense) if layout == "csr" else sp.csc_matrix(dense)
    models = [
        SparseAutoencoder(
            5, solver=solver, batch_size=40, max_iter=4, dtype=dtype, random_state=0
        )
        for _ in range(2)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models[0].fit(dense)
        models[1].fit(sparse)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(models[0]._params(), models[1]._params(), strict=True):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(
        models[1].transform(sparse), models[0].transform(dense), rtol=rtol
    )
    assert models[1].score(sparse) == pytest.approx(models[0].score(dense), rel=rtol)
    if solver == "adam":
        models[0].partial_fit(dense)
        models[1].partial_fit(sparse)
        np.testing.assert_allclose(
            models[1].components_, models[0].components_, rtol=rtol, atol=rtol
        )


def test_sparse_input_with_non_finite_values_is_refused():
    X = sp.csr_matrix(np.eye(4) * 0.5)
    X.data[2] = np.nan
    with pytest.raises(ValueError, match="1 non-finite values.*row 2, column 2"):
        SparseAutoencoder(2).fit(X)
    with pytest.raises(ValueError, match="Complex data not supported"):
        SparseAutoencoder(2).fit(sp.csr_matrix(np.eye(4) + 0j))


def test_a_refused_file_leaves_a_fitted_model_as_it_was(tmp_path):
    X = np.random.default_rng(0).uniform(size=(40, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SparseAutoencoder(3, loss="cross_entropy", max_iter=3).fit(X)
    codes = model.transform(X)
    np.save(tmp_path / "wide.npy", np.full((10, 7), 2.0))  # outside [0, 1]
    np.save(tmp_path / "empty.npy", np.zeros((0, 5)))
    for name in ("wide.npy", "empty.npy"):
        with pytest.raises(ValueError):
            model.fit_file(tmp_path / name)
        assert model.n_features_in_ == 5
        np.testing.assert_array_equal(model.transform(X), codes)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_callback_given_as_y_is_refused_saying_how_to_pass_it(solver):
    X = np.random.default_rng(0).uniform(size=(20, 4))
    model = SparseAutoencoder(2, solver=solver, max_iter=2)
    methods = ["fit"] + (["partial_fit"] if solver == "adam" else [])
    for method in methods:
        with pytest.raises(TypeError, match=rf"pass it as {method}\(X, callback="):
            getattr(model, method)(X, lambda model, progress: None)


def test_a_file_fit_resumes_from_the_same_file_to_the_same_bits(tmp_path):
    X = np.random.default_rng(0).uniform(size=(300, 10))
    path = tmp_path / "X.npy"
    np.save(path, X)
    hyper = dict(n_components=4, max_iter=10, random_state=0, tol=0)
    stop = dict(callback=lambda model, progress: progress.iteration == 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = SparseAutoencoder(**hyper).fit_file(path)
        model = SparseAutoencoder(**hyper).fit_file(path, **stop)
        assert model.n_iter_ == 4
        model.resume_fit(path)
        np.testing.assert_array_equal(model.components_, whole.components_)
        assert model.loss_curve_ == whole.loss_curve_
        # A larger max_iter goes on, as one run of that many iterations.
        longer = SparseAutoencoder(**{**hyper, "max_iter": 14}).fit_file(path)
        model.set_params(max_iter=14).resume_fit(str(path))
        np.testing.assert_array_equal(model.components_, longer.components_)
        stopped = SparseAutoencoder(**hyper).fit_file(path, **stop)
    with pytest.raises(ValueError, match=r"resume it from the same file"):
        stopped.resume_fit(X)
    np.save(tmp_path / "other.npy", X[:200])
    with pytest.raises(ValueError, match="is not the file the interrupted fit read"):
        stopped.resume_fit(tmp_path / "other.npy")
    assert stopped.n_iter_ == 4
