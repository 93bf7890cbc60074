"""Run folders of ``sparseae train`` and ``stack``: checking, writing, resuming.

``-o/--output`` is checked before anything is read (:func:`check_output`), and
a run is written without losing the one already there (:class:`RunFolder`).

A run that replaces another (``--overwrite``) is built in a hidden folder
inside OUTPUT, :data:`STAGING`, and its files are moved over the old run's
only once all of them are written (:meth:`RunFolder.publish`).  Until then the
old run is whole: a run that fails (bad options, bad data, a full disk) or is
interrupted leaves OUTPUT as it was, and its partial files are deleted.  The
staging folder is inside OUTPUT rather than beside it so that it is on the
same file system (``os.replace`` cannot move across one, and OUTPUT may be a
mount point) and needs no right to write in OUTPUT's parent.  A new run into a
folder without a run writes there directly, so that the checkpoints of a run
killed mid-way are where ``--resume`` looks for them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..io.atomic import fsync_folder
from .signals import deferred

__all__ = [
    "RUN_FILES",
    "STAGING",
    "RunFolder",
    "check_output",
    "nothing_to_resume",
    "resumed_model",
]

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

# Where a run replacing another is written until it is complete.
STAGING = ".sparseae-new"

# Options a resumed run may change: a larger budget extends the run.
EXTENDABLE = {"max_iter"}


def check_output(
    folder: Path, *, overwrite: bool, resume: bool = False, resumable: bool = True
) -> bool:
    """Check ``-o/--output`` before anything is read or written.

    Parameters
    ----------
    folder : Path
        The run folder, which need not exist.
    overwrite : bool
        Whether a run already in ``folder`` is to be replaced (``--overwrite``).
    resume : bool, default=False
        Whether the run in ``folder`` is continued (``--resume``).
    resumable : bool, default=True
        Whether the command has ``--resume``, for the advice of the error.

    Returns
    -------
    bool
        Whether ``folder`` holds a run that this one replaces.

    Raises
    ------
    FileExistsError
        If ``folder`` is a file, or holds a run and neither ``overwrite`` nor
        ``resume`` is set.
    OSError
        If ``folder`` cannot be created or written to.
    """
    option = f"-o/--output {str(folder)!r}"
    valid = "a folder for the run's results (a new one, or one holding no run)"
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(
            f"{option}: File exists and is not a folder; give {valid}"
        )
    if not folder.exists():
        parent = folder.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise NotADirectoryError(
                f"{option}: {parent} is a file, not a folder; give {valid}"
            )
        try:
            # Only creating a folder shows that one can be created there:
            # os.access says yes for root in /proc, or on a read-only mount.
            os.rmdir(tempfile.mkdtemp(prefix=".sparseae-probe-", dir=parent))
        except OSError as error:
            raise type(error)(
                f"{option}: cannot create a folder in {parent} ({error.strerror}); "
                f"give {valid} where you can write"
            ) from None
        return False
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{option}: cannot write in this folder (Permission denied); give "
            f"{valid} where you can write"
        )
    if resume:
        return False
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if found and not overwrite:
        advice = "add --resume to continue it or " if resumable else "add "
        raise FileExistsError(
            f"{folder} already holds a run ({', '.join(found)}): {advice}"
            "--overwrite to replace it (or choose another -o/--output)"
        )
    return bool(found)


class RunFolder:
    """Where a run writes its files: OUTPUT, or :data:`STAGING` inside it.

    Nothing is created until :meth:`make` is first called, which a run does
    just before its first write; options and data that the estimator refuses
    in ``fit`` thus leave no folder behind.

    Parameters
    ----------
    folder : Path
        OUTPUT.
    replacing : bool
        Whether OUTPUT holds a run that this one replaces (:func:`check_output`).

    Attributes
    ----------
    path : Path
        The folder the run's files are written to.
    """

    def __init__(self, folder: Path, *, replacing: bool):
        self.folder = folder
        self.replacing = replacing
        self.path = folder / STAGING if replacing else folder
        self._made = False

    def make(self) -> Path:
        """Create :attr:`path` if it does not exist yet; return it."""
        if not self._made:
            if self.replacing:
                # A staging folder already there is a replacing run's that
                # was killed before it finished: garbage.
                shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True, exist_ok=True)
            self._made = True
        return self.path

    def publish(self) -> None:
        """Put the run's files in place of the old run's, when replacing one.

        Each file is moved with ``os.replace`` (atomic), then the old run's
        files that the new one did not write (a checkpoint, a picture) are
        deleted.  Ctrl-C and SIGTERM wait until the few renames are done.
        """
        if not self.replacing:
            return
        with deferred():
            new = [name for name in RUN_FILES if (self.path / name).exists()]
            for name in new:
                os.replace(self.path / name, self.folder / name)
            for name in RUN_FILES:
                if name not in new:
                    (self.folder / name).unlink(missing_ok=True)
            fsync_folder(self.folder)
            shutil.rmtree(self.path, ignore_errors=True)

    def discard(self) -> None:
        """Delete what a replacing run wrote; the old run stays as it was."""
        if self.replacing:
            shutil.rmtree(self.path, ignore_errors=True)

    def drop_interrupted(self, n_iter: int) -> bool:
        """After Ctrl-C: drop a replacing run, saying so; whether it was one."""
        if not self.replacing:
            return False
        self.discard()
        print(self.discarded(n_iter))
        return True

    def discarded(self, n_iter: int) -> str:
        """The line saying that an interrupted replacing run was dropped."""
        return (
            f"interrupted after {n_iter} iterations, before the results were "
            f"written: {self.folder} still holds the earlier run, unchanged "
            "(--overwrite replaces it only with a finished run); run the command "
            "again to start over, or write to a new -o/--output folder to keep "
            "an interrupted run's checkpoint"
        )


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

    Returns
    -------
    model : SparseAutoencoder
    finished : bool
        Whether ``model`` is a finished run's (model.safetensors), not an
        interrupted one's checkpoint.

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
    return model, path.name == "model.safetensors"


def nothing_to_resume(folder: Path, model, *, finished: bool, before=None):
    """Why resuming the run in ``folder`` does nothing, or None if it does something.

    Before fitting, a finished run with ``n_iter_ >= max_iter``; after
    ``resume_fit``, with ``before`` its ``n_iter_`` before, a finished run that
    did not move because it had converged (or diverged).  ``train --resume``
    says so and exits 0 without rewriting the run: resuming is idempotent, so
    that the command that continues a run may be repeated (by a script, after
    a crash) once the run has finished.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(n_iter_=20, max_iter=10)
    >>> nothing_to_resume(Path("rs"), run, finished=True).split(";")[0]
    'nothing to do: the run in rs already has 20 iterations, >= --max-iter 10'
    >>> nothing_to_resume(Path("rs"), run, finished=False) is None
    True
    """
    n_iter, budget = model.n_iter_, model.max_iter
    if not finished:
        return None
    if before is None:
        if n_iter < budget:
            return None
        return (
            f"nothing to do: the run in {folder} already has {n_iter} iterations, "
            f">= --max-iter {budget}; give a --max-iter above {n_iter} to continue it"
        )
    if n_iter == before:
        return (
            f"nothing to do: the run in {folder} stopped after {n_iter} iterations "
            f"because it converged (or diverged), and more (--max-iter {budget}) "
            "do not move it; start afresh with --overwrite to train it differently"
        )
    return None
