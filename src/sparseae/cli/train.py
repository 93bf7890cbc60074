"""``sparseae train``: fit a model, write it with its pictures and figures."""

from __future__ import annotations

import argparse
import csv
import io
import shlex
import textwrap
import time
from functools import partial
from pathlib import Path

import numpy as np

from ..core.objective import loss_terms
from ..core.params import Params
from ..io import strict_json
from ..io.atomic import remove_stale_temporaries, write_bytes_atomically
from ..io.checkpoints import Checkpointer
from . import cluster
from .inputs import DATA_HELP, image_channels, load_input
from .options import SEED, add_data_options, number, options_named
from .progress import ProgressBar, warnings_printed
from .runs import RunFolder, check_output, nothing_to_resume, resumed_model
from .signals import stop_flag

EXAMPLE = """examples:
  sparseae train digits -o runs/digits --n-components 36 --sparsity-target 0.1
  sparseae train patches -o runs/adam --solver adam --batch-size 32 \\
      --rho-estimate running --max-iter 50
  sparseae train patches -o runs/adam --resume      # after Ctrl-C
  sparseae train digits -o runs/digits --resume --max-iter 800   # run longer
  sparseae train digits -o runs/topk --n-components 64 --hidden-activation topk \\
      --k 8 --output-activation linear --solver adam --aux-k 16 --unit-norm-decoder

writes OUTPUT/model.safetensors, OUTPUT/metrics.json (figures, configuration,
unit statistics), OUTPUT/history.csv, OUTPUT/loss.png, OUTPUT/report.html and,
when the samples are images, OUTPUT/filters.png. Runs save
OUTPUT/checkpoint.safetensors every --checkpoint-every seconds and on Ctrl-C
or SIGTERM (kill, a batch system's time limit), then exit 130 or 143;
an interrupted run still writes history.csv and report.html. A run with
--overwrite replaces the one in OUTPUT only once it has finished: until then it
is written in OUTPUT/.sparseae-new/, and if it fails or is interrupted OUTPUT
keeps the old run and the new one's files are deleted. --resume on a run that
has nothing left to do says so and changes nothing.
"""

# Options that set estimator parameters: (name, type, help); the type bool is
# a flag that sets True. Defaults and the valid values come from the
# estimator itself.
HYPERPARAMETERS = (
    ("n_components", int, "hidden units h"),
    ("sparsity_target", float, "target mean activation rho, in (0, 1)"),
    ("sparsity_weight", float, "weight beta of the sparsity penalty"),
    ("weight_decay", float, "weight decay lambda"),
    ("penalty", str, "sparsity penalty: kl, squared or l1"),
    ("output_activation", str, "output unit: sigmoid (data in [0, 1]) or linear"),
    ("loss", str, "reconstruction loss: squared or cross_entropy"),
    ("hidden_activation", str, "hidden unit: sigmoid, relu (with l1) or topk"),
    ("k", number(int, low=1), "units kept per sample by topk"),
    ("unit_norm_decoder", bool, "hold every decoder column at unit norm"),
    ("tied_weights", bool, "decoder = encoder transposed (W2 = W1^T)"),
    (
        "aux_k",
        number(int, low=1),
        "units of the auxiliary loss for dead units (topk only: a dead relu "
        "unit has no positive pre-activation to revive it with; linear output, "
        "sgd or adam); None: off",
    ),
    ("aux_weight", number(float, above=0), "weight of the auxiliary loss"),
    (
        "dead_after",
        number(int, low=1),
        "samples without firing after which a unit is dead; None: one pass",
    ),
    ("solver", str, "lbfgs (full batch), sgd or adam (minibatches)"),
    ("max_iter", int, "iterations (L-BFGS) or epochs (SGD, Adam)"),
    ("lbfgs_memory", int, "correction pairs kept by L-BFGS"),
    ("batch_size", number(int, auto=True), "samples per minibatch, or 'auto'"),
    ("learning_rate", number(float, auto=True), "step size of SGD or Adam, or 'auto'"),
    ("momentum", float, "momentum of SGD"),
    ("rho_estimate", str, "rho-hat of a minibatch's sparsity term: batch or running"),
    ("rho_decay", float, "decay alpha of the running estimate"),
    ("tol", float, "stopping tolerance"),
    ("n_iter_no_change", int, "epochs without improvement before SGD/Adam stop"),
    ("dtype", str, "float64 or float32"),
)


