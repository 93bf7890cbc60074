"""The row-block thread pool and the BLAS limit it holds while open."""

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


def test_overlapping_pools_in_two_threads_close_in_any_order(two_blas_threads):
    opened, close_first = threading.Event(), threading.Event()
    done = threading.Event()

    def second_pool():
        with WorkerPool(1):
            opened.set()
            close_first.wait(10)
        done.set()

    with WorkerPool(1):
        thread, errors = in_thread(second_pool)
        assert opened.wait(10)
    # The first pool closed while the second is still open; then the second.
    assert available_workers() >= 2
    close_first.set()
    thread.join()
    assert done.is_set() and not errors
    with threadpool_limits(limits=1, user_api="blas"):
        assert available_workers() == 1


def test_blocks_run_on_every_thread_and_each_block_once():
    seen = np.zeros(50, dtype=int)

    def count(state, start, stop):
        seen[start:stop] += 1

    with WorkerPool(2) as pool:
        pool.run_blocks(count, [None, None], n_rows=50, block_rows=3)
    assert (seen == 1).all()
