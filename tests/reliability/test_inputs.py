"""Bad data and bad parameters, at every place they enter the estimator.

Every error must name the input or parameter, the bad value and what is valid;
what is accepted (a single sample, object arrays of numbers, a batch larger
than the data) must give a sensible model.  ``docs/reliability.md`` lists the
decisions.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sparseae import (
    SoftmaxClassifier,
    SparseAutoencoder,
    StackedAutoencoder,
    ZCAWhitening,
)

from ..conftest import examples


def fitted(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SparseAutoencoder(3, max_iter=3, random_state=0, **kwargs).fit(X)


def entry_points(X):
    """Every way data enters a model, as callables taking the data."""
    lbfgs, adam = fitted(X), fitted(X, solver="adam")

    def fit(solver):
        def run(data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return fitted(data, solver=solver)

        return run

    return {
        "fit-lbfgs": fit("lbfgs"),
        "fit-sgd": fit("sgd"),
        "fit-adam": fit("adam"),
        "partial_fit-first": SparseAutoencoder(3, solver="adam").partial_fit,
        "partial_fit-later": adam.partial_fit,
        "resume_fit": adam.resume_fit,
        "transform": lbfgs.transform,
        "score": lbfgs.score,
        "fit_transform": SparseAutoencoder(3, max_iter=3).fit_transform,
    }


ENTRY_POINTS = list(entry_points(np.full((4, 5), 0.5)))


def bad_data(X):
    """(name, data, exception type, pattern the message must match)."""
    nan, inf = X.copy(), X.copy()
    nan[2, 3] = np.nan
    inf[4, 1] = -np.inf
    strings = X.astype(object)
    strings[1, 1] = "high"
    dicts = X.astype(object)
    dicts[0, 0] = {"a": 1}
    return [
        (
            "nan",
            nan,
            ValueError,
            r"X contains 1 non-finite values \(1 NaN, 0 inf\), "
            r"the first at row 2, column 3; .* impute or drop them",
        ),
        (
            "inf",
            inf,
            ValueError,
            r"X contains 1 non-finite values \(0 NaN, 1 inf\), "
            r"the first at row 4, column 1",
        ),
        (
            "empty",
            X[:0],
            ValueError,
            r"0 sample\(s\) \(shape=\(0, 5\)\) while a "
            r"minimum of 1 is required",
        ),
        ("no-features", X[:, :0], ValueError, r"0 feature\(s\) \(shape=\(20, 0\)\)"),
        (
            "strings",
            strings,
            ValueError,
            "X must hold real numbers: could not convert string to float: 'high'",
        ),
        (
            "dict",
            dicts,
            TypeError,
            "X must hold real numbers: float\\(\\) argument "
            "must be a string or a real number, not 'dict'",
        ),
        (
            "complex",
            X + 0j,
            ValueError,
            "Complex data not supported: X has dtype "
            r"complex128; pass X.real or abs\(X\)",
        ),
        ("1-d", X[0], ValueError, "Expected 2D array, got 1D array"),
        ("3-d", X[None], ValueError, "Found array with dim 3"),
    ]


BAD_DATA = [case[0] for case in bad_data(np.full((20, 5), 0.5))]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_refused_everywhere_it_enters(X, entry, case):
    _, data, kind, pattern = next(c for c in bad_data(X) if c[0] == case)
    with pytest.raises(kind, match=pattern):
        entry_points(X)[entry](data)


@pytest.mark.parametrize("entry", ["transform", "score", "partial_fit-later"])
def test_wrong_number_of_features_names_both(X, entry):
    with pytest.raises(
        ValueError, match="X has 4 features, but SparseAutoencoder is expecting 5"
    ):
        entry_points(X)[entry](X[:, :4])


def test_inverse_transform_checks_the_codes(X):
    model = fitted(X)
    codes = model.transform(X)
    codes[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains 1 non-finite values"):
        model.inverse_transform(codes)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        model.inverse_transform(X)
    with pytest.raises(TypeError, match="[Ss]parse data"):
        model.inverse_transform(sp.csr_matrix(codes[:2, :]))


TRAINING = {"fit-lbfgs", "fit-sgd", "fit-adam", "fit_transform"}
TRAINING |= {"partial_fit-first", "partial_fit-later"}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_data_outside_0_1_trains_with_a_warning_and_encodes_silently(X, entry):
    # A sigmoid output cannot reconstruct values outside [0, 1], but the squared
    # error stays defined: training warns, encoding (transform, score, and
    # resume_fit on the data it already warned about) takes any finite values.
    outside = X.copy()
    outside[0, 0] = -0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        entry_points(X)[entry](outside)
    range_warnings = [w for w in caught if "X has values in" in str(w.message)]
    if entry not in TRAINING:
        assert not range_warnings
        return
    assert len(range_warnings) == 1
    assert range_warnings[0].category is UserWarning
    assert re.match(
        r"X has values in \[-0.5, 0.\d+\], but output_activation='sigmoid' "
        r"reconstructs values in \[0, 1\] only.*MinMaxScaler.*"
        r"output_activation='linear'",
        str(range_warnings[0].message),
    )


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_cross_entropy_refuses_targets_outside_0_1(X, solver):
    outside = X.copy()
    outside[3, 1] = 1.5
    model = SparseAutoencoder(3, loss="cross_entropy", solver=solver)
    with pytest.raises(
        ValueError,
        match=r"X has values in \[0.\d+, 1.5\], but loss='cross_entropy' needs "
        r"targets in \[0, 1\].*MinMaxScaler.*loss='squared'",
    ):
        model.fit(outside)


def test_linear_output_takes_data_outside_0_1(X):
    model = fitted(4 * X - 2, output_activation="linear")
    assert np.isfinite(model.transform(4 * X - 2)).all()


# ---------------------------------------------------------------- accepted ---


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_a_single_sample_is_valid(X, solver):
    model = fitted(X[:1], solver=solver)
    assert model.n_iter_ >= 1
    assert np.isfinite(model.components_).all()
    assert model.transform(X[:1]).shape == (1, 3)


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.astype(object),
        lambda X: X.astype(str),
        lambda X: X.tolist(),
        lambda X: X.astype(np.float32).astype(np.float64),
    ],
    ids=["object", "numeric-strings", "list", "float32-values"],
)
def test_other_containers_of_numbers_give_the_same_model(X, convert):
    data = convert(X)
    expected = convert(X) if isinstance(data, np.ndarray) else X
    reference = fitted(np.asarray(expected, dtype=np.float64))
    model = fitted(data)
    np.testing.assert_array_equal(model.components_, reference.components_)


def test_a_batch_larger_than_the_data_is_clipped_with_a_warning(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(
            UserWarning,
            match="batch_size=1000 is larger than the 20 samples of X; using "
            "batch_size=20",
        ):
            clipped = SparseAutoencoder(3, solver="sgd", batch_size=1000, max_iter=2)
            clipped.set_params(random_state=0).fit(X)
        exact = SparseAutoencoder(
            3, solver="sgd", batch_size=20, max_iter=2, random_state=0
        ).fit(X)
    np.testing.assert_array_equal(clipped.components_, exact.components_)


def test_auto_batch_size_needs_no_warning(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        SparseAutoencoder(3, solver="adam", max_iter=2).fit(X)


# -------------------------------------------------------------- parameters ---

BAD_PARAMETERS = [
    ("n_components", 0),
    ("n_components", -3),
    ("n_components", 2.5),
    ("n_components", "10"),
    ("sparsity_target", 0.0),
    ("sparsity_target", 1.0),
    ("sparsity_target", 1.5),
    ("sparsity_target", -0.1),
    ("sparsity_target", float("nan")),
    ("sparsity_weight", -1.0),
    ("sparsity_weight", float("inf")),
    ("weight_decay", -1e-4),
    ("weight_decay", float("nan")),
    ("penalty", "l2"),
    ("output_activation", "relu"),
    ("loss", "hinge"),
    ("solver", "newton"),
    ("max_iter", 0),
    ("lbfgs_memory", 0),
    ("batch_size", 0),
    ("batch_size", 2.5),
    ("batch_size", "all"),
    ("learning_rate", 0.0),
    ("learning_rate", -0.1),
    ("learning_rate", float("inf")),
    ("learning_rate", "fast"),
    ("momentum", 1.0),
    ("momentum", -0.1),
    ("rho_estimate", "global"),
    ("rho_decay", 1.0),
    ("tol", -1.0),
    ("n_iter_no_change", 0),
    ("random_state", -1),
    ("random_state", "seed"),
    ("dtype", "float16"),
    # Python's bools are ints, which scikit-learn's Interval lets through.
    ("n_components", True),
    ("weight_decay", False),
    ("sparsity_weight", True),
    ("max_iter", True),
    ("learning_rate", True),
    ("momentum", False),
    ("tol", False),
]


@pytest.mark.parametrize(("name", "value"), BAD_PARAMETERS)
def test_bad_parameters_name_the_parameter_the_value_and_what_is_valid(X, name, value):
    model = SparseAutoencoder(**{name: value})
    with pytest.raises(InvalidParameterError) as error:
        model.fit(X)
    message = str(error.value)
    assert f"The '{name}' parameter of SparseAutoencoder must be" in message
    assert f"Got {value!r} instead." in message


@pytest.mark.parametrize(
    ("estimator", "name"),
    [
        (StackedAutoencoder, "weight_decay"),
        (StackedAutoencoder, "pretrain_max_iter"),
        (SoftmaxClassifier, "weight_decay"),
        (SoftmaxClassifier, "max_iter"),
        (ZCAWhitening, "epsilon"),
    ],
)
def test_other_estimators_refuse_booleans_for_numbers(X, estimator, name):
    model = estimator(**{name: True})
    with pytest.raises(InvalidParameterError) as error:
        model.fit(X, np.arange(20) % 2)
    message = str(error.value)
    assert f"The '{name}' parameter of {estimator.__name__} must be" in message
    assert message.endswith("Got True instead.")


def test_parameters_that_only_fail_together(X):
    with pytest.raises(
        ValueError,
        match="loss='cross_entropy' needs output_activation='sigmoid', got "
        "output_activation='linear'",
    ):
        SparseAutoencoder(loss="cross_entropy", output_activation="linear").fit(X)
    with pytest.raises(
        ValueError, match="dtype must be float32 or float64, got <class 'numpy.int32'>"
    ):
        SparseAutoencoder(dtype=np.int32).fit(X)


# ------------------------------------------------------------ fuzzed data ---

specials = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([np.nan, np.inf, -np.inf, -1e-300, 1 + 1e-15, 1e308, 0.0, 1.0]),
)


@st.composite
def arrays(draw):
    """Valid data of random shape (empty included) with up to 3 entries poked."""
    m, n = draw(st.integers(0, 6)), draw(st.integers(0, 4))
    X = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(size=(m, n))
    for _ in range(draw(st.integers(0, 3)) if X.size else 0):
        X.flat[draw(st.integers(0, X.size - 1))] = draw(specials)
    return X


@settings(max_examples=examples(400), deadline=None)
@given(arrays(), st.sampled_from(["lbfgs", "adam"]), st.sampled_from(["fit", "use"]))
def test_fuzzed_arrays_give_a_model_or_a_clean_error(data, solver, how):
    """Random shapes and values (NaN, inf, huge, out of range, empty)."""
    model = SparseAutoencoder(2, max_iter=2, solver=solver, random_state=0)
    finite = data.size > 0 and bool(np.isfinite(data).all())
    outside = finite and not ((0 <= data) & (data <= 1)).all()
    codes = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            if how == "fit":
                codes = model.fit_transform(data)
            else:
                codes = model.fit(np.full((3, 4), 0.5)).transform(data)
        except ValueError as error:
            message = str(error)
    # Training on finite data outside [0, 1] warns once; encoding never does.
    ranges = [w for w in caught if "[0, 1]" in str(w.message)]
    assert len(ranges) == (how == "fit" and outside)
    assert all(w.category is UserWarning for w in ranges)
    if codes is None:
        # Refused data, or data too large for the objective's squares or the
        # encoder's products (1e308): a ValueError saying to scale the data.
        assert "\n" not in message, message
        reason = re.search(
            r"^X .*(non-finite|too large)|0 sample|0 feature|features|scale the data",
            message,
        )
        assert reason, message
        event(f"refused: {reason.group(1) or reason.group(0)}")
        return
    event(f"fitted ({'outside [0, 1]' if outside else 'in [0, 1]'})")
    assert finite
    assert np.isfinite(codes).all() and ((codes >= 0) & (codes <= 1)).all()
