"""One pass over chunks equals the in-memory objective to rounding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparseae.core.kernel as kernel
from sparseae import Params, evaluate
from sparseae.core.chunked import (
    ArrayChunks,
    NpyChunks,
    evaluate_chunks,
    flat_loss_and_grad,
    loss_and_grad_chunks,
)

from ..conftest import COMBINATIONS
from .test_objective_fast_paths import problem, relative

HYPER = dict(sparsity_target=0.05, sparsity_weight=3.0, weight_decay=1e-3)
M = 60


def assert_same(got, want, rtol=1e-12):
    assert got.terms.total == pytest.approx(want.terms.total, rel=rtol)
    for name in ("reconstruction", "weight_decay", "sparsity"):
        assert getattr(got.terms, name) == pytest.approx(
            getattr(want.terms, name), rel=rtol, abs=1e-300
        )
    np.testing.assert_allclose(got.mean_activation, want.mean_activation, rtol=rtol)
    for (name, g), w in zip(got.grads.items(), want.grads, strict=True):
        assert relative(g, w) < rtol, name


@pytest.mark.parametrize("chunk_rows", [1, 7, 13, M, M + 5])
@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
def test_equals_in_memory(chunk_rows, penalty, output, loss):
    X, params = problem(m=M)
    kwargs = dict(HYPER, penalty=penalty, output=output, loss=loss)
    got = evaluate_chunks(params, ArrayChunks(X, chunk_rows), **kwargs)
    assert_same(got, evaluate(params, X, **kwargs))


def test_equals_in_memory_with_blocks_and_threads(monkeypatch):
    monkeypatch.setattr(kernel, "_TILE_ELEMENTS", 40)
    monkeypatch.setattr(kernel, "_PARALLEL_WORK", 0)
    X, params = problem(m=500, seed=2)
    for chunk_rows in (33, 250, 500):
        got = evaluate_chunks(params, ArrayChunks(X, chunk_rows), **HYPER)
        assert_same(got, evaluate(params, X, **HYPER))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, M), max_size=6))
def test_any_split_of_the_rows(cuts):
    X, params = problem(m=M, seed=5)
    chunks = np.split(X, sorted(cuts))  # empty chunks included
    assert_same(evaluate_chunks(params, chunks, **HYPER), evaluate(params, X, **HYPER))


def test_memory_mapped_files(tmp_path):
    X, params = problem(m=M, seed=6)
    path = tmp_path / "X.npy"
    np.save(path, X)
    want = evaluate(params, X, **HYPER)
    for source in (
        NpyChunks(path, chunk_rows=8),
        ArrayChunks(np.load(path, mmap_mode="r"), chunk_rows=9),
        np.load(path, mmap_mode="r"),
    ):
        assert_same(evaluate_chunks(params, source, **HYPER), want)
        # Pages given back after a chunk are read again on the next pass.
        assert_same(evaluate_chunks(params, source, **HYPER), want)


def test_npy_chunks_refuses_fortran_order(tmp_path):
    path = tmp_path / "F.npy"
    np.save(path, np.asfortranarray(np.ones((3, 2))))
    with pytest.raises(ValueError, match="C order"):
        NpyChunks(path)


def test_float32_chunks_compute_in_float32():
    X, params = problem(m=M, seed=7)
    got = evaluate_chunks(params, ArrayChunks(X.astype(np.float32), 11), **HYPER)
    assert got.grads.dtype == np.float32
    want = evaluate(params, X, **HYPER)
    assert got.terms.total == pytest.approx(want.terms.total, rel=1e-5)
    assert relative(got.grads.vector, want.grads.vector) < 1e-4


def test_later_chunks_take_the_first_chunks_type():
    X, params = problem(m=M)
    chunks = [X[:20].astype(np.float32), X[20:], (X[40:] * 0).astype(int)]
    got = evaluate_chunks(params, chunks, **HYPER)
    assert got.grads.dtype == np.float32


def test_sources_of_chunks():
    X, params = problem(m=M, seed=8)
    want = evaluate(params, X, **HYPER)

    def generate():
        yield from np.array_split(X, 4)

    for source in (generate, lambda: iter([X]), list(np.array_split(X, 3)), X):
        assert_same(evaluate_chunks(params, source, **HYPER), want)


def test_loss_and_grad_and_flat_contract():
    X, params = problem(m=M, seed=9)
    J, grads = loss_and_grad_chunks(params, ArrayChunks(X, 16), **HYPER)
    want = evaluate(params, X, **HYPER)
    assert J == pytest.approx(want.terms.total, rel=1e-12)
    objective = flat_loss_and_grad(ArrayChunks(X, 16), X.shape[1], 7, **HYPER)
    J_flat, g_flat = objective(params.vector)
    assert J_flat == pytest.approx(J, rel=1e-14)
    assert g_flat.dtype == np.float64
    assert relative(g_flat, want.grads.vector) < 1e-12


def test_errors_say_what_to_do():
    X, params = problem(m=M)
    with pytest.raises(TypeError, match="one-shot iterator"):
        evaluate_chunks(params, iter([X]), **HYPER)
    with pytest.raises(TypeError, match="must return an iterator"):
        evaluate_chunks(params, lambda: [X], **HYPER)
    with pytest.raises(TypeError, match="re-iterable"):
        evaluate_chunks(params, 3, **HYPER)
    with pytest.raises(ValueError, match="no rows"):
        evaluate_chunks(params, [X[:0]], **HYPER)
    with pytest.raises(ValueError, match=r"\(n_rows, 12\)"):
        evaluate_chunks(params, [X[:, :5]], **HYPER)
    with pytest.raises(ValueError, match="chunk_rows"):
        ArrayChunks(X, chunk_rows=0)
    with pytest.raises(ValueError, match="sparsity_target"):
        evaluate_chunks(params, [X], **dict(HYPER, sparsity_target=2.0))


def test_params_of_another_type_are_cast():
    X, params = problem(m=M)
    got = evaluate_chunks(params.astype(np.float32), [X], **HYPER)
    assert got.grads.dtype == np.float64
    assert isinstance(got.grads, Params)
