"""The blocked, threaded kernel against a plain whole-array reference."""

import time

import numpy as np
import pytest
from scipy.special import expit
from threadpoolctl import threadpool_limits

import sparseae.core.kernel as kernel
import sparseae.core.objective as objective
from sparseae import Params, evaluate, loss_and_grad
from sparseae.core.kernel import sigmoid_
from sparseae.core.objective import make_settings
from sparseae.core.partial_sums import block_sums
from sparseae.core.penalties import get_penalty
from sparseae.core.threads import WorkerPool, available_workers

from ..conftest import COMBINATIONS

HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)


def reference(
    params, X, *, sparsity_target, sparsity_weight, weight_decay, penalty, output, loss
):
    """Derivation eqs. (1)-(10) on whole arrays, in the most direct NumPy."""
    W1, b1, W2, b2 = params
    m = X.shape[0]
    pen = get_penalty(penalty)
    a2 = expit(X @ W1.T + b1)
    z3 = a2 @ W2.T + b2
    x_hat = expit(z3) if output == "sigmoid" else z3
    if loss == "cross_entropy":
        recon = (np.logaddexp(0, z3) - X * z3).sum() / m
        delta3 = x_hat - X
    else:
        recon = 0.5 * ((x_hat - X) ** 2).sum() / m
        delta3 = (x_hat - X) * (x_hat * (1 - x_hat) if output == "sigmoid" else 1)
    rho_hat = np.clip(a2.mean(axis=0), 1e-16, 1 - 1e-16)
    J = (
        recon
        + 0.5 * weight_decay * ((W1**2).sum() + (W2**2).sum())
        + sparsity_weight * pen.value(rho_hat, sparsity_target).sum()
    )
    s = sparsity_weight * pen.derivative(rho_hat, sparsity_target)
    delta2 = (delta3 @ W2 + s) * a2 * (1 - a2)
    grads = [
        delta2.T @ X / m + weight_decay * W1,
        delta2.mean(axis=0),
        delta3.T @ a2 / m + weight_decay * W2,
        delta3.mean(axis=0),
    ]
    return J, grads


def problem(m=300, n=12, h=7, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.05, 0.95, size=(m, n)).astype(dtype)
    params = Params.initialize(n, h, rng=rng, dtype=dtype)
    params.b1[...] = rng.normal(-1.0, 1.0, h)  # varied mean activations
    params.b2[...] = 0.1 * rng.standard_normal(n)
    return X, params


def relative(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b))


PARTITIONS = {
    "default blocks": None,
    "one block": 10**6,
    "blocks of 7 rows": 7,
    "single-row blocks": 1,
}


@pytest.fixture(params=list(PARTITIONS))
def path(request, monkeypatch):
    """Force several partitions into blocks, and tiles of 16 rows, on threads."""
    monkeypatch.setattr(kernel, "_TILE_ELEMENTS", 40)  # 16-row tiles
    monkeypatch.setattr(kernel, "_PARALLEL_WORK", 0)  # threads even when tiny
    real = objective.block_sums

    def with_partition(*args, block_rows=None, **kwargs):
        return real(*args, block_rows=PARTITIONS[request.param], **kwargs)

    monkeypatch.setattr(objective, "block_sums", with_partition)
    return request.param


@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
def test_matches_reference(path, penalty, output, loss):
    X, params = problem()
    kwargs = dict(HYPER, penalty=penalty, output=output, loss=loss)
    J_ref, grads_ref = reference(params, X, **kwargs)
    result = evaluate(params, X, **kwargs)
    assert result.terms.total == pytest.approx(J_ref, rel=1e-12)
    for got, want in zip(result.grads, grads_ref, strict=True):
        assert relative(got, want) < 1e-12


def test_paths_agree_under_one_thread(path):
    X, params = problem(seed=3)
    free = evaluate(params, X, **HYPER)
    with threadpool_limits(limits=1, user_api="blas"):
        limited = evaluate(params, X, **HYPER)
    assert limited.terms.total == pytest.approx(free.terms.total, rel=1e-13)
    assert relative(limited.grads.vector, free.grads.vector) < 1e-13


def test_float32_stays_float32_and_close(path):
    X, params = problem(seed=4)
    result32 = evaluate(params.astype(np.float32), X.astype(np.float32), **HYPER)
    result64 = evaluate(params, X, **HYPER)
    assert result32.grads.dtype == np.float32
    assert result32.mean_activation.dtype == np.float32
    assert result32.terms.total == pytest.approx(result64.terms.total, rel=1e-5)
    assert relative(result32.grads.vector, result64.grads.vector) < 1e-4


