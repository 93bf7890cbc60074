"""``sparseae train``: fit a model, write it with its pictures and figures."""

from __future__ import annotations

import argparse
import textwrap
import time
from functools import partial
from pathlib import Path

import numpy as np

from ..io.atomic import remove_stale_temporaries
from ..io.checkpoints import Checkpointer
from . import cluster
from .inputs import DATA_HELP, load_input
from .options import SEED, add_data_options, number, options_named
from .progress import ProgressBar, warnings_printed
from .results import run_config, write_history, write_report, write_results
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
                write_history,
                interrupted=interrupted,
                resume=args.resume,
                run=run,
                write_results=partial(write_results, args),
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
                config = run_config(args, model, X, image_shape, checkpoint)
                write_history(model, run.path)
                write_report(model, X, run.path, config, image_shape, name=args.output)
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
        written = write_results(args, model, X, run.path, image_shape, extra, seconds)
        checkpoint.unlink(missing_ok=True)
        run.publish()
    except BaseException:
        run.discard()
        raise
    print(f"written to {args.output}: {', '.join(written)}")
    return 0
