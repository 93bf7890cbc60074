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
    with pytest.raises(ValueError, match="C order.*np.ascontiguousarray"):
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


def _npy(tmp_path, name, array, **kwargs):
    path = tmp_path / name
    np.save(path, array, **kwargs)
    return path


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.arange(6.0).reshape(3, 2).astype(object), "dtype object"),
        (np.zeros((3, 2), dtype="U3"), "dtype <U3"),
        (np.zeros((3, 2), dtype="datetime64[s]"), "dtype datetime64"),
        (np.zeros((3, 2), dtype=[("a", "<f8"), ("b", "<f4")]), "[('a', '<f8')"),
        (np.ones((3, 2), dtype=complex), "Complex data not supported"),
    ],
)
def test_npy_refuses_what_is_not_plain_real_numbers(tmp_path, array, words):
    # An object array mapped as such read pickle bytes as pointers (segfault).
    path = _npy(tmp_path, "bad.npy", array, allow_pickle=True)
    with pytest.raises(ValueError, match="bad.npy") as error:
        NpyChunks(path)
    assert words in str(error.value)


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint16, ">f8", np.float16])
def test_npy_takes_plain_real_numbers(tmp_path, dtype):
    path = _npy(tmp_path, "X.npy", np.arange(6).reshape(3, 2).astype(dtype))
    chunks = list(NpyChunks(path, chunk_rows=2, dtype=np.float64))
    np.testing.assert_array_equal(
        np.concatenate(chunks), np.arange(6).reshape(3, 2).astype(dtype)
    )


def test_npy_names_a_damaged_file(tmp_path):
    empty = tmp_path / "zero.npy"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.npy.*EOF"):
        NpyChunks(empty)
    whole = _npy(tmp_path, "trunc.npy", np.ones((10, 3))).read_bytes()
    (tmp_path / "trunc.npy").write_bytes(whole[:-8])
    with pytest.raises(ValueError, match=r"trunc\.npy is truncated.*shape \(10, 3\)"):
        NpyChunks(tmp_path / "trunc.npy")
    with pytest.raises(ValueError, match=r"none\.npy .*\(5, 0\).*no columns"):
        NpyChunks(_npy(tmp_path, "none.npy", np.ones((5, 0))))


def test_npy_names_the_file_row_of_a_nan(tmp_path):
    X = np.ones((100, 3))
    X[99, 2] = np.nan
    path = _npy(tmp_path, "X.npy", X)
    with pytest.raises(ValueError, match=r"X\.npy .*first at row 99, column 2"):
        list(NpyChunks(path, chunk_rows=7).checked())


def test_fit_file_names_the_file_row_of_a_nan_and_refuses_complex(tmp_path):
    from sparseae import SparseAutoencoder

    X = np.full((100, 3), 0.5)
    X[99, 1] = np.nan
    source = NpyChunks(_npy(tmp_path, "X.npy", X), chunk_rows=7)
    with pytest.raises(ValueError, match="first at row 99, column 1"):
        SparseAutoencoder(2, max_iter=1).fit_file(source)
    path = _npy(tmp_path, "c.npy", np.full((4, 3), 0.5 + 0j))
    with pytest.raises(ValueError, match="Complex data not supported: .*c.npy"):
        SparseAutoencoder(2, max_iter=1).fit_file(path)


def test_npy_chunks_take_any_path_and_refuse_what_is_not_one(tmp_path):
    from sparseae import SparseAutoencoder

    X = np.random.default_rng(0).uniform(size=(40, 3))
    path = _npy(tmp_path, "X.npy", X)
    for name in (path, str(path), bytes(path)):  # bytes raised pathlib's TypeError
        np.testing.assert_array_equal(np.concatenate(list(NpyChunks(name, 16))), X)
    hyper = dict(n_components=2, max_iter=3, tol=0.5, random_state=0, block_rows=8)
    want = SparseAutoencoder(**hyper).fit(X)
    got = SparseAutoencoder(**hyper).fit_file(bytes(path))
    np.testing.assert_array_equal(got.components_, want.components_)
    with pytest.raises(TypeError, match=r"array of shape \(40, 3\).*fit\(X\)"):
        SparseAutoencoder(**hyper).fit_file(X)
    with pytest.raises(TypeError, match="must be a str, bytes or os.PathLike.*int"):
        NpyChunks(3)


def test_array_chunks_take_a_list_of_rows():
    # A list is array-like: it raised AttributeError: no attribute 'shape'.
    rows = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    chunks = list(ArrayChunks(rows, chunk_rows=2))
    np.testing.assert_array_equal(np.concatenate(chunks), np.array(rows))


def test_float64_values_too_large_for_float32_are_named_as_such(tmp_path):
    # Warnings are errors: the cast's RuntimeWarning (overflow) escaped from
    # inside the reader, and the message said "NaN or inf" of a finite 1e300.
    from sparseae import SparseAutoencoder

    X = np.full((30, 3), 0.5)
    X[25, 1] = 1e300
    source = NpyChunks(_npy(tmp_path, "X.npy", X), chunk_rows=7, dtype=np.float32)
    with pytest.raises(ValueError, match=r"1e\+300 at row 25, column 1.*float32"):
        list(source.checked())
    with pytest.raises(ValueError, match="use dtype=float64 or scale the data"):
        SparseAutoencoder(2, dtype=np.float32).fit_file(tmp_path / "X.npy")
    X[25, 1] = np.inf  # non-finite in the file itself
    source = NpyChunks(_npy(tmp_path, "X.npy", X), chunk_rows=7, dtype=np.float32)
    with pytest.raises(ValueError, match="non-finite values.*row 25, column 1"):
        list(source.checked())


def test_a_file_changed_since_it_was_opened_is_refused(tmp_path):
    X, params = problem(m=M, seed=3)
    path = _npy(tmp_path, "X.npy", X)
    source = NpyChunks(path, chunk_rows=16)
    want = evaluate(params, X, **HYPER)
    assert_same(evaluate_chunks(params, source, **HYPER), want)
    # The same bytes again but big-endian: read at the old type, it was garbage.
    np.save(path, X.astype(">f8"))
    with pytest.raises(ValueError, match=r"X\.npy has changed since it was opened"):
        evaluate_chunks(params, source, **HYPER)
    np.save(path, X)
    source = NpyChunks(path, chunk_rows=16)
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - 100)
    # It failed inside mmap: "mmap length is greater than file size".
    with pytest.raises(ValueError, match=r"X\.npy is truncated"):
        evaluate_chunks(params, source, **HYPER)


def test_npy_names_a_file_whose_header_length_is_damaged(tmp_path):
    whole = bytearray(_npy(tmp_path, "X.npy", np.ones((3, 2))).read_bytes())
    whole[8] = 16  # the header's length: it raised tokenize.TokenError
    (tmp_path / "X.npy").write_bytes(bytes(whole))
    with pytest.raises(ValueError, match=r"cannot read .*X\.npy as a \.npy array"):
        NpyChunks(tmp_path / "X.npy")
