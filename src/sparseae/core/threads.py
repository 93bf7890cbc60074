"""Row blocks on every core the BLAS may use, without oversubscribing them.

The element-wise work of the kernel (sigmoids, differences, products) runs in
NumPy ufuncs, which release the GIL, and the matrix products in BLAS, which
releases it too.  So instead of letting the BLAS spread each product over the
cores while the element-wise work runs on one, each core takes whole row
blocks in its own thread, with the BLAS limited to one thread for as long as
those threads run.  The number of threads is the number the BLAS may use now,
so a caller's ``threadpoolctl.threadpool_limits`` is honoured: under a limit of
one, everything runs in the calling thread.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["WorkerPool", "available_workers"]

# Scanning the loaded libraries takes about a millisecond, so it is done once.
_controller: ThreadpoolController | None = None
# Threads are kept between evaluations: starting one costs up to milliseconds
# on a busy machine, as much as a whole evaluation of a small problem.  A
# forked child gets a new pool, since the parent's threads are not in it.
_executor: ThreadPoolExecutor | None = None
_executor_pid = -1
# Concurrent pools share one BLAS limit: the first in sets it, the last out
# lifts it, so overlapping callers cannot restore each other's settings.
_lock = threading.Lock()
_active = 0
_limiter = None


def _blas() -> ThreadpoolController:
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.select(user_api="blas")


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_workers() -> int:
    """Threads the BLAS may use now, at most the number of usable CPUs.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> with threadpool_limits(limits=1, user_api="blas"):
    ...     available_workers()
    1
    """
    # The largest, not the smallest: a caller that limits only one of several
    # BLAS libraries (say SciPy's, for its own small vectors) leaves NumPy's
    # free, while threadpool_limits(1) limits them all.
    threads = [lib.num_threads for lib in _blas().lib_controllers]
    return max(1, min(max(threads, default=1), _cpu_count()))


def _shared_executor() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    with _lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(_cpu_count(), "sparseae")
            _executor_pid = os.getpid()
        return _executor


def _enter_limit() -> None:
    global _active, _limiter
    with _lock:
        if _active == 0:
            _limiter = _blas().limit(limits=1)
        _active += 1


def _exit_limit() -> None:
    global _active, _limiter
    with _lock:
        _active -= 1
        if _active == 0:
            _limiter.restore_original_limits()
            _limiter = None


class WorkerPool:
    """Threads that share out row blocks, one per worker state.

    Parameters
    ----------
    n_workers : int
        Number of threads; 1 runs everything in the calling thread.  Either
        way the BLAS is limited to one thread while the pool is open.

    Examples
    --------
    >>> import numpy as np
    >>> sums = np.zeros(15)
    >>> def add_rows(state, start, stop):
    ...     sums[start // 7] = np.arange(start, stop).sum()
    >>> with WorkerPool(2) as pool:
    ...     pool.run_blocks(add_rows, [None, None], n_rows=100, block_rows=7)
    >>> float(sums.sum())
    4950.0
    """

    def __init__(self, n_workers: int):
        self.n_workers = n_workers

    def __enter__(self) -> WorkerPool:
        # Even a single worker runs with one BLAS thread: the products of one
        # block are too small to gain from more, and often lose.
        _enter_limit()
        return self

    def __exit__(self, *exc_info) -> None:
        _exit_limit()

    def run_blocks(
        self,
        task: Callable[[object, int, int], None],
        states: Sequence,
        *,
        n_rows: int,
        block_rows: int,
    ) -> None:
        """Call ``task(state, start, stop)`` once on each block of consecutive rows.

        Each thread owns one of ``states`` (its buffers) and takes the next
        block not yet taken, first come first served, so the threads finish
        within one block of each other even on a busy machine.  Which thread
        sums which block then depends on timing, so a task must give each
        block sums of its own (the kernel does, and adds them in a fixed order
        afterwards) for the result not to.
        """
        n_workers = min(self.n_workers, len(states))
        starts = iter(range(0, n_rows, block_rows))
        claim = threading.Lock()

        def work(index):
            state = states[index]
            while True:
                with claim:
                    start = next(starts, None)
                if start is None:
                    return
                task(state, start, min(start + block_rows, n_rows))

        # Pool threads start from a fresh context and NumPy's defaults: the
        # caller's np.errstate (a context variable in NumPy 2, thread-local in
        # NumPy 1) is handed to them explicitly.
        errors = np.geterr()

        def helper(index):
            with np.errstate(**errors):
                work(index)

        futures = [
            _shared_executor().submit(contextvars.copy_context().run, helper, index)
            for index in range(1, n_workers)
        ]
        try:
            work(0)  # the calling thread is one of the workers
        finally:
            for future in futures:
                future.result()
