"""Training and encoding on a Dask cluster, or out of core (train, encode).

``sparseae train DATA.zarr`` (or ``DATA.npy --out-of-core``) trains without
loading the data: a ``.npy`` file is read chunk by chunk
(:meth:`SparseAutoencoder.fit_file`), a zarr store through Dask.  With
``--scheduler tcp://HOST:PORT`` (a running scheduler) or ``--scheduler
local:N`` (a LocalCluster of N one-thread workers started here) the data are
read and summed by the workers (:mod:`sparseae.distributed`).  The model is
the in-memory one to the last bit for the same ``--block-rows`` and seed.

A scheduler that does not answer within :data:`CONNECT_TIMEOUT` seconds, or
that has no worker :data:`WORKER_TIMEOUT` seconds after the connection, ends
the command with one line saying so.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from ..io.atomic import fsync_folder
from .options import check_output_file, number, scheduler
from .progress import warnings_printed
from .signals import deferred

__all__ = [
    "CONNECT_TIMEOUT",
    "WORKER_TIMEOUT",
    "add_options",
    "check_resume",
    "remove_leftovers",
    "wanted",
    "run_encode",
    "run_train",
]

# Seconds to wait for a --scheduler tcp://HOST:PORT to answer: a running one
# answers in milliseconds, so a longer wait only delays the message that the
# address is wrong or the scheduler is down.
CONNECT_TIMEOUT = 10

# Seconds to wait for the first worker to join a scheduler that has none yet
# (workers starting with it, or queued by a batch system).
WORKER_TIMEOUT = 60


def add_options(group, *, train: bool) -> None:
    """The cluster and out-of-core options of ``train`` (or ``encode``)."""
    if not train:
        group.add_argument(
            "--scheduler",
            type=scheduler,
            metavar="ADDRESS",
            help="encode on a Dask cluster: tcp://HOST:PORT of a running "
            "scheduler, or local:N to start N one-thread workers here; INPUT "
            "must be a .npy file that every worker can read, or a .zarr store, "
            "and -o a .zarr store, which the workers write",
        )
        return
    group.add_argument(
        "--scheduler",
        type=scheduler,
        metavar="ADDRESS",
        help="train on a Dask cluster: tcp://HOST:PORT of a running scheduler, or "
        "local:N to start N one-thread workers here; DATA must be a .npy file "
        "that every worker can read, or a .zarr store",
    )
    group.add_argument(
        "--out-of-core",
        action="store_true",
        help="read a .npy DATA chunk by chunk at every evaluation instead of "
        "loading it (L-BFGS); a .zarr DATA is always read so",
    )
    group.add_argument(
        "--block-rows",
        type=number(int, low=1),
        metavar="N",
        help="rows per block of the objective's sums: the same N, data and seed "
        "give the same model to the last bit in memory, out of core and on a "
        "cluster (default: from the data's shape)",
    )


def wanted(args) -> bool:
    """Whether this run goes through this module rather than memory."""
    data = str(args.data if hasattr(args, "data") else args.input).rstrip("/")
    return bool(
        args.scheduler or getattr(args, "out_of_core", False) or data.endswith(".zarr")
    )


@contextmanager
def _client(address):
    """A distributed client for ``--scheduler``, or None for dask's local one.

    ``address`` was checked by :func:`~sparseae.cli.options.scheduler`.
    """
    if address is None:
        yield None
        return
    from distributed import Client

    if address.startswith("local:"):
        from ..distributed import local_cluster

        # A failed task reaches the client as its exception, which the command
        # reports on one line; the workers' own ERROR log of it (a traceback)
        # would only repeat it.
        with _workers_deaf_to_ctrl_c():
            cluster = local_cluster(
                int(address.removeprefix("local:")),
                dashboard_address=":0",
                silence_logs=logging.CRITICAL,
            )
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except OSError as error:
        raise OSError(
            f"--scheduler {address}: no Dask scheduler answered there within "
            f"{CONNECT_TIMEOUT} s{_reason(error)}; check the address and that the "
            "scheduler is running"
        ) from None
    with client:
        _wait_for_a_worker(client, address)
        yield client


@contextmanager
def _workers_deaf_to_ctrl_c():
    """Start processes in the block with Ctrl-C (SIGINT) ignored.

    Ctrl-C in a terminal reaches every process of the foreground group: the
    workers of ``--scheduler local:N`` too, which would die of it while the
    command saves its checkpoint.  A signal ignored when a process starts
    stays ignored in it (Python installs its KeyboardInterrupt handler only
    where SIGINT had the default action), so the command alone stops, saves
    and closes the cluster.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _reason(error: OSError) -> str:
    """Why a connection failed (" (Connection refused)"), or ""."""
    cause = error.__cause__
    if cause is None:
        return ""
    text = getattr(cause, "strerror", None) or str(cause).rsplit(": ", 1)[-1]
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)
    return f" ({text})" if text else ""


