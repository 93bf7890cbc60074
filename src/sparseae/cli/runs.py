"""Run folders of ``sparseae train``: claiming one, and resuming the run in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["RUN_FILES", "claim_folder", "resumed_model"]

# What a run writes into its folder; a folder holding any of them has a run.
RUN_FILES = (
    "model.safetensors",
    "checkpoint.safetensors",
    "metrics.json",
    "history.csv",
    "loss.png",
    "filters.png",
    "report.html",
)

# Options a resumed run may change: a larger budget extends the run.
EXTENDABLE = {"max_iter"}


def claim_folder(folder: Path, *, overwrite: bool) -> None:
    """Refuse a folder that holds another run's files, unless ``overwrite``.

    With ``overwrite`` the old run's files are removed, so that none of them
    (a checkpoint, a picture the new run does not draw) outlives it.

    Raises
    ------
    FileExistsError
        If ``folder`` holds a run and ``overwrite`` is False.
    """
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if not found:
        return
    if not overwrite:
        raise FileExistsError(
            f"{folder} already holds a run ({', '.join(found)}): add --resume to "
            "continue it or --overwrite to replace it"
        )
    for name in found:
        (folder / name).unlink()


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _same(name: str, saved, given) -> bool:
    if name == "dtype":
        return np.dtype(saved).name == np.dtype(given).name
    return saved == given


def resumed_model(folder: Path, data: str, given: dict):
    """The model of the run in ``folder``, to continue with ``resume_fit``.

    The checkpoint of an interrupted run, or else the model of a finished
    one (which goes on when ``--max-iter`` is raised).

    Parameters
    ----------
    folder : Path
        The run folder.
    data : str
        The DATA argument of this command.
    given : dict
        Estimator parameters given on the command line.  ``max_iter`` is
        applied; any other must equal the run's.

    Raises
    ------
    FileNotFoundError
        If the folder holds neither file.
    ValueError
        If DATA or an option differs from the run's, naming both values.
    """
    from ..models import load, read_info

    for path in (folder / "checkpoint.safetensors", folder / "model.safetensors"):
        if path.is_file():
            break
    else:
        raise FileNotFoundError(
            f"--resume: no checkpoint.safetensors or model.safetensors in {folder}; "
            "run without --resume to start afresh"
        )
    saved_data = read_info(path)["extra"].get("data")
    if saved_data is not None and saved_data != data:
        raise ValueError(
            f"--resume: DATA is {data!r} but the run in {folder} was trained on "
            f"{saved_data!r}; resume on the same data or start afresh with "
            "--overwrite"
        )
    model = load(path)
    saved = model.get_params()
    for name, value in given.items():
        if name in EXTENDABLE:
            model.set_params(**{name: value})
        elif not _same(name, saved[name], value):
            shown = np.dtype(saved[name]).name if name == "dtype" else saved[name]
            raise ValueError(
                f"--resume: {_option(name)} {value} differs from the run's "
                f"{shown!r} in {path}; a resumed run keeps its settings (only "
                "--max-iter may change): drop the option or start afresh with "
                "--overwrite"
            )
    return model
