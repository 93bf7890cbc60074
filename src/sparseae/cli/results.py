"""The files of a finished (or interrupted) training run, and its figures.

:func:`write_results` writes everything a run leaves in its folder (model,
metrics.json, history.csv, loss.png, filters.png, report.html) and prints the
run's figures, for a run in memory, out of core or on a cluster alike: the
data are an array in memory, a memory-mapped file or the rows of a Dask
array, read chunk by chunk.
"""

from __future__ import annotations

import csv
import io
import shlex
from pathlib import Path

import numpy as np

from ..core.objective import loss_terms
from ..io import strict_json
from ..io.atomic import write_bytes_atomically
from .inputs import image_channels

__all__ = ["run_config", "write_history", "write_report", "write_results"]


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


def run_config(args, model, X, image_shape, model_file: Path) -> dict:
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


def write_history(model, folder: Path) -> None:
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


def write_report(model, X, folder: Path, config, image_shape, summary=None, *, name):
    """Write ``folder``/report.html of the run named ``name`` (its OUTPUT).

    ``summary``: :func:`sparseae.metrics.summarize` of ``X`` when already
    taken, so that the data are read once.
    """
    # Imported here, as Jinja2 and Matplotlib are only needed now.
    from ..report import write_report as write_html

    return write_html(
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

    params = model._params()
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


def write_results(args, model, X, folder: Path, image_shape, extra, seconds):
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
    config = run_config(args, model, X, image_shape, folder / "model.safetensors")
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
    write_history(model, folder)
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
    write_report(model, X, folder, config, image_shape, summary, name=name)
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
        f"{fvu}, {_unit_counts(summary, model)}"
    )
    return written


def _unit_counts(summary, model) -> str:
    """Dead, quiet and saturated units in the report's words (report.units).

    For sigmoid units, never above 0.5 is *quiet* (a unit that meets ρ = 0.05
    does that), and *dead* is a largest activation below 0.001.
    """
    from ..report.units import notions

    facts = notions(summary, hidden_activation=model.hidden_activation, k=model.k)
    counts = [f"{facts['dead']['count']} dead"]
    if facts["quiet"] is not None:
        quiet = set(facts["quiet"]["indices"]) - set(facts["dead"]["indices"])
        counts.append(f"{len(quiet)} quiet (never above {summary['threshold']:g})")
    counts.append(f"{facts['busy']['count']} {facts['busy_name']}")
    return ", ".join(counts)