def _wait_for_a_worker(client, address: str) -> None:
    if client.scheduler_info(n_workers=1)["workers"]:
        return
    print(
        f"waiting up to {WORKER_TIMEOUT} s for a worker to join the scheduler at "
        f"{address}",
        file=sys.stderr,
        flush=True,
    )
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            f"--scheduler {address}: no workers joined the scheduler within "
            f"{WORKER_TIMEOUT} s; start some (dask worker {address}) and run the "
            "command again"
        ) from None


def _source(path, name="DATA"):
    text = str(path).rstrip("/")
    if not text.endswith((".npy", ".zarr")):
        raise ValueError(
            f"--scheduler, --out-of-core and zarr input need {name} to be a .npy "
            f"file or a .zarr store, got {str(path)!r}"
        )
    if not Path(text).exists():
        raise FileNotFoundError(f"{name} {text} does not exist")
    return text


def check_resume(args, model) -> None:
    """Refuse a ``--resume`` of ``model`` that these options could not continue."""
    _source(args.data)
    if args.block_rows is not None and args.block_rows != model.block_rows:
        raise ValueError(
            f"--resume: --block-rows is {args.block_rows} but the run used "
            f"{model.block_rows}; resume with the same blocks"
        )


def run_train(
    args, model, bar, write_history, *, interrupted, run, write_results, resume=False
) -> int:
    """Fit ``model`` on the cluster or the file; write the run's files, checkpoints.

    ``write_history(model, folder)`` writes history.csv, and
    ``write_results(model, X, folder, image_shape, extra, seconds)`` every file
    of a finished run, as for a run in memory: ``X`` is the data read chunk by
    chunk (a memory-mapped ``.npy``, or the rows of the Dask array), one pass
    for the objective and one for the units, on this machine once the cluster
    is closed.  The files go to ``run`` (a
    :class:`~sparseae.cli.runs.RunFolder`), created at the first write and
    published at the end: a run replacing another (``--overwrite``) that fails
    or is interrupted leaves the old one as it was.  A fit saves
    checkpoint.safetensors every ``--checkpoint-every`` seconds and when
    ``interrupted()`` (Ctrl-C or SIGTERM) stops it, and ``resume`` continues such a
    checkpoint (``model`` read from it) to the bits of one uninterrupted run:
    the client holds θ and the L-BFGS memory, which the checkpoint carries.
    Returns ``interrupted.exit_status`` (130, or 143 for SIGTERM) when
    interrupted.
    """
    source = _source(args.data)
    dask_fit = not (source.endswith(".npy") and args.scheduler is None)
    if resume:
        check_resume(args, model)
    if args.block_rows is not None:
        model.set_params(block_rows=args.block_rows)
    X = _rows(source, dask_fit)
    image_shape = _image_shape(args.image_shape, X.shape, args.data)
    checkpoint = run.path / "checkpoint.safetensors"
    extra = {"data": str(args.data), "image_shape": image_shape and list(image_shape)}
    start = time.perf_counter()
    try:
        with warnings_printed():
            try:
                fit = _fit_dask if dask_fit else _fit_file
                model = fit(args, model, source, bar, run, extra, resume)
            finally:
                bar.close()
        if interrupted() and run.drop_interrupted(model.n_iter_):
            return interrupted.exit_status
        if interrupted():
            write_history(model, run.make())
            model.save(checkpoint, extra=extra)
            print(
                f"interrupted after {model.n_iter_} iterations; checkpoint saved to "
                f"{checkpoint} (history.csv beside it); continue with the same "
                "command and --resume"
            )
            return interrupted.exit_status
        seconds = time.perf_counter() - start
        with warnings_printed():
            written = write_results(model, X, run.make(), image_shape, extra, seconds)
        checkpoint.unlink(missing_ok=True)
        run.publish()
    except BaseException:
        run.discard()
        raise
    where = args.scheduler or (
        "Dask's local scheduler" if dask_fit else "the file, out of core"
    )
    print(
        f"trained on {source} ({where}) in {seconds:.1f} s; written to "
        f"{args.output}: {', '.join(written)}"
    )
    return 0


