"""The row-block thread pool and the BLAS limit it holds while open."""

import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sparseae.core.threads import WorkerPool, available_workers


def blas_threads():
    return sorted(
        lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"
    )


def in_thread(function):
    errors = []

    def run():
        try:
            function()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.fixture
def two_blas_threads():
    if available_workers() < 2:
        pytest.skip("the BLAS may use one thread here: no limit to observe")
    before = blas_threads()
    yield
    assert blas_threads() == before, "a pool left the BLAS limit changed"


def test_the_pool_limits_the_blas_while_open_and_restores_it(two_blas_threads):
    with WorkerPool(2):
        assert available_workers() == 1
    assert available_workers() >= 2


def test_a_pool_in_another_thread_leaves_the_callers_limits_working(two_blas_threads):
    # threadpoolctl 3.8 gives OpenBLAS's limit to the first thread that sets
    # it until that thread exits its limiter: a pool that set the limit in one
    # thread and lifted it in another once left every later threadpool_limits
    # of the main thread ignored (Dask runs tasks in worker threads).
    closed, finish = threading.Event(), threading.Event()

    def pool_then_wait():  # a worker thread lives on after its task
        with WorkerPool(1):
            pass
        closed.set()
        finish.wait(10)

    thread, errors = in_thread(pool_then_wait)
    try:
        assert closed.wait(10)
        with threadpool_limits(limits=1, user_api="blas"):
            assert available_workers() == 1
    finally:
        finish.set()
        thread.join()
    assert not errors


def test_pools_of_two_threads_take_turns(two_blas_threads):
    # OpenBLAS has one thread count per process and rounds differently with
    # two threads: had the first pool lifted the limit while the second still
    # summed, the second's sums would have depended on timing.
    opened, closed = threading.Event(), threading.Event()
    limited = []

    def second_pool():
        with WorkerPool(1):
            opened.set()
            limited.append(available_workers() == 1)
        closed.set()

    with WorkerPool(1):
        thread, errors = in_thread(second_pool)
        assert not opened.wait(0.5), "a second pool opened while the first was"
        with WorkerPool(1):  # this thread's own nested pool does not wait
            pass
        assert available_workers() == 1
    assert opened.wait(10) and closed.wait(10)
    thread.join()
    assert limited == [True] and not errors
    assert available_workers() >= 2
    with threadpool_limits(limits=1, user_api="blas"):
        assert available_workers() == 1


def test_sums_in_concurrent_threads_are_those_of_one_thread():
    # Blocks of 500 rows: large enough for OpenBLAS to thread, and round
    # differently, when the limit is not held (2 of 40 runs differed before
    # pools took turns).
    from sparseae import Params
    from sparseae.core.objective import make_settings
    from sparseae.core.partial_sums import block_sums

    rng = np.random.default_rng(0)
    X, params = rng.uniform(size=(3001, 64)), Params.initialize(64, 16, rng=rng)
    settings = make_settings(
        sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-4
    )
    reference = block_sums(params, settings, X, block_rows=500, n_threads=1)
    results = []

    def repeat():
        for _ in range(20):
            sums = block_sums(params, settings, X, block_rows=500, n_threads=1)
            results.append(np.array_equal(sums.grad_W1, reference.grad_W1))

    threads = [in_thread(repeat) for _ in range(2)]
    for thread, errors in threads:
        thread.join()
        assert not errors
    assert results == [True] * 40


def test_blocks_run_on_every_thread_and_each_block_once():
    seen = np.zeros(50, dtype=int)

    def count(state, start, stop):
        seen[start:stop] += 1

    with WorkerPool(2) as pool:
        pool.run_blocks(count, [None, None], n_rows=50, block_rows=3)
    assert (seen == 1).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_child_forked_while_another_thread_holds_a_pool_can_open_its_own():
    # The child has only the forking thread; the turn the parent's other
    # thread held would never be given back there.
    import multiprocessing
    import warnings

    opened, finish = threading.Event(), threading.Event()

    def hold_a_pool():
        with WorkerPool(1):
            opened.set()
            finish.wait(30)

    thread, errors = in_thread(hold_a_pool)
    try:
        assert opened.wait(10)
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a threaded process.
            warnings.simplefilter("ignore", DeprecationWarning)
            child = multiprocessing.get_context("fork").Process(target=_open_a_pool)
            child.start()
        child.join(30)
        assert child.exitcode == 0, "the forked child could not open a pool"
    finally:
        if "child" in locals() and child.is_alive():
            child.kill()
        finish.set()
        thread.join()
    assert not errors


def _open_a_pool():
    with WorkerPool(1):
        pass
