"""The stacked autoencoder: fine-tuning gradient and the estimator."""

import json
import struct
import warnings

import autograd.numpy as anp
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from autograd import grad
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparseae import StackedAutoencoder, check_gradient, load
from sparseae.core.softmax import softmax_cross_entropy, softmax_loss_and_grad
from sparseae.core.stacked import stack_forward, stack_loss_and_grad
from sparseae.datasets import load_digits_scaled
from sparseae.io.model_file import ModelFileError, _checksum, read_info

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def tiny_stack(sizes, seed=0, m=9, k=3):
    """Random float64 stack with layer sizes ``sizes`` (input first) and k classes."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(m, sizes[0]))
    y = rng.integers(k, size=m)
    shapes = list(zip([*sizes[1:], k], sizes, strict=True))
    blocks = {}
    for layer, (out, inp) in enumerate(shapes, start=1):
        blocks[f"W{layer}"] = rng.standard_normal((out, inp))
        blocks[f"b{layer}"] = 0.5 * rng.standard_normal(out)
    return X, y, blocks


def as_dict(X, y, lam):
    def fun(p):
        n = len(p) // 2
        weights = [p[f"W{layer}"] for layer in range(1, n + 1)]
        intercepts = [p[f"b{layer}"] for layer in range(1, n + 1)]
        loss, gW, gb = stack_loss_and_grad(weights, intercepts, X, y, weight_decay=lam)
        grads = {}
        for layer in range(1, n + 1):
            grads[f"W{layer}"], grads[f"b{layer}"] = gW[layer - 1], gb[layer - 1]
        return loss, grads

    return fun


@pytest.mark.parametrize("sizes", [(4,), (5, 4), (6, 4, 3), (5, 3, 4, 2)])
@pytest.mark.parametrize("lam", [0.0, 3e-3])
def test_fine_tuning_gradient_matches_finite_differences(sizes, lam):
    X, y, blocks = tiny_stack(sizes)
    result = check_gradient(as_dict(X, y, lam), blocks)
    # Per block, so that a failure names the layer whose gradient is wrong.
    assert result.passed(1e-9), result.relative_differences


def test_without_hidden_layers_it_is_softmax_regression():
    X, y, blocks = tiny_stack((5,))
    ours = stack_loss_and_grad([blocks["W1"]], [blocks["b1"]], X, y, weight_decay=0.2)
    plain = softmax_loss_and_grad(blocks["W1"], blocks["b1"], X, y, weight_decay=0.2)
    assert ours[0] == pytest.approx(plain[0], rel=1e-14)
    np.testing.assert_allclose(ours[1][0], plain[1], rtol=1e-14)
    np.testing.assert_allclose(ours[2][0], plain[2], rtol=1e-14)


def test_checker_catches_a_missing_sigmoid_derivative():
    # The classic slip: propagating δ back through W without the factor a (1 − a).
    X, y, blocks = tiny_stack((5, 4, 3))
    lam = 1e-3
    names = [("W1", "b1"), ("W2", "b2"), ("W3", "b3")]

    def wrong(p):
        weights, intercepts = [p[w] for w, _ in names], [p[b] for _, b in names]
        activations, scores = stack_forward(weights, intercepts, X)
        loss, delta = softmax_cross_entropy(scores, y)
        loss += 0.5 * lam * sum(np.sum(W**2) for W in weights)
        grads = {}
        for (w, b), W, a_in in zip(
            names[::-1], weights[::-1], activations[::-1], strict=True
        ):
            grads[w], grads[b] = delta.T @ a_in + lam * W, delta.sum(axis=0)
            delta = delta @ W
        return loss, grads

    result = check_gradient(wrong, blocks)
    differences = result.relative_differences
    assert differences["W3"] < 1e-9 and differences["b3"] < 1e-9
    assert min(differences[key] for key in ("W1", "b1", "W2", "b2")) > 1e-2


def independent_objective(theta, X, y, sizes, k, lam):
    start, a, decay = 0, X, 0.0
    dims = [*sizes, k]
    for layer in range(len(sizes)):
        out, inp = dims[layer + 1], dims[layer]
        W = anp.reshape(theta[start : start + out * inp], (out, inp))
        b = theta[start + out * inp : start + out * inp + out]
        start += out * inp + out
        decay = decay + anp.sum(W**2)
        z = anp.dot(a, W.T) + b
        a = z if layer == len(sizes) - 1 else 1 / (1 + anp.exp(-z))
    log_p = a - anp.log(anp.sum(anp.exp(a), axis=1, keepdims=True))
    return -anp.sum(np.eye(k)[y] * log_p) / X.shape[0] + lam / 2 * decay


def test_value_and_gradient_agree_with_autograd():
    sizes, k, lam = (6, 5, 4), 3, 0.01
    X, y, blocks = tiny_stack(sizes, seed=4, m=15, k=k)
    loss, grads = as_dict(X, y, lam)(blocks)
    theta = np.concatenate([blocks[key].ravel() for key in blocks])
    assert loss == pytest.approx(
        independent_objective(theta, X, y, sizes, k, lam), rel=1e-12
    )
    expected = grad(independent_objective)(theta, X, y, sizes, k, lam)
    ours = np.concatenate([grads[key].ravel() for key in blocks])
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-14)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_scaled()
    return X[:600], y[:600], X[600:900], y[600:900]


def small(**kwargs):
    settings = dict(
        hidden_layer_sizes=(24, 12),
        weight_decay=1e-4,
        pretrain_max_iter=30,
        softmax_max_iter=30,
        fine_tune_max_iter=30,
        random_state=0,
    )
    return StackedAutoencoder(**{**settings, **kwargs})


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_keeps_pretrained_layers_and_fine_tuning_lowers_the_objective(digits):
    X, y, _, _ = digits
    model = small().fit(X, y)
    assert len(model.autoencoders_) == 2
    for W, autoencoder in zip(
        model.pretrained_weights_[:-1], model.autoencoders_, strict=True
    ):
        assert W is autoencoder.components_
    assert [W.shape for W in model.weights_] == [(24, 64), (12, 24), (10, 12)]
    assert set(model.fit_times_) == {
        "pretrain layer 1",
        "pretrain layer 2",
        "softmax",
        "fine-tune",
    }
    encoded = np.searchsorted(model.classes_, y)
    lam = model.fine_tune_weight_decay
    before = stack_loss_and_grad(
        model.pretrained_weights_,
        model.pretrained_intercepts_,
        X,
        encoded,
        weight_decay=lam,
    )[0]
    after = stack_loss_and_grad(
        model.weights_, model.intercepts_, X, encoded, weight_decay=lam
    )[0]
    assert after < 0.7 * before
    assert model.n_iter_ == 30


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_without_fine_tuning_the_weights_are_the_pretrained_ones(digits):
    X, y, _, _ = digits
    model = small(fine_tune_max_iter=0, hidden_layer_sizes=(16,)).fit(X, y)
    assert model.n_iter_ == 0 and "fine-tune" not in model.fit_times_
    for W, W0 in zip(model.weights_, model.pretrained_weights_, strict=True):
        assert W is W0
    np.testing.assert_allclose(
        model.transform(X), model.autoencoders_[0].transform(X), rtol=1e-12
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_any_labels_and_same_seed_same_model(digits):
    X, y, X_test, _ = digits
    names = np.array([f"digit {d}" for d in range(10)])
    first = small(hidden_layer_sizes=(16,), fine_tune_max_iter=5).fit(X, names[y])
    second = small(hidden_layer_sizes=(16,), fine_tune_max_iter=5).fit(X, names[y])
    np.testing.assert_array_equal(first.classes_, names)
    np.testing.assert_array_equal(first.predict(X_test), second.predict(X_test))
    np.testing.assert_array_equal(first.weights_[0], second.weights_[0])
    assert first.predict_proba(X_test).shape == (300, 10)


def test_convergence_warning_names_the_stage_and_its_parameter(digits):
    # Each stage's own estimator or solver says "max_iter", which the stack
    # has not: the advice must name the parameter that sets that stage's budget.
    X, y, _, _ = digits
    # Stages whose loss was still falling when their budget ended (a stage
    # that had flattened out is not warned about: pretrained for only 3
    # iterations, these features leave the softmax layer almost nothing to
    # learn, and it says nothing).
    model = small(hidden_layer_sizes=(8, 6), softmax_max_iter=2, tol=0)
    with pytest.warns(ConvergenceWarning) as record:
        model.fit(X, y)
    messages = [str(w.message) for w in record]
    assert [m.split(":")[0] for m in messages if "pretrain" in m] == [
        "StackedAutoencoder pretraining layer 1",
        "StackedAutoencoder pretraining layer 2",
    ]
    for message in messages:
        assert "max_iter" not in message.replace("_max_iter", ""), message
    assert any(
        "pretraining layer 2: L-BFGS reached pretrain_max_iter=30" in m
        and "increase pretrain_max_iter or tol" in m
        for m in messages
    ), messages
    assert any(
        m.startswith("StackedAutoencoder softmax layer: ")
        and "reached softmax_max_iter=2" in m
        for m in messages
    ), messages
    assert any(
        m.startswith("StackedAutoencoder fine-tuning reached fine_tune_max_iter=30")
        and "increase fine_tune_max_iter or tol" in m
        for m in messages
    ), messages
    # At the caller's line, not inside the package.
    assert {w.filename for w in record} == {__file__}


def test_stage_warnings_become_errors_under_an_error_filter(digits):
    X, y, _, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="pretrain_max_iter=3"):
            small(hidden_layer_sizes=(8,), pretrain_max_iter=3, tol=0).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("sparse", [sp.csr_matrix, sp.csc_array])
def test_sparse_input_gives_the_dense_model(digits, sparse):
    # Its first stage, a SparseAutoencoder, takes sparse input; so does the stack.
    X, y, X_test, _ = digits
    dense = small(hidden_layer_sizes=(12, 6), fine_tune_max_iter=10).fit(X, y)
    model = small(hidden_layer_sizes=(12, 6), fine_tune_max_iter=10)
    model.fit(sparse(X), y)
    for W, W_dense in zip(model.weights_, dense.weights_, strict=True):
        np.testing.assert_allclose(W, W_dense, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        model.transform(sparse(X_test)), dense.transform(X_test), atol=1e-8
    )
    np.testing.assert_allclose(
        model.predict_proba(sparse(X_test)), dense.predict_proba(X_test), atol=1e-8
    )


@pytest.mark.parametrize("sizes", [(), (10, 0), (3.5,)])
def test_bad_layer_sizes_are_named(sizes):
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a non-empty"):
        StackedAutoencoder(sizes).fit(np.ones((2, 2)) / 2, [0, 1])


def test_data_outside_unit_interval_suggests_a_linear_decoder():
    with pytest.warns(UserWarning, match="output_activation='linear'"):
        StackedAutoencoder((3,), tol=1e-2).fit(
            np.array([[0.0, 2.0], [1.0, 0.0]]), [0, 1]
        )


@parametrize_with_checks(
    [
        StackedAutoencoder(
            (4,),
            output_activation="linear",
            pretrain_max_iter=20,
            softmax_max_iter=20,
            fine_tune_max_iter=20,
            tol=1e-4,
            random_state=0,
        )
    ]
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------------- model files ---


@pytest.fixture(scope="module")
def small_stack():
    """A fitted float32 stack on digits, labels as strings."""
    X, y = load_digits_scaled()
    labels = np.array([f"digit {d}" for d in y])
    model = StackedAutoencoder(
        (12, 6),
        weight_decay=1e-4,
        pretrain_max_iter=15,
        softmax_max_iter=15,
        fine_tune_max_iter=10,
        random_state=0,
        dtype=np.float32,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:300], labels[:300])
    return model, X


def test_save_and_load_give_the_same_predictions(small_stack, tmp_path):
    model, X = small_stack
    again = load(model.save(tmp_path / "stack.safetensors", extra={"note": 1}))
    assert type(again) is StackedAutoencoder
    assert again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(again.transform(X), model.transform(X))
    assert again.predict(X[:3]).tolist() == model.predict(X[:3]).tolist()
    features = X
    for a, b in zip(again.autoencoders_, model.autoencoders_, strict=True):
        np.testing.assert_array_equal(a.transform(features), b.transform(features))
        features = b.transform(features)
    for name in ("pretrained_weights_", "pretrained_intercepts_"):
        for a, b in zip(getattr(again, name), getattr(model, name), strict=True):
            np.testing.assert_array_equal(a, b)
    assert again.n_iter_ == model.n_iter_ and again.fit_times_ == model.fit_times_
    info = read_info(tmp_path / "stack.safetensors")
    assert info["format"] == "sparseae.StackedAutoencoder"
    assert info["extra"] == {"note": 1} and info["dtype"] == "float32"


def _edited(path, change):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    document = json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["sparseae"])
    arrays = dict(load_tensors(data))
    change(document, arrays)
    text = json.dumps(document)
    metadata = {"sparseae": text, "sparseae.sha256": _checksum(text, arrays)}
    path.write_bytes(save_tensors(arrays, metadata=metadata))
    return path


STACK_EDITS = {
    "layer-shape": (
        lambda d, a: a.update({"weights.1": np.zeros((6, 11), np.float32)}),
        r"weights.1 should be float32 of shape \(6, 12\)",
    ),
    "missing-layer": (lambda d, a: a.pop("intercepts.2"), "intercepts.2 .* nothing"),
    "unknown-array": (
        lambda d, a: a.update({"autoencoders.2.W1": np.zeros(1, np.float32)}),
        r"unknown arrays \['autoencoders.2.W1'\]",
    ),
    "autoencoder-block": (
        lambda d, a: a.update({"autoencoders.1.W2": np.zeros((6, 12), np.float32)}),
        "damaged autoencoder 1: .*W2 should be float32 of shape",
    ),
    "autoencoder-count": (
        lambda d, a: d["autoencoders"].pop(),
        r"has 1 autoencoders for hidden_layer_sizes=\[12, 6\]",
    ),
    "autoencoder-field": (
        lambda d, a: d["autoencoders"][0].pop("history"),
        r"damaged autoencoder 0: missing fields \['history'\]",
    ),
    "chain": (
        lambda d, a: d["params"].update(hidden_layer_sizes=[12, 7]),
        r"weights.1 should be float32 of shape \(7, 12\)",
    ),
    "classes": (
        lambda d, a: d["classes"].reverse(),
        "classes that are not 2 or more distinct, sorted labels",
    ),
    "classes-bool-and-int": (
        lambda d, a: d.update(classes=[0, True] + d["classes"][2:]),
        "classes that are not 2 or more distinct, sorted labels of one type",
    ),
    "bool-param": (
        lambda d, a: d["params"].update(tol=False),
        "has invalid params: The 'tol' parameter .* Got False instead",
    ),
    "nan": (
        lambda d, a: a["weights.0"].__setitem__((0, 0), np.nan),
        "NaN or infinite values in weights.0",
    ),
}


@pytest.mark.parametrize("fault", sorted(STACK_EDITS))
def test_damaged_stack_files_are_refused(small_stack, tmp_path, fault):
    model, _ = small_stack
    change, pattern = STACK_EDITS[fault]
    path = _edited(model.save(tmp_path / "stack.safetensors"), change)
    with pytest.raises(ModelFileError, match=f"^{path} .*{pattern}"):
        load(path)


def test_a_flipped_byte_in_a_stack_file_is_caught(small_stack, tmp_path):
    model, _ = small_stack
    path = model.save(tmp_path / "stack.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 1  # in the last array's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its SHA-256 digest"):
        load(path)


def test_verbose_prints_the_stages(capsys):
    X, y = load_digits_scaled()
    model = StackedAutoencoder(
        (4,),
        pretrain_max_iter=2,
        softmax_max_iter=2,
        fine_tune_max_iter=2,
        random_state=0,
        verbose=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:100], y[:100])
    out = capsys.readouterr().out
    for line in (
        "Pretraining layer 1: 64 -> 4 units, 100 samples",
        "Iteration 2, loss = ",
        "Training the softmax layer on 4 features",
        "Fine-tuning 2 layers",
        "Fine-tuning: 2 iterations, loss = ",
    ):
        assert line in out


def test_a_pretrained_layer_that_collapsed_is_warned_about():
    # The digits with layers 64, 32 and the default weight decay: the second
    # layer's units sit at one value for every image, and the softmax on them
    # guesses (about 0.10 before fine-tuning).
    X, y = load_digits_scaled()
    hyper = dict(pretrain_max_iter=100, softmax_max_iter=5, fine_tune_max_iter=1)
    with pytest.warns(ConvergenceWarning) as caught:
        StackedAutoencoder((64, 32), **hyper, random_state=0).fit(X, y)
    collapsed = [str(w.message) for w in caught if "collapsed" in str(w.message)]
    assert len(collapsed) == 1 and collapsed[0].startswith("pretraining layer 2")
    assert "lower weight_decay (got 0.003)" in collapsed[0]
    # A smaller weight decay keeps it: no such warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StackedAutoencoder((64, 32), **hyper, weight_decay=1e-4, random_state=0).fit(
            X, y
        )
    assert not [w for w in caught if "collapsed" in str(w.message)]


def test_pandas_output_does_not_reach_the_layers(small_stack):
    # Under transform_output="pandas" the first layer handed the second a
    # DataFrame, so the second expected feature names from then on and warned
    # at every array.
    _, X = small_stack
    y = np.arange(100) % 3
    small = dict(pretrain_max_iter=2, softmax_max_iter=2, fine_tune_max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with config_context(transform_output="pandas"):
            model = StackedAutoencoder((5, 4), random_state=0, **small)
            model.fit(X[:100], y)
            assert isinstance(model.transform(X[:3]), pd.DataFrame)
    assert not any(hasattr(a, "feature_names_in_") for a in model.autoencoders_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = model.autoencoders_[0].transform(X[:3])
        assert model.autoencoders_[1].transform(codes).shape == (3, 4)