def test_any_memory_layout_gives_the_same_result():
    X, params = problem(m=64)
    want = evaluate(params, X, **HYPER)
    wide = np.zeros((64, 2 * X.shape[1]))
    wide[:, ::2] = X
    for layout in (np.asfortranarray(X), wide[:, ::2]):
        got = evaluate(params, layout, **HYPER)
        assert got.terms.total == pytest.approx(want.terms.total, rel=1e-14)
        assert relative(got.grads.vector, want.grads.vector) < 1e-14


def test_default_partition_depends_on_the_shape_alone():
    assert kernel.default_block_rows(60_000, 784, 196) == 4 * kernel.tile_rows(784, 196)
    assert kernel.default_block_rows(10_000, 64, 25) == 2500  # 4 blocks
    assert kernel.default_block_rows(3, 64, 25) == 3  # a minibatch: one block
    assert kernel.default_block_rows(1000, 64, 25) == 256
    assert kernel.default_block_rows(600, 64, 25) == 256


def test_loss_only_matches_loss_with_gradient():
    X, params = problem(m=50)
    full = evaluate(params, X, **HYPER)
    only = evaluate(params, X, **HYPER, compute_grad=False)
    assert only.grads is None
    assert only.terms.total == pytest.approx(full.terms.total, rel=1e-14)
    np.testing.assert_allclose(only.mean_activation, full.mean_activation)


def test_sigmoid_is_exact_to_a_few_ulps_and_never_overflows():
    z = np.linspace(-800, 800, 100_001)
    for dtype in (np.float32, np.float64):
        got = sigmoid_(z.astype(dtype))
        want = expit(z.astype(dtype))
        assert got.dtype == dtype
        assert np.abs(got - want).max() <= 4 * np.finfo(dtype).eps
        assert got.min() >= 0 and got.max() <= 1


def test_blas_limits_are_restored(monkeypatch):
    monkeypatch.setattr(kernel, "_PARALLEL_WORK", 0)
    before = available_workers()
    X, params = problem()
    evaluate(params, X, **HYPER)
    assert available_workers() == before
    with threadpool_limits(limits=1, user_api="blas"):
        assert available_workers() == 1


def test_the_callers_errstate_reaches_the_worker_threads(monkeypatch):
    monkeypatch.setattr(kernel, "_PARALLEL_WORK", 0)
    monkeypatch.setattr(kernel, "_TILE_ELEMENTS", 40)
    X, params = problem(m=200)
    params.W2[...] = 1e300
    kwargs = dict(HYPER, output="linear")
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isinf(evaluate(params, X, **kwargs).terms.reconstruction)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        evaluate(params, X, **kwargs)


def test_worker_errors_reach_the_caller():
    def fail(state, start, stop):
        raise RuntimeError(f"block {start}")

    with pytest.raises(RuntimeError, match="block"), WorkerPool(2) as pool:
        pool.run_blocks(fail, [None, None], n_rows=10, block_rows=3)
    assert available_workers() >= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_on_any_number_of_threads(dtype, monkeypatch):
    # Each block has sums of its own, added by a fixed tree: neither the
    # thread count nor which thread took which block changes a bit.
    rng = np.random.default_rng(3)
    X = rng.uniform(0.1, 0.9, size=(4000, 64)).astype(dtype)
    params = Params.initialize(64, 40, rng=rng, dtype=dtype)
    settings = make_settings(
        sparsity_target=0.01, sparsity_weight=3.0, weight_decay=1e-4
    )
    want = block_sums(params, settings, X, block_rows=150, n_threads=1)
    for n_threads in (2, 3, 7):
        got = block_sums(params, settings, X, block_rows=150, n_threads=n_threads)
        assert got.reconstruction == want.reconstruction
        for name in ("a2_sum", "grad_W2", "grad_b2", "grad_W1", "grad_b1"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    J, grads = loss_and_grad(
        params, X, sparsity_target=0.01, sparsity_weight=3.0, weight_decay=1e-4
    )
    with threadpool_limits(limits=1, user_api="blas"):
        J_one, grads_one = loss_and_grad(
            params, X, sparsity_target=0.01, sparsity_weight=3.0, weight_decay=1e-4
        )
    assert J_one == J
    np.testing.assert_array_equal(grads_one.vector, grads.vector)


def test_blocks_are_taken_first_come_first_served_each_once():
    # Random delays stand in for a busy machine.
    rng = np.random.default_rng(0)

    def record(seen, start, stop):
        time.sleep(rng.uniform(0, 2e-3))
        seen.append(start)

    states = [[], [], []]
    with WorkerPool(3) as pool:
        pool.run_blocks(record, states, n_rows=100, block_rows=10)
    assert sorted(sum(states, [])) == list(range(0, 100, 10))
