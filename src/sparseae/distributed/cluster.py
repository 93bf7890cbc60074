"""A LocalCluster whose workers sum as fast as threads do.

Dask's nanny starts every worker process with ``MALLOC_TRIM_THRESHOLD_=65536``
(its ``distributed.nanny.pre-spawn-environ``), so that glibc hands freed
memory back to the system at once.  Setting that variable also freezes
glibc's mmap threshold at 128 KiB: every array above it is a fresh mapping,
faulted in page by page and unmapped again when freed.  The block sums free
and allocate arrays of megabytes for every chunk, so on a worker so started
each chunk task took 0.42-0.57 s for 15,000 rows where a thread in memory
takes 0.37-0.41 s (``docs/distributed.md``).  :func:`local_cluster` starts
the workers with glibc's own adaptive thresholds instead.
"""

from __future__ import annotations

__all__ = ["WORKER_ENVIRONMENT", "local_cluster"]

# Dask configuration for the workers a nanny starts: None removes the key
# from the environment the nanny sets before it spawns a worker.
WORKER_ENVIRONMENT = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


def local_cluster(n_workers: int, threads_per_worker: int = 1, **kwargs):
    """A ``distributed.LocalCluster`` without the nanny's malloc trim threshold.

    Parameters
    ----------
    n_workers : int
        Worker processes (or threads, with ``processes=False``).
    threads_per_worker : int, default=1
        Threads in each worker.  One per core suits the block sums, which
        keep a core busy each.
    **kwargs
        Passed to ``LocalCluster`` (``dashboard_address``, ``processes``,
        ``silence_logs``, ...).

    Returns
    -------
    distributed.LocalCluster
        Close it (or use it in a ``with`` block) when done.

    Notes
    -----
    For workers started otherwise (``dask worker``, a job queue), set the same
    thing in the Dask configuration the nanny reads, for example in
    ``~/.config/dask/sparseae.yaml``::

        distributed:
          nanny:
            pre-spawn-environ:
              MALLOC_TRIM_THRESHOLD_: null

    The cost is Dask's reason for the variable: a worker may hold on to
    memory it has freed until glibc trims it, so its resident size can stay
    higher between tasks.
    """
    import dask
    import numpy as np

    from distributed import LocalCluster

    if (
        not isinstance(n_workers, int | np.integer)
        or isinstance(n_workers, bool)
        or n_workers < 1
    ):
        raise ValueError(f"n_workers must be an int >= 1, got {n_workers!r}")
    with dask.config.set(WORKER_ENVIRONMENT):
        return LocalCluster(
            n_workers=int(n_workers), threads_per_worker=threads_per_worker, **kwargs
        )
