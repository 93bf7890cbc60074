"""Properties of the estimator on random problems (Hypothesis).

``tests/test_properties.py`` holds those of the kernel (gradient check, KL >= 0,
permutation invariance, float32 kernel, determinism of one evaluation); these
are the same promises made through ``fit``, ``transform`` and the solvers.
"""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder

from ..conftest import examples


@st.composite
def problems(draw):
    """Data in [0, 1] and an estimator with random settings, small and fast."""
    m, n = draw(st.integers(1, 30)), draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    X = np.random.default_rng(seed).uniform(size=(m, n))
    solver = draw(st.sampled_from(["lbfgs", "sgd", "adam"]))
    params = dict(
        n_components=draw(st.integers(1, 6)),
        sparsity_target=draw(st.floats(0.01, 0.5)),
        sparsity_weight=draw(st.floats(0, 5)),
        weight_decay=draw(st.floats(0, 1e-2)),
        penalty=draw(st.sampled_from(["kl", "squared", "l1"])),
        solver=solver,
        max_iter=draw(st.integers(1, 4)),
        batch_size=draw(st.sampled_from(["auto", 1, 4])),
        rho_estimate=draw(st.sampled_from(["batch", "running"])),
        random_state=draw(st.integers(0, 2**31)),
    )
    if solver == "sgd":
        params["learning_rate"] = 0.05
    return X, params


def fit(X, **params):
    with warnings.catch_warnings():
        # Short runs by design; a batch larger than 1-sample data is clipped.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return SparseAutoencoder(**params).fit(X)


@settings(max_examples=examples(60), deadline=None)
@given(problems(), st.sampled_from([np.float32, np.float64]))
def test_same_random_state_same_model(problem, dtype):
    X, params = problem
    first, second = (fit(X, **params, dtype=dtype) for _ in range(2))
    for a, b in zip(first._params(), second._params(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_


@settings(max_examples=examples(60), deadline=None)
@given(problems(), st.sampled_from([np.float32, np.float64]))
def test_transform_lies_in_0_1(problem, dtype):
    X, params = problem
    model = fit(X, **params, dtype=dtype)
    data = np.random.default_rng(0).uniform(size=(10, X.shape[1]))
    codes = model.transform(data)
    assert ((codes >= 0) & (codes <= 1)).all()
    # Strictly inside, except where the sigmoid rounds to 0 or 1: beyond about
    # 37 in float64 and 17 in float32.
    z = data.astype(dtype) @ model.components_.T + model.intercept_hidden_
    moderate = np.abs(z) < (30 if dtype is np.float64 else 15)
    assert ((codes[moderate] > 0) & (codes[moderate] < 1)).all()


@settings(max_examples=examples(40), deadline=None)
@given(problems())
def test_float32_in_float32_out_through_the_estimator(problem):
    X, params = problem
    X32 = X.astype(np.float32)
    model = fit(X32, **params, dtype=np.float32)
    assert all(block.dtype == np.float32 for block in model._params())
    codes = model.transform(X32)
    assert codes.dtype == np.float32
    assert model.inverse_transform(codes).dtype == np.float32
    assert np.isfinite(model.loss_curve_).all()
    if params["solver"] != "lbfgs":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.partial_fit(X32)
        assert all(block.dtype == np.float32 for block in model._params())