class EstimatorDefault:
    """The estimator's default for one option, looked up when first needed.

    Building the parser must not import scikit-learn (``sparseae --help`` would
    wait for it); only ``train --help`` and a run need the value.
    """

    def __init__(self, name: str):
        self.name = name

    @property
    def value(self):
        """The default, as the option's value (``dtype`` by name)."""
        from ..models.autoencoder import SparseAutoencoder

        value = SparseAutoencoder().get_params()[self.name]
        return np.dtype(value).name if self.name == "dtype" else value

    def __str__(self) -> str:
        return str(self.value)


def add_parser(subparsers) -> None:
    """Register the command."""
    parser = subparsers.add_parser(
        "train",
        help="train a sparse autoencoder and save it",
        description=textwrap.fill(f"Train a sparse autoencoder on DATA: {DATA_HELP}."),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="what to train on (see above)")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="folder for the results"
    )
    model = parser.add_argument_group("model and training")
    for name, kind, text in HYPERPARAMETERS:
        if kind is bool:
            model.add_argument(
                "--" + name.replace("_", "-"),
                action="store_const",
                const=True,
                default=EstimatorDefault(name),
                help=f"{text} (default %(default)s)",
            )
            continue
        model.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=EstimatorDefault(name),
            metavar={"int": "N", "float": "X"}.get(
                getattr(kind, "__name__", ""), "NAME"
            ),
            help=f"{text} (default %(default)s)",
        )
    model.add_argument(
        "--seed", type=SEED, default=0, help="random_state of the model (default 0)"
    )
    data = parser.add_argument_group("data")
    add_data_options(data)
    run = parser.add_argument_group("run")
    run.add_argument(
        "--checkpoint-every",
        type=number(float, above=0),
        default=60.0,
        metavar="SECONDS",
        help="save a checkpoint this often (default 60)",
    )
    again = run.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in OUTPUT (its checkpoint, or its model with a "
        "larger --max-iter), with its settings",
    )
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in OUTPUT, once this one has finished "
        "(if it fails or is interrupted, OUTPUT keeps the old run)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--summary-rows",
        type=number(int, low=1),
        default=None,
        metavar="N",
        help="measure metrics.json and report.html on the first N samples "
        "(default all; bounds the pass over the data after a cluster run)",
    )
    cluster.add_options(parser.add_argument_group("cluster"), train=True)
    parser.set_defaults(run=run_train)


def _estimator(args):
    from ..models.autoencoder import SparseAutoencoder

    params = {name: getattr(args, name) for name, _, _ in HYPERPARAMETERS}
    for name, value in params.items():
        if isinstance(value, EstimatorDefault):
            params[name] = value.value
    return SparseAutoencoder(
        **params, random_state=args.seed, block_rows=args.block_rows
    )


def run_train(args) -> int:
    """:func:`_run_train`, whose parameter errors name their options."""
    with options_named({name for name, _, _ in HYPERPARAMETERS}):
        return _run_train(args)


