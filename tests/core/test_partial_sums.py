"""Partial sums over row blocks, their finish, and the running estimate of ρ̂."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import sparseae.core.objective as objective
from sparseae import Params, evaluate
from sparseae.core.objective import make_settings
from sparseae.core.partial_sums import (
    PartialSums,
    TreeSum,
    block_sums,
    finish_sums,
    tree_sum,
)
from sparseae.core.penalties import get_penalty

from ..conftest import COMBINATIONS, tiny_problem

HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)


def numpy_objective(params, X, previous, decay, penalty, output, loss):
    """Loss and flat gradient written out with NumPy, eqs. (1)-(10) and ρ̂_t."""
    rho, beta, lam = (HYPER[k] for k in HYPER)
    pen = get_penalty(penalty)
    W1, b1, W2, b2 = (np.asarray(block, np.float64) for block in params)
    X = X.astype(np.float64)
    m = X.shape[0]
    a2 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    rho_hat = decay * previous + (1 - decay) * a2.mean(axis=0)
    z3 = a2 @ W2.T + b2
    if loss == "cross_entropy":
        reconstruction = (np.logaddexp(0, z3).sum() - np.vdot(X, z3)) / m
        delta3 = 1 / (1 + np.exp(-z3)) - X
    else:
        x_hat = 1 / (1 + np.exp(-z3)) if output == "sigmoid" else z3
        reconstruction = 0.5 * np.sum((x_hat - X) ** 2) / m
        delta3 = x_hat - X
        if output == "sigmoid":
            delta3 = delta3 * x_hat * (1 - x_hat)
    J = (
        reconstruction
        + 0.5 * lam * (np.sum(W1**2) + np.sum(W2**2))
        + beta * pen.value(rho_hat, rho).sum()
    )
    delta2 = (delta3 @ W2 + beta * pen.derivative(rho_hat, rho)) * a2 * (1 - a2)
    grad = np.concatenate(
        [
            (delta2.T @ X / m + lam * W1).ravel(),
            delta2.mean(axis=0),
            (delta3.T @ a2 / m + lam * W2).ravel(),
            delta3.mean(axis=0),
        ]
    )
    return J, grad, rho_hat


@pytest.fixture(params=[None, 5, 1])
def kernel_path(request, monkeypatch):
    """The one-pass sums (eq. 11) in one block, blocks of 5 rows, single rows."""
    real = objective.block_sums

    def with_partition(*args, block_rows=None, **kwargs):
        return real(*args, block_rows=request.param, **kwargs)

    monkeypatch.setattr(objective, "block_sums", with_partition)
    return request.param


@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
def test_running_estimate_matches_numpy(kernel_path, penalty, output, loss):
    X, params = tiny_problem(m=12)
    previous = np.linspace(0.05, 0.6, params.n_hidden)
    hyper = dict(HYPER, penalty=penalty, output=output, loss=loss)
    got = evaluate(params, X, **hyper, previous_rho_hat=previous, rho_decay=0.9)
    J, grad, rho_hat = numpy_objective(params, X, previous, 0.9, penalty, output, loss)
    assert got.terms.total == pytest.approx(J, rel=1e-12)
    np.testing.assert_allclose(got.grads.vector, grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got.mean_activation, rho_hat, rtol=1e-14)


def test_running_estimate_in_float32_matches_numpy_to_its_rounding(kernel_path):
    X, params = tiny_problem(m=12)
    previous = np.full(params.n_hidden, 0.2, np.float32)
    got = evaluate(
        params.astype(np.float32),
        X.astype(np.float32),
        **HYPER,
        previous_rho_hat=previous,
        rho_decay=0.9,
    )
    J, grad, _ = numpy_objective(params, X, previous, 0.9, "kl", "sigmoid", "squared")
    assert got.grads.dtype == np.float32
    assert got.terms.total == pytest.approx(J, rel=1e-5)
    np.testing.assert_allclose(got.grads.vector, grad, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocks_of_rows_add_up_to_the_whole(dtype):
    X, params = tiny_problem(m=50)
    X, params = X.astype(dtype), params.astype(dtype)
    settings = make_settings(**HYPER)
    parts = [block_sums(params, settings, X[i : i + 7]) for i in range(0, 50, 7)]
    total = tree_sum(parts)
    assert total.n_rows == 50 and total.grad_W1.dtype == dtype
    got = finish_sums(total, params, settings)
    want = evaluate(params, X, **HYPER)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.terms.total == pytest.approx(want.terms.total, rel=rtol)
    np.testing.assert_allclose(got.grads.vector, want.grads.vector, rtol=0, atol=rtol)
    # With the running estimate, the finish applies s to the deferred sums.
    previous = np.full(params.n_hidden, 0.3)
    running = finish_sums(
        total, params, settings, previous_rho_hat=previous, rho_decay=0.5
    )
    direct = evaluate(params, X, **HYPER, previous_rho_hat=previous, rho_decay=0.5)
    np.testing.assert_allclose(
        running.grads.vector, direct.grads.vector, rtol=0, atol=rtol
    )


def test_sums_add_by_the_fixed_tree_and_survive_pickling():
    X, params = tiny_problem(m=50)
    settings = make_settings(**HYPER)
    parts = [
        block_sums(params, settings, X[i : i + 10], block_rows=10)
        for i in range(0, 50, 10)
    ]
    by_hand = ((parts[0] + parts[1]) + (parts[2] + parts[3])) + parts[4]
    shipped = pickle.loads(pickle.dumps(tree_sum(parts)))
    whole = block_sums(params, settings, X, block_rows=10)
    for got in (shipped, whole):
        for name in ("a2_sum", "grad_W2", "grad_b2", "grad_W1", "grad_b1"):
            np.testing.assert_array_equal(getattr(got, name), getattr(by_hand, name))
        assert got.reconstruction == by_hand.reconstruction


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 5, 8, 13])
def test_the_incremental_tree_is_the_pairwise_tree_in_any_order(n_blocks):
    # Reconstruction sums chosen so that every association rounds differently.
    values = [10.0 ** (3 * (i % 5)) * (-1) ** i + i / 7 for i in range(n_blocks)]
    parts = [PartialSums(1, v, np.zeros(1)) for v in values]
    want = tree_sum(parts).reconstruction
    for order in (range(n_blocks), reversed(range(n_blocks))):
        tree = TreeSum()
        for i in order:
            tree.add(i, PartialSums(1, values[i], np.zeros(1)))
        assert tree.total().reconstruction == want


def test_runs_of_whole_blocks_are_subtrees():
    # 2^k blocks starting at a multiple of 2^k blocks: a node of the tree, so
    # a worker can sum them apart (sparseae.distributed does).
    X, params = tiny_problem(m=45)
    settings = make_settings(**HYPER)
    whole = block_sums(params, settings, X, block_rows=3)
    runs = [
        block_sums(params, settings, X[i : i + 12], block_rows=3)
        for i in range(0, 45, 12)
    ]
    got = tree_sum(runs)
    for name in ("a2_sum", "grad_W2", "grad_b2", "grad_W1", "grad_b1"):
        np.testing.assert_array_equal(getattr(got, name), getattr(whole, name))
    assert got.reconstruction == whole.reconstruction


def test_empty_blocks_and_loss_only_sums():
    X, params = tiny_problem(m=10)
    settings = make_settings(**HYPER)
    empty = block_sums(params, settings, X[:0])
    assert empty.n_rows == 0 and not empty.a2_sum.any()
    with pytest.raises(ValueError, match="at least one row, got n_rows=0"):
        finish_sums(empty, params, settings)
    loss_only = block_sums(params, settings, X, grad=False)
    assert not loss_only.has_grad
    assert finish_sums(loss_only, params, settings).grads is None
    with pytest.raises(ValueError, match="different problems"):
        loss_only + block_sums(params, settings, X)


def test_block_sums_refuse_rows_of_another_width():
    X, params = tiny_problem(m=10)
    with pytest.raises(ValueError, match=r"shape \(n_rows, 8\) .* got \(10, 3\)"):
        block_sums(params, make_settings(**HYPER), X[:, :3])


def test_rho_policy_arguments_are_checked():
    X, params = tiny_problem(m=10)
    with pytest.raises(ValueError, match=r"rho_decay must be in \[0, 1\], got 1.5"):
        evaluate(params, X, **HYPER, rho_decay=1.5)
    with pytest.raises(ValueError, match=r"previous_rho_hat must have shape \(5,\)"):
        evaluate(params, X, **HYPER, previous_rho_hat=np.ones(3), rho_decay=0.5)


def test_core_imports_nothing_outside_core_and_no_scipy():
    code = (
        "import sys\n"
        "import sparseae.core.chunked, sparseae.core.gradcheck, "
        "sparseae.core.objective, sparseae.core.partial_sums, "
        "sparseae.core.softmax, sparseae.core.stacked\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scipy', 'sklearn')) "
        "or m.startswith('sparseae.') and not m.startswith('sparseae.core')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_params_of_the_wrong_type_are_cast_by_block_sums():
    X, params = tiny_problem(m=10)
    settings = make_settings(**HYPER)
    got = block_sums(params, settings, X.astype(np.float32))
    assert got.grad_W1.dtype == np.float32
    assert isinstance(got, PartialSums) and isinstance(params, Params)


@pytest.mark.parametrize(
    "hyper",
    [
        dict(sparsity_target=0.1, sparsity_weight=0.0, weight_decay=1e-3),
        dict(
            sparsity_target=0.1,
            sparsity_weight=3.0,
            weight_decay=1e-3,
            activation="topk",
            k=3,
            output="linear",
        ),
    ],
    ids=["sigmoid-beta0", "topk"],
)
def test_without_a_sparsity_term_the_slope_half_is_not_taken(hyper, monkeypatch):
    # β = 0: the f'ᵀ X half of eq. (11) would be multiplied by zero, so it is
    # left out; the gradient is the one with both halves, up to rounding.
    import sparseae.core.kernel as kernel

    settings = make_settings(**hyper)
    X, params = tiny_problem(m=40, n=6, h=5, seed=3)
    sums = block_sums(params, settings, X, block_rows=16)
    assert sums.grad_W1.shape == (5, 6) and sums.grad_b1.shape == (5,)
    assert block_sums(params, settings, X[:0]).grad_W1.shape == (5, 6)
    lean = finish_sums(sums, params, settings)
    monkeypatch.setattr(kernel, "takes_slope_sums", lambda settings: True)
    full_sums = block_sums(params, settings, X, block_rows=16)
    assert full_sums.grad_W1.shape == (10, 6)
    full = finish_sums(full_sums, params, settings)
    assert lean.terms == full.terms
    for got, want in zip(lean.grads, full.grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="with and without the sparsity term"):
        sums + full_sums


def test_sums_without_the_slope_half_refuse_a_sparsity_weight():
    X, params = tiny_problem(m=20, n=6, h=5, seed=4)
    lean = block_sums(params, make_settings(**{**HYPER, "sparsity_weight": 0.0}), X)
    with pytest.raises(ValueError, match="sparsity_weight is 3.0"):
        finish_sums(lean, params, make_settings(**HYPER))
