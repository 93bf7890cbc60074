"""Training and encoding on a Dask cluster, or out of core (train, encode).

``sparseae train DATA.zarr`` (or ``DATA.npy --out-of-core``) trains without
loading the data: a ``.npy`` file is read chunk by chunk
(:meth:`SparseAutoencoder.fit_file`), a zarr store through Dask.  With
``--scheduler tcp://HOST:PORT`` (a running scheduler) or ``--scheduler
local:N`` (a LocalCluster of N one-thread workers started here) the data are
read and summed by the workers (:mod:`sparseae.distributed`).  The model is
the in-memory one to the last bit for the same ``--block-rows`` and seed.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from .options import check_output_file

__all__ = ["add_options", "check_resume", "wanted", "run_encode", "run_train"]


def add_options(group, *, train: bool) -> None:
    """The cluster and out-of-core options of ``train`` (or ``encode``)."""
    if not train:
        group.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="encode on a Dask cluster: tcp://HOST:PORT of a running "
            "scheduler, or local:N to start N one-thread workers here; INPUT "
            "must be a .npy file that every worker can read, or a .zarr store, "
            "and -o a .zarr store, which the workers write",
        )
        return
    group.add_argument(
        "--scheduler",
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
        type=int,
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
    """A distributed client for ``--scheduler``, or None for dask's local one."""
    if address is None:
        yield None
        return
    from distributed import Client

    local = re.fullmatch(r"local:(\d+)", address)
    if local:
        workers = int(local.group(1))
        if workers < 1:
            raise ValueError(f"--scheduler local:N needs N >= 1, got {address!r}")
        from ..distributed import local_cluster

        with (
            local_cluster(workers, dashboard_address=":0", silence_logs=40) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not address.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise ValueError(
            f"--scheduler must be tcp://HOST:PORT or local:N, got {address!r}"
        )
    with Client(address) as client:
        yield client


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
    source = _source(args.data)
    if source.endswith(".npy") and args.scheduler is None:
        raise ValueError(
            "--resume continues runs in memory or on Dask (--scheduler, or a "
            ".zarr DATA), not --out-of-core runs of a .npy file"
        )
    if args.block_rows is not None and args.block_rows != model.block_rows:
        raise ValueError(
            f"--resume: --block-rows is {args.block_rows} but the run used "
            f"{model.block_rows}; resume with the same blocks"
        )


def run_train(
    args, model, bar, write_history, *, interrupted, run, resume=False
) -> int:
    """Fit ``model`` on the cluster or the file; write model, history, checkpoints.

    ``write_history(model, folder)`` writes history.csv as for a run in memory.
    The files go to ``run`` (a :class:`~sparseae.cli.runs.RunFolder`), created
    at the first write and published at the end: a run replacing another
    (``--overwrite``) that fails or is interrupted leaves the old one as it
    was.  A Dask fit saves checkpoint.safetensors every ``--checkpoint-every``
    seconds and when ``interrupted()`` (Ctrl-C) stops it, and ``resume``
    continues such a checkpoint (``model`` read from it) to the bits of one
    uninterrupted run: the client holds θ and the L-BFGS memory, which the
    checkpoint carries.  Returns 130 when interrupted.
    """
    source = _source(args.data)
    dask_fit = not (source.endswith(".npy") and args.scheduler is None)
    if resume:
        check_resume(args, model)
    if args.block_rows is not None:
        model.set_params(block_rows=args.block_rows)
    checkpoint = run.path / "checkpoint.safetensors"
    extra = {"data": str(args.data)}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if dask_fit:
                    model = _fit_dask(args, model, source, bar, run, extra, resume)
                else:
                    model.fit_file(source, callback=bar)
            finally:
                bar.close()
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
        if interrupted() and run.replacing:
            run.discard()
            print(run.discarded(model.n_iter_))
            return 130
        write_history(model, run.make())
        if interrupted():
            model.save(checkpoint, extra=extra)
            print(
                f"interrupted after {model.n_iter_} iterations; checkpoint saved to "
                f"{checkpoint} (history.csv beside it); continue with the same "
                "command and --resume"
            )
            return 130
        model.save(run.path / "model.safetensors", extra=extra)
        checkpoint.unlink(missing_ok=True)
        run.publish()
    except BaseException:
        run.discard()
        raise
    where = args.scheduler or (
        "Dask's local scheduler" if dask_fit else "the file, out of core"
    )
    print(
        f"trained on {source} ({where}) in {time.perf_counter() - start:.1f} s, "
        f"{model.n_iter_} iterations, loss {model.loss_curve_[-1]:.6g}; model written "
        f"to {args.output / 'model.safetensors'}"
    )
    return 0


def _fit_dask(args, model, source, bar, run, extra, resume):
    """The Dask fit (or its continuation), checkpointed as it goes."""
    from ..distributed import DaskSparseAutoencoder, open_data
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
    name.
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

    with _client(args.scheduler) as client:
        dask_model = DaskSparseAutoencoder.from_local(model, client=client)
        X = open_data(source)
        if X.shape[1] != model.n_features_in_:
            raise ValueError(
                f"{args.input} has {X.shape[1]} features per sample but the model "
                f"was trained on {model.n_features_in_}"
            )
        codes = dask_model.transform(X)
        store = codes.to_zarr(str(args.output), compute=False, overwrite=True)
        if client is None:
            store.compute()
        else:
            client.compute(store, sync=True)
    print(f"{codes.shape[0]} x {codes.shape[1]} activations written to {args.output}")
    return 0