def _run_train(args) -> int:
    """Train, then write the model, pictures and figures; 130 if interrupted.

    SIGTERM stops a run as Ctrl-C does, with 143 (:mod:`sparseae.cli.signals`).

    Everything is checked before anything is written: ``-o`` first, then DATA,
    the run that ``--resume`` continues, and the options and data in the
    estimator's ``fit``, which raises before its first iteration and thus
    before the first checkpoint.  A run replacing another (``--overwrite``)
    is written beside it and takes its place only once finished
    (:class:`~sparseae.cli.runs.RunFolder`): a run that fails or is
    interrupted leaves the old one as it was.
    """
    replacing = check_output(args.output, overwrite=args.overwrite, resume=args.resume)
    given = {
        name: getattr(args, name)
        for name, _, _ in HYPERPARAMETERS
        if not isinstance(getattr(args, name), EstimatorDefault)
    }
    if cluster.wanted(args):
        if args.resume:
            model, finished = resumed_model(args.output, args.data, given)
            # Options the run could not continue with are refused even when
            # there is nothing left to do.
            cluster.check_resume(args, model)
            note = nothing_to_resume(args.output, model, finished=finished)
            if note:
                print(note)
                return 0
        else:
            model = _estimator(args)
        run = RunFolder(args.output, replacing=replacing)
        remove_stale_temporaries(run.path / "checkpoint.safetensors")
        with stop_flag() as interrupted:
            bar = ProgressBar(enabled=not args.quiet, should_stop=interrupted)
            return cluster.run_train(
                args,
                model,
                bar,
                _write_history,
                interrupted=interrupted,
                resume=args.resume,
                run=run,
                write_results=partial(_write_results, args),
            )
    X, image_shape = load_input(
        args.data, n_patches=args.patches, seed=args.seed, image_shape=args.image_shape
    )
    finished = False
    if args.resume:
        model, finished = resumed_model(args.output, args.data, given)
        note = nothing_to_resume(args.output, model, finished=finished)
        if note:
            print(note)
            return 0
    else:
        model = _estimator(args)
    run = RunFolder(args.output, replacing=replacing)
    checkpoint = run.path / "checkpoint.safetensors"
    # A run killed while saving leaves its temporary file; this run owns the
    # folder's checkpoint, so such leftovers are garbage.
    remove_stale_temporaries(checkpoint)
    extra = {"data": args.data, "image_shape": image_shape and list(image_shape)}

    def write_checkpoint(model, path):
        run.make()
        model.save(path, extra=extra)

    before = model.n_iter_ if args.resume else None
    start = time.perf_counter()
    try:
        with stop_flag() as interrupted:
            bar = ProgressBar(enabled=not args.quiet, should_stop=interrupted)
            saver = Checkpointer(
                checkpoint, every_seconds=args.checkpoint_every, writer=write_checkpoint
            )

            def callback(model, progress):
                saver(model, progress)
                return bar(model, progress)

            with warnings_printed():
                try:
                    if args.resume:
                        model.resume_fit(X, callback=callback)
                    else:
                        model.fit(X, callback=callback)
                finally:
                    bar.close()
            if interrupted() and run.drop_interrupted(model.n_iter_):
                return interrupted.exit_status
            if interrupted():
                write_checkpoint(model, checkpoint)
                config = _config(args, model, X, image_shape, checkpoint)
                _write_history(model, run.path)
                _write_report(model, X, run.path, config, image_shape, name=args.output)
                how = "continue with the same command and --resume"
                print(
                    f"interrupted after {model.n_iter_} iterations; checkpoint saved "
                    f"to {checkpoint} (report.html and history.csv beside it); {how}"
                )
                return interrupted.exit_status
        note = nothing_to_resume(args.output, model, finished=finished, before=before)
        if note:
            print(note)
            return 0
        seconds = time.perf_counter() - start
        run.make()
        written = _write_results(args, model, X, run.path, image_shape, extra, seconds)
        checkpoint.unlink(missing_ok=True)
        run.publish()
    except BaseException:
        run.discard()
        raise
    print(f"written to {args.output}: {', '.join(written)}")
    return 0


def _in_memory(X) -> bool:
    """Whether ``X`` is an array in memory, not a file or a store read in chunks."""
    return isinstance(X, np.ndarray) and not isinstance(X, np.memmap)


def _fingerprint(X, model_file: Path):
    """The data's fingerprint: of the array, or as the fit recorded it.

    A run out of core or on a cluster does not hold its data; its fit
    recorded them in its training state (the file and its shape, or the
    digests of the rows' blocks), which the model file carries.
    """
    from ..models import read_info
    from ..training.state import data_fingerprint

    if _in_memory(X):
        return data_fingerprint(X)
    training = read_info(model_file)["training"]
    return training.get("fingerprint") if isinstance(training, dict) else None


