"""Row blocks on every core the BLAS may use, without oversubscribing them.

The element-wise work of the kernel (sigmoids, differences, products) runs in
NumPy ufuncs, which release the GIL, and the matrix products in BLAS, which
releases it too.  So instead of letting the BLAS spread each product over the
cores while the element-wise work runs on one, each core takes whole row
blocks in its own thread, with the BLAS limited to one thread for as long as
those threads run.  The number of threads is the number the BLAS may use now,
so a caller's ``threadpool_limits`` is honoured: under a limit of one,
everything runs in the calling thread.

Pools of different threads of one process (Dask's threaded scheduler, a
thread-based cluster, a user's own threads) open one at a time.  OpenBLAS has
one thread count for the whole process, and its products round differently
with two threads than with one, so a limit lifted as one pool closes would
change, in the last bits, the sums of another pool still running: the
results would depend on timing.  Since a pool already uses every core the
BLAS may use, taking turns costs little; what it costs a thread-based Dask
cluster is in ``docs/distributed.md``.
"""

from __future__ import annotations

import contextvars
import os
import threading
import warnings
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
_lock = threading.Lock()  # guards the two above
# The outermost pool of the thread whose turn it is holds the BLAS limit: it
# sets it on opening and lifts it, in the same thread, on closing.  Setting and
# lifting in one thread matters: threadpoolctl 3.8 lets only the thread that
# set OpenBLAS's limit change it again until that thread's limiter is exited,
# and a limit lifted from another thread would leave every later
# threadpool_limits of the program ignored.
#
# Held by a thread from opening its (outermost) pool to closing it: pools of
# other threads wait (see the module's docstring).  Re-entrant, so a pool
# opened inside another in the same thread neither waits nor lifts the limit;
# ``_depth.pools`` counts this thread's open pools.
_turn = threading.RLock()
_depth = threading.local()


def _new_turn() -> None:
    # A forked child has only the forking thread: a turn held by another
    # thread of the parent would never be given back there.
    global _turn, _depth
    _turn, _depth = threading.RLock(), threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_turn)


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


def _hold_limit():
    """Wait for this thread's turn, then limit the BLAS to one thread.

    Returns the limiter, or None inside another pool of this thread (which
    holds the limit already).
    """
    _turn.acquire()
    _depth.pools = getattr(_depth, "pools", 0) + 1
    if _depth.pools > 1:
        return None
    try:
        limiter = _blas().limit(limits=1)
        limiter.__enter__()
    except BaseException:
        _depth.pools -= 1
        _turn.release()
        raise
    if max((lib.num_threads for lib in _blas().lib_controllers), default=1) > 1:
        warnings.warn(
            "sparseae could not limit the BLAS to one thread: another thread "
            "set OpenBLAS's thread count with threadpoolctl and holds it "
            "(threadpoolctl 3.8 lets only that thread change it), so these "
            "sums may differ in the last bits from those of a run without "
            "it; set the limit to 1 there, or run sparseae in that thread",
            RuntimeWarning,
            stacklevel=4,
        )
    return limiter


def _release_limit(limiter) -> None:
    try:
        if limiter is not None:
            limiter.__exit__(None, None, None)
    finally:
        _depth.pools -= 1
        _turn.release()


class WorkerPool:
    """Threads that share out row blocks, one per worker state.

    Parameters
    ----------
    n_workers : int
        Number of threads; 1 runs everything in the calling thread.  Either
        way the BLAS is limited to one thread while the pool is open.  A pool
        opening while another thread's pool is open waits for it to close.

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
        self._limiter = _hold_limit()
        return self

    def __exit__(self, *exc_info) -> None:
        _release_limit(self._limiter)

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