class _DaskRows:
    """The rows of a Dask array, read as NumPy arrays when indexed.

    What the writers of a run's files take for data (``shape``, ``dtype``,
    ``len`` and row indexing), so that they read a store chunk by chunk.
    """

    ndim = 2

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.dtype = X.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def first_rows(self, count: int) -> _DaskRows:
        """The first ``count`` rows, as rows of a Dask array too."""
        return _DaskRows(self.X[:count])

    def __getitem__(self, key):
        import numpy as np

        return np.asarray(self.X[key])


def _rows(source: str, dask_fit: bool):
    """The training data, to be read chunk by chunk after the fit."""
    if not dask_fit:
        import numpy as np

        from .inputs import reading

        with reading(Path(source), "a .npy array"):
            return np.load(source, mmap_mode="r")
    from ..distributed import open_data

    return _DaskRows(open_data(source))


def _image_shape(image_shape, shape, data):
    """``--image-shape`` checked against the data's width, or None."""
    if image_shape is None:
        return None
    from .inputs import image_channels

    image_channels(image_shape, shape[1], data)
    return tuple(image_shape)


def _checkpointing(args, bar, run, extra):
    """The progress bar's callback, saving a checkpoint every --checkpoint-every."""
    from ..io.checkpoints import Checkpointer

    def write_checkpoint(model, path):
        run.make()
        model.save(path, extra=extra)

    saver = Checkpointer(
        run.path / "checkpoint.safetensors",
        every_seconds=args.checkpoint_every,
        writer=write_checkpoint,
    )

    def callback(model, progress):
        saver(model, progress)
        return bar(model, progress)

    return callback


def _fit_file(args, model, source, bar, run, extra, resume):
    """The fit out of core (or its continuation), checkpointed as it goes."""
    callback = _checkpointing(args, bar, run, extra)
    if resume:
        return model.resume_fit(source, callback=callback)
    return model.fit_file(source, callback=callback)


def _fit_dask(args, model, source, bar, run, extra, resume):
    """The Dask fit (or its continuation), checkpointed as it goes."""
    from ..distributed import DaskSparseAutoencoder, open_data

    callback = _checkpointing(args, bar, run, extra)
    with _client(args.scheduler) as client:
        if resume:
            dask_model = DaskSparseAutoencoder.from_local(model, client=client)
            dask_model.resume_fit(open_data(source), callback=callback)
        else:
            dask_model = DaskSparseAutoencoder(**model.get_params(), client=client)
            dask_model.fit(open_data(source), callback=callback)
    # Written after the cluster is gone: saving needs only the client's copy.
    dask_model.client = None
    return dask_model