def _config(args, model, X, image_shape, model_file: Path) -> dict:
    """Everything needed to repeat the run and to know what it ran on."""
    from threadpoolctl import threadpool_info

    from .._version import __version__

    params = model.get_params(deep=False)
    # A cluster run's DaskSparseAutoencoder has a client, no hyperparameter.
    params.pop("client", None)
    params["dtype"] = np.dtype(params["dtype"]).name
    return {
        "hyperparameters": params,
        "seed": args.seed,
        "resumed": args.resume,
        "library_version": __version__,
        "command_line": shlex.join(getattr(args, "command_line", ["sparseae"])),
        "threads": [
            {
                "library": pool["prefix"],
                "api": pool["internal_api"],
                "threads": pool["num_threads"],
            }
            for pool in threadpool_info()
        ],
        "data": {
            "source": args.data,
            # The patches depend on their number and seed; other data do not.
            "patches": args.patches if args.data == "patches" else None,
            "seed": args.seed if args.data == "patches" else None,
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
            "dtype": X.dtype.name,
            "image_shape": image_shape and list(image_shape),
            # As the training state's: BLAKE2b (128 bits) of shape, type, bytes.
            "fingerprint": _fingerprint(X, model_file),
        },
    }


def _write_history(model, folder: Path) -> None:
    """One row per iteration (L-BFGS) or epoch (SGD, Adam): history.csv.

    The auxiliary loss has a column when the run used one (``--aux-k``).
    """
    keys = [k for k in model.history_ if k != "auxiliary" or model.aux_k is not None]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["iteration", *keys])
    for i, row in enumerate(zip(*(model.history_[k] for k in keys), strict=True)):
        writer.writerow([i + 1, *(repr(float(v)) for v in row)])
    write_bytes_atomically(folder / "history.csv", text.getvalue().encode())


def _write_report(model, X, folder: Path, config, image_shape, summary=None, *, name):
    # Imported here, as Jinja2 and Matplotlib are only needed now.
    from ..report import write_report

    return write_report(
        folder / "report.html",
        model,
        X,
        history=model.history_,
        config=config,
        image_shape=image_shape,
        summary=summary,
        # Named after OUTPUT, not the staging folder it may be written in.
        title=f"sparseae report: {Path(name).resolve().name}",
    )


def _first_rows(X, count):
    """The first ``count`` rows of ``X`` (all of them for None), still lazy.

    A memory-mapped file gives a view; the rows of a Dask array stay a Dask
    array, read chunk by chunk as before.
    """
    if count is None or count >= X.shape[0]:
        return X
    head = getattr(X, "first_rows", None)
    return head(count) if head is not None else X[:count]


def _objective_terms(model, X):
    """The objective's terms at the model's weights, on all of ``X``.

    ``X`` in memory is evaluated at once; a memory-mapped file or a Dask
    array is read chunk by chunk, in the model's floating type.
    """
    from ..core.chunked import ArrayChunks, evaluate_chunks
    from ..core.partial_sums import resolve_block_rows

    params = Params(
        model.components_,
        model.intercept_hidden_,
        model.decoder_weights_,
        model.intercept_visible_,
    )
    hyper = dict(
        sparsity_target=model.sparsity_target,
        sparsity_weight=model.sparsity_weight,
        weight_decay=model.weight_decay,
        penalty=model.penalty,
        output=model.output_activation,
        loss=model.loss,
        activation=model.hidden_activation,
        k=model.k,
    )
    dtype = model.components_.dtype
    if _in_memory(X):
        return loss_terms(params, X.astype(dtype), **hyper)
    chunks = ArrayChunks(X)

    def read():
        return (np.asarray(chunk, dtype=dtype) for chunk in chunks)

    # The blocks loss_terms takes for data of this shape: the same sums.
    blocks = resolve_block_rows(None, X.shape[0], X.shape[1], model.n_components)
    terms = evaluate_chunks(
        params, read, compute_grad=False, block_rows=blocks, **hyper
    ).terms
    return terms


