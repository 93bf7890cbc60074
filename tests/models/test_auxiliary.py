"""SparseAutoencoder with the auxiliary loss for dead units (derivation eq. 15)."""

import dataclasses

import numpy as np
import pytest

import sparseae.models.autoencoder as autoencoder
from sparseae import SparseAutoencoder, load
from sparseae.core.objective import _evaluate
from sparseae.datasets import load_digits_scaled
from sparseae.io import model_file
from sparseae.metrics import summarize
from sparseae.models import _persistence

pytestmark = [
    pytest.mark.usefixtures("one_blas_thread"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

TOPK = dict(hidden_activation="topk", output_activation="linear", solver="adam")


@pytest.fixture(scope="module")
def digits():
    return load_digits_scaled()[0]


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(120, 10))


def test_the_auxiliary_loss_revives_dead_topk_units(digits):
    # Top-2 of 64 units on the digits: without the auxiliary loss about 54
    # units never fire after 20 epochs (seeds 0-2: 54, 54, 55); with it about
    # 44 (44, 44, 46).  The assertion leaves half that gap as margin.
    results = {}
    for aux_k in (None, 16):
        model = SparseAutoencoder(
            64,
            **TOPK,
            k=2,
            aux_k=aux_k,
            unit_norm_decoder=True,
            learning_rate=1e-2,
            batch_size=64,
            max_iter=20,
            n_iter_no_change=100,
            random_state=0,
        ).fit(digits)
        summary = summarize(model, digits)
        results[aux_k] = (summary["dead_units"]["count"], summary["fvu"], model)
    (dead, fvu, plain), (dead_aux, fvu_aux, aux) = results[None], results[16]
    assert dead >= 32  # many units die without it
    assert dead_aux <= dead - 5
    assert fvu_aux < fvu
    assert all(value > 0 for value in aux.history_["auxiliary"])
    assert all(value == 0 for value in plain.history_["auxiliary"])
    # The count says the same as a pass over the data.
    never = aux.n_samples_since_fired_ >= digits.shape[0]
    assert never.sum() == pytest.approx(dead_aux, abs=3)


def test_the_dead_units_handed_to_each_step(X, monkeypatch):
    # A top-k unit whose pre-activation is far below 0 never fires (and, its
    # auxiliary code being 0, gets no gradient to change that): with batches
    # of 20 and dead_after=40, it is dead from the third step on, and its
    # count grows by every sample.
    model = SparseAutoencoder(
        5,
        **dict(TOPK, solver="sgd"),
        k=2,
        learning_rate=1e-3,
        batch_size=20,
        random_state=0,
    ).partial_fit(X)
    assert model.n_samples_since_fired_.shape == (5,)
    before = model.n_samples_since_fired_
    model.components_[3] = 0.0
    model.intercept_hidden_[3] = -100.0
    seen = []

    def recording(params, batch, settings, **kwargs):
        evaluation = _evaluate(params, batch, settings, **kwargs)
        seen.append((settings.dead, evaluation.fired))
        return evaluation

    monkeypatch.setattr(autoencoder, "_evaluate", recording)
    model.set_params(aux_k=2, dead_after=40).partial_fit(X)
    assert len(seen) == 6
    assert model.n_samples_since_fired_[3] == before[3] + 120
    since = before.copy()
    for dead, fired in seen:
        np.testing.assert_array_equal(dead, since >= 40)
        since += 20
        since[fired] = 0
        assert not fired[3]
    np.testing.assert_array_equal(model.n_samples_since_fired_, since)
    assert seen[-1][0][3]


def test_dead_after_defaults_to_one_pass(X, monkeypatch):
    seen = []

    def recording(params, batch, settings, **kwargs):
        seen.append(settings.dead)
        return _evaluate(params, batch, settings, **kwargs)

    monkeypatch.setattr(autoencoder, "_evaluate", recording)
    model = SparseAutoencoder(6, **TOPK, k=1, aux_k=2, batch_size=30, max_iter=3)
    model.fit(X)
    # One pass over the 120 samples is four steps: no unit can be dead before
    # the fifth.
    assert seen[0] is None
    assert not any(dead.any() for dead in seen[1:4])


def test_a_resumed_run_is_bit_identical(X, tmp_path):
    options = dict(
        **TOPK, k=2, aux_k=3, dead_after=25, batch_size=10, max_iter=4, random_state=0
    )
    reference = SparseAutoencoder(8, **options).fit(X)
    calls = []
    stopped = SparseAutoencoder(8, **options).fit(
        X, callback=lambda model, progress: calls.append(1) or len(calls) == 17
    )
    assert stopped.n_iter_ == 1
    resumed = load(stopped.save(tmp_path / "checkpoint.safetensors"))
    np.testing.assert_array_equal(
        resumed.n_samples_since_fired_, stopped.n_samples_since_fired_
    )
    resumed.resume_fit(X)
    for got, want in zip(resumed._params(), reference._params(), strict=True):
        np.testing.assert_array_equal(got, want)
    for key, values in reference.history_.items():
        assert key == "time" or resumed.history_[key] == values
    np.testing.assert_array_equal(
        resumed.n_samples_since_fired_, reference.n_samples_since_fired_
    )
    assert reference.n_samples_since_fired_.max() >= 25  # some units were dead


def test_saved_files_record_the_auxiliary_loss(X, tmp_path):
    model = SparseAutoencoder(
        6, **TOPK, k=2, aux_k=3, aux_weight=0.25, dead_after=7, max_iter=2
    ).fit(X)
    again = load(model.save(tmp_path / "m.safetensors"))
    assert (again.aux_k, again.aux_weight, again.dead_after) == (3, 0.25, 7)
    assert again.history_ == model.history_


def test_files_written_before_the_auxiliary_loss_load(X, tmp_path, monkeypatch):
    model = SparseAutoencoder(
        4, hidden_activation="relu", penalty="l1", solver="adam", max_iter=2
    ).fit(X)
    registered = model_file._FORMATS[_persistence.FORMAT]

    def old_dump(m):
        fields, arrays = registered.dump(m)
        for name in ("aux_k", "aux_weight", "dead_after"):
            del fields["params"][name]
        history = fields["history"]  # the model's own: not to be changed
        fields["history"] = {k: v for k, v in history.items() if k != "auxiliary"}
        sums = fields["training"]["sums"]
        fields["training"]["sums"] = [*sums[:3], sums[4]]
        del arrays["training.since_fired"]
        return fields, arrays

    monkeypatch.setitem(
        model_file._FORMATS,
        _persistence.FORMAT,
        dataclasses.replace(registered, dump=old_dump),
    )
    path = model.save(tmp_path / "old.safetensors")
    monkeypatch.undo()
    assert "aux_k" not in model_file.read_info(path)["params"]
    again = load(path)
    assert (again.aux_k, again.aux_weight, again.dead_after) == (None, 1 / 32, None)
    assert again.history_ == model.history_
    assert list(again.history_) == list(model.history_)
    assert not hasattr(again, "n_samples_since_fired_")
    again.partial_fit(X)  # the count starts afresh
    assert again.n_samples_since_fired_.shape == (4,)


def test_only_minibatch_training_counts(X):
    model = SparseAutoencoder(3, max_iter=3).fit(X)
    assert not hasattr(model, "n_samples_since_fired_")
    with pytest.raises(AttributeError, match="counted by minibatch training"):
        model.n_samples_since_fired_  # noqa: B018


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(aux_k=0), r"'aux_k' parameter .* int in the range \[1, inf\)"),
        (dict(aux_k=True), r"'aux_k' parameter"),
        (dict(aux_weight=0.0), r"'aux_weight' parameter .* \(0.0, inf\)"),
        (dict(aux_weight=np.inf), r"'aux_weight' parameter .* Got inf"),
        (dict(dead_after=0), r"'dead_after' parameter .* \[1, inf\)"),
        (dict(aux_k=6), r"aux_k must be in \[1, n_components=6\), got aux_k=6"),
        (
            dict(hidden_activation="sigmoid"),
            "aux_k=2 needs hidden_activation='topk', got "
            "hidden_activation='sigmoid': a sigmoid unit is never silent",
        ),
        (
            dict(hidden_activation="relu", penalty="l1"),
            "aux_k=2 needs hidden_activation='topk', got hidden_activation='relu'",
        ),
        (
            dict(output_activation="sigmoid"),
            "aux_k=2 needs output_activation='linear' and loss='squared'",
        ),
        (
            dict(solver="lbfgs"),
            "aux_k=2 needs solver='sgd' or 'adam', got solver='lbfgs'.*use sgd or adam",
        ),
    ],
)
def test_bad_parameters_are_named(X, params, message):
    options = dict(TOPK, k=2, aux_k=2) | params
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(6, **options).fit(X)


def test_relu_units_are_refused_and_told_why(X):
    message = (
        "aux_k=2 needs hidden_activation='topk', got hidden_activation='relu': "
        "a dead ReLU unit has no positive pre-activation for the auxiliary code "
        "to use, so the term could not revive it"
    )
    options = dict(TOPK, hidden_activation="relu", penalty="l1", aux_k=2)
    for method in ("fit", "partial_fit"):
        with pytest.raises(ValueError, match=message):
            getattr(SparseAutoencoder(6, **options), method)(X)
    # Nor can it be switched on later in a ReLU model's training.
    model = SparseAutoencoder(6, **dict(options, aux_k=None), max_iter=1).fit(X)
    with pytest.raises(ValueError, match=message):
        model.set_params(aux_k=2).partial_fit(X)


def test_fit_file_refuses_the_auxiliary_loss(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    model = SparseAutoencoder(6, **dict(TOPK, solver="lbfgs"), k=2, aux_k=2)
    with pytest.raises(ValueError, match="needs solver='sgd' or 'adam'"):
        model.fit_file(path)
