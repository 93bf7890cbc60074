"""A training callback that saves checkpoints.

``SparseAutoencoder.fit(X, callback=...)`` calls ``callback(model, progress)``
after every L-BFGS iteration or minibatch step, with the model in a consistent
state that :func:`sparseae.save` can write and ``resume_fit`` can continue.
"""

from __future__ import annotations

import time
from pathlib import Path

from .model_file import save

__all__ = ["Checkpointer"]


class Checkpointer:
    """Callback that saves the model every ``every_steps`` calls or ``every_seconds``.

    Parameters
    ----------
    path : str or path-like
        Checkpoint file, rewritten atomically each time.
    every_steps : int or None, default=None
        Save after this many callback calls (minibatch steps or L-BFGS
        iterations).
    every_seconds : float or None, default=None
        Save when this much time has passed since the last save.
    writer : callable, optional
        ``writer(model, path)`` writes the checkpoint (atomically); by default
        :func:`sparseae.io.save`.  A model that saves itself in its own way
        (``DaskSparseAutoencoder.save``, which adds the training state) passes
        its method here.

    Attributes
    ----------
    n_saved : int
        Checkpoints written so far.

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> import numpy as np
    >>> from sparseae import SparseAutoencoder, load
    >>> X = np.random.default_rng(0).uniform(size=(64, 8))
    >>> model = SparseAutoencoder(4, solver="adam", batch_size=16, max_iter=2,
    ...                           random_state=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "checkpoint.safetensors")
    ...     saver = Checkpointer(path, every_steps=3)
    ...     with warnings.catch_warnings(action="ignore"):  # 2 epochs are too few
    ...         _ = model.fit(X, callback=saver)
    ...     saver.n_saved, load(path).n_iter_
    (2, 1)
    """

    def __init__(self, path, *, every_steps=None, every_seconds=None, writer=None):
        if every_steps is None and every_seconds is None:
            raise ValueError(
                "Checkpointer needs every_steps or every_seconds, got neither"
            )
        if every_steps is not None and (
            isinstance(every_steps, bool)
            or not isinstance(every_steps, int)
            or every_steps < 1
        ):
            raise ValueError(f"every_steps must be an int >= 1, got {every_steps!r}")
        if every_seconds is not None and not every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0, got {every_seconds!r}")
        if writer is not None and not callable(writer):
            raise TypeError(f"writer must be callable(model, path), got {writer!r}")
        self.path = Path(path)
        self.writer = save if writer is None else writer
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self.n_saved = 0
        self._calls = 0
        self._last = time.monotonic()

    def __call__(self, model, progress) -> bool:
        """Save ``model`` if a period has passed; never asks to stop."""
        self._calls += 1
        due = self.every_steps is not None and self._calls % self.every_steps == 0
        if self.every_seconds is not None:
            due = due or time.monotonic() - self._last >= self.every_seconds
        if due:
            self.save(model)
        return False

    def save(self, model) -> None:
        """Save ``model`` now."""
        self.writer(model, self.path)
        self.n_saved += 1
        self._last = time.monotonic()
