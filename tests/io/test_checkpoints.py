"""Checkpoints of minibatch training: a resumed run equals an uninterrupted one."""

import numpy as np
import pytest

from sparseae import Checkpointer, SparseAutoencoder, load, save

SETTINGS = dict(
    n_components=5,
    sparsity_target=0.05,
    batch_size=16,
    max_iter=6,
    n_iter_no_change=100,
    random_state=3,
)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(100, 12))


def fit(X, **kwargs):
    with pytest.warns(Warning, match="max_iter=6"):
        return SparseAutoencoder(**SETTINGS, **kwargs).fit(X)


def assert_same_model(a, b):
    for name in ("components_", "intercept_hidden_", "decoder_weights_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.intercept_visible_, b.intercept_visible_)
    assert a.n_iter_ == b.n_iter_
    assert a.loss_curve_ == b.loss_curve_


def stop_after(n_steps):
    calls = []

    def callback(model, progress):
        calls.append(progress)
        return len(calls) == n_steps

    return callback


# 100 samples in batches of 16 make 7 steps an epoch: 17 stops mid-epoch, 14 at
# the end of the second epoch.
@pytest.mark.parametrize("n_steps", [1, 14, 17, 40])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(solver="adam", rho_estimate="running"),
        dict(solver="sgd", rho_estimate="batch", learning_rate=0.05),
    ],
    ids=["adam-running", "sgd-batch"],
)
def test_resumed_run_is_bit_identical(X, tmp_path, n_steps, kwargs):
    reference = fit(X, **kwargs)
    stopped = SparseAutoencoder(**SETTINGS, **kwargs).fit(
        X, callback=stop_after(n_steps)
    )
    assert stopped.n_iter_ == n_steps // 7
    path = save(stopped, tmp_path / "checkpoint.safetensors")
    resumed = load(path)
    with pytest.warns(Warning, match="max_iter=6"):
        resumed.resume_fit(X)
    assert_same_model(resumed, reference)


def test_periodic_checkpoints_resume_to_the_same_result(X, tmp_path):
    reference = fit(X, solver="adam")
    path = tmp_path / "run.safetensors"
    saver = Checkpointer(path, every_steps=10)
    steps = stop_after(25)

    def callback(model, progress):
        saver(model, progress)
        return steps(model, progress)

    SparseAutoencoder(**SETTINGS, solver="adam").fit(X, callback=callback)
    assert saver.n_saved == 2
    resumed = load(path)
    assert resumed.n_iter_ == 20 // 7
    with pytest.warns(Warning, match="max_iter=6"):
        resumed.resume_fit(X)
    assert_same_model(resumed, reference)


def test_resume_refuses_other_data(X):
    stopped = SparseAutoencoder(**SETTINGS, solver="adam").fit(
        X, callback=stop_after(3)
    )
    with pytest.raises(ValueError, match="not the data the interrupted fit"):
        stopped.resume_fit(X[::-1])


def test_resume_after_a_finished_fit_changes_nothing(X):
    model = fit(X, solver="adam")
    before = model.components_.copy()
    model.resume_fit(X)
    np.testing.assert_array_equal(model.components_, before)


def test_resume_needs_a_training_state(X):
    model = SparseAutoencoder(3, max_iter=2).fit(X, callback=stop_after(1))
    model._training_state = None  # as in a file written before L-BFGS resumed
    with pytest.raises(ValueError, match="resume_fit needs a model saved with its"):
        model.resume_fit(X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(), "needs every_steps or every_seconds"),
        (dict(every_steps=0), "every_steps must be an int >= 1, got 0"),
        (dict(every_seconds=-1), "every_seconds must be > 0, got -1"),
    ],
)
def test_checkpointer_options_are_checked(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Checkpointer(tmp_path / "c.safetensors", **kwargs)


def test_a_writer_of_the_callers_saves_instead(X, tmp_path):
    written = []

    def writer(model, path):
        written.append((model.n_iter_, path))
        save(model, path)

    saver = Checkpointer(tmp_path / "c.safetensors", every_steps=7, writer=writer)
    with pytest.warns(Warning, match="max_iter=6"):
        SparseAutoencoder(**SETTINGS, solver="adam").fit(X, callback=saver)
    # 7 minibatches of at most 16 make an epoch of 100 rows: a save per epoch.
    assert [path for _, path in written] == [tmp_path / "c.safetensors"] * 6
    assert saver.n_saved == 6 and load(tmp_path / "c.safetensors").n_iter_ >= 5
    with pytest.raises(TypeError, match="writer must be callable"):
        Checkpointer(tmp_path / "d.safetensors", every_steps=1, writer="save")