def run_encode(args, *, read) -> int:
    """Encode a .npy or .zarr INPUT on the cluster into a zarr store (-o DIR.zarr).

    ``read`` are the files the command reads (MODEL, INPUT), which -o may not
    name.  The store is written under a temporary name beside -o and put in
    its place only when complete (:func:`_swap_in`): a failed or interrupted
    encoding leaves an earlier -o as it was, and deletes what it wrote.  What
    an encoding killed by SIGKILL left beside -o is removed by the next one
    (:func:`remove_leftovers`).
    """
    source = _source(args.input, "INPUT")
    if args.output.suffix.lower() != ".zarr":
        raise ValueError(
            f"with --scheduler, -o must name a .zarr store, got {str(args.output)!r}"
        )
    from ..distributed import DaskSparseAutoencoder, open_data
    from ..models import load

    check_output_file(
        args.output, "-o/--output", overwrite=args.overwrite, inputs=read, store=True
    )
    model = load(args.model)
    X = open_data(source)
    if X.shape[1] != model.n_features_in_:
        raise ValueError(
            f"{args.input} has {X.shape[1]} features per sample but the model "
            f"was trained on {model.n_features_in_}"
        )
    X = X.map_blocks(_check_finite, source=str(args.input), dtype=X.dtype)
    remove_leftovers(args.output)
    partial = args.output.with_name(f".{args.output.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with _client(args.scheduler) as client:
            dask_model = DaskSparseAutoencoder.from_local(model, client=client)
            codes = dask_model.transform(X)
            _compute(codes.to_zarr(str(partial), compute=False), client)
        _swap_in(partial, args.output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    print(f"{codes.shape[0]} x {codes.shape[1]} activations written to {args.output}")
    return 0


def remove_leftovers(path: Path) -> list[Path]:
    """Delete what writes of ``path`` killed mid-way left beside it, saying so.

    A write of ``path`` (a file, or a store by :func:`_swap_in`) goes through
    ``.NAME.XXXXXXXX.tmp`` beside it (``XXXXXXXX`` hex digits), and a store
    that replaces another first moves the old one to ``.NAME.XXXXXXXX.old``.
    SIGKILL, a power cut or a crash can leave either behind, where nothing
    else would ever remove them.  A ``.tmp`` is an unfinished result, redone
    by this run: it is deleted.  An ``.old`` is deleted when ``path`` exists
    (its replacement is in place); without ``path`` it is the only copy of
    the earlier result, so it is kept and a line on stderr names it.

    Like :func:`~sparseae.io.atomic.remove_stale_temporaries`, this assumes
    that one command at a time writes ``path``: another one's ``.tmp`` in
    progress would be deleted too.

    Returns
    -------
    list of Path
        What was deleted.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.(tmp|old)")
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        if match.group(1) == "old" and not os.path.lexists(path):
            print(
                f"note: {entry} holds the earlier {path.name} that a killed run "
                f"was replacing; it is kept (rename it to {path.name} to restore "
                "it)",
                file=sys.stderr,
            )
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    if removed:
        names = ", ".join(entry.name for entry in removed)
        print(
            f"note: removed what killed writes of {path} left beside it: {names}",
            file=sys.stderr,
        )
    return removed


def _compute(store, client) -> None:
    """Write ``store``; if a task fails, return once none of its tasks runs.

    Dask reports the first failed task while others still run; one of those
    would write its chunk after the partial store is deleted, and bring it
    back.  Tasks not yet started are cancelled.
    """
    if client is None:
        from concurrent.futures import ThreadPoolExecutor

        from dask.system import CPU_COUNT

        pool = ThreadPoolExecutor(CPU_COUNT)
        try:
            store.compute(scheduler="threads", pool=pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    future = client.compute(store)
    try:
        future.result()
    except BaseException:
        future.cancel()
        names = {key[0] if isinstance(key, tuple) else key for key in store.dask}
        # A chunk's task takes seconds; one stuck longer is not waited for.
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and any(
                client.run(_running, names, on_error="ignore").values()
            ):
                time.sleep(0.05)
        except Exception:  # the task's error is the one to report
            pass
        raise


def _running(names, dask_worker=None) -> int:
    """How many tasks of ``names`` (task-name prefixes) the worker is running."""
    # A cancelled task goes on running; the worker keeps it in these sets.
    state = dask_worker.state
    return sum(
        (task.key[0] if isinstance(task.key, tuple) else task.key) in names
        for task in state.executing | state.long_running
    )


def _check_finite(block, source, block_info=None):
    """``block`` of the data, or a ValueError placing its first non-finite value.

    Placed in the whole data, where the model's own check would place it in
    the block; the count is the block's.
    """
    from ..models._validation import check_finite

    (top, bottom), (left, _) = block_info[0]["array-location"]
    check_finite(
        block, name=f"{source} (rows {top} to {bottom - 1})", offset=(top, left)
    )
    return block


def _swap_in(new: Path, path: Path) -> None:
    """Put the complete store ``new`` at ``path``, in place of any store there.

    No rename replaces a folder that has files in it, so the old store is
    first renamed aside, then ``new`` renamed to ``path``, then the old one
    deleted.  Between the two renames, microseconds apart, nothing is at
    ``path``: a reader opening it then fails, and a crash then leaves both
    stores beside it under hidden temporary names, the old one whole.  Ctrl-C
    and SIGTERM wait until the renames are done.
    """
    old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
    with deferred():
        had_old = os.path.lexists(path)
        if had_old:
            os.replace(path, old)
        try:
            os.replace(new, path)
        except BaseException:
            if had_old:
                os.replace(old, path)
            raise
        fsync_folder(path.parent)
    if had_old:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