def _write_results(args, model, X, folder: Path, image_shape, extra, seconds):
    """Write the run's files into ``folder``, print its figures; the files' names.

    ``X`` is the training data, in memory, or for a run out of core or on a
    cluster a memory-mapped file or a Dask array, read chunk by chunk.
    ``folder`` becomes OUTPUT when the run is published.
    """
    # Imported here: matplotlib takes a third of the command's start-up time,
    # which a run interrupted before its end never needs.
    from ..metrics import summarize
    from ..plotting import plot_loss_curve, save_filters

    name = args.output
    model.save(folder / "model.safetensors", extra=extra)
    config = _config(args, model, X, image_shape, folder / "model.safetensors")
    data = X
    X = _first_rows(X, getattr(args, "summary_rows", None))
    terms = _objective_terms(model, X)
    # One pass over X serves metrics.json and the report's unit cards.
    summary = summarize(model, X, top_k=9, bins=20)
    if _in_memory(X):
        rho_hat = model.transform(X).mean(axis=0)
        score = model.score(X)
    else:
        rho_hat = np.asarray(summary["rho_hat"])
        # score is -(1/m) Σ ½‖x̂ − x‖², the summary's error halved.
        score = -0.5 * summary["reconstruction_error"]
    metrics = {
        "data": {
            "source": extra["data"],
            "n_samples": int(data.shape[0]),
            "n_features": int(X.shape[1]),
            # The figures below are of the first measured_samples (--summary-rows).
            "measured_samples": int(X.shape[0]),
        },
        "solver": model.solver,
        "n_iter": model.n_iter_,
        "seconds": round(seconds, 3),
        "objective": terms.total,
        "reconstruction": terms.reconstruction,
        "weight_decay": terms.weight_decay,
        "sparsity": terms.sparsity,
        "mean_activation": float(rho_hat.mean()),
        "mean_activation_gap": float(np.abs(rho_hat - model.sparsity_target).mean()),
        "score": score,
        "config": config,
    }
    metrics["units"] = {
        key: value
        for key, value in summary.items()
        if key not in ("top_inputs", "histograms")
    }
    # Strict JSON: a figure that could not be computed (NaN) is written as null.
    text = strict_json.dumps(metrics, indent=2)
    write_bytes_atomically(folder / "metrics.json", (text + "\n").encode())
    _write_history(model, folder)
    written = ["model.safetensors", "metrics.json", "history.csv", "loss.png"]
    curves = {k: model.history_[k] for k in ("loss", "reconstruction", "sparsity")}
    plot_loss_curve(folder / "loss.png", curves, title=f"sparseae {model.solver}")
    if image_shape is not None:
        save_filters(
            folder / "filters.png",
            model.components_,
            image_shape=image_shape,
            n_channels=image_channels(image_shape, X.shape[1], extra["data"]),
        )
        written.append("filters.png")
    _write_report(model, X, folder, config, image_shape, summary, name=name)
    written.append("report.html")
    measured = "" if X is data else f", figures of the first {X.shape[0]}"
    print(
        f"data:            {data.shape[0]} samples of {X.shape[1]} features "
        f"({extra['data']}{measured})"
    )
    print(f"iterations:      {model.n_iter_} ({model.solver}), {seconds:.1f} s")
    print(
        f"objective:       {terms.total:.6g} (reconstruction {terms.reconstruction:.6g}"
        f", weight decay {terms.weight_decay:.6g}, sparsity {terms.sparsity:.6g})"
    )
    # Only the KL and squared penalties pull ρ̂ towards ρ; top-k has no penalty.
    uses_target = model.hidden_activation != "topk" and model.penalty != "l1"
    target = f" (target {model.sparsity_target})" if uses_target else ""
    print(f"mean activation: {metrics['mean_activation']:.4g}{target}")
    units = metrics["units"]
    # NaN when the data do not vary: there is no variance to explain.
    fvu = "undefined" if np.isnan(units["fvu"]) else f"{units['fvu']:.3g}"
    print(
        f"units:           L0 {units['l0']:.3g} of {model.n_components}, FVU "
        f"{fvu}, {units['dead_units']['count']} dead, "
        f"{units['saturated_units']['count']} saturated"
    )
    return written
