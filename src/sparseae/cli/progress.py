"""A one-line progress bar for training, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager

__all__ = ["ProgressBar", "format_seconds", "warnings_printed"]


@contextmanager
def warnings_printed():
    """Collect the warnings of a fit and print each as one line once it ends.

    Printed after the progress bar has been closed, so that they do not break
    its line.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``.

    Examples
    --------
    >>> format_seconds(75.2), format_seconds(3725)
    ('1:15', '1:02:05')
    """
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class ProgressBar:
    """Training callback that redraws one status line on ``stream``.

    Shows the iteration or epoch, a bar, the loss and its three terms, the
    mean hidden activation and the time left.  It draws nothing when
    ``enabled`` is False or ``stream`` is not a terminal, so logs and pipes stay
    clean; it never asks training to stop, except through ``should_stop``.

    Parameters
    ----------
    stream : file, default=sys.stderr
        Where to draw.
    enabled : bool, default=True
        False for ``--quiet``.
    should_stop : callable, optional
        Polled after every step; when it returns True the callback asks training
        to stop (how Ctrl-C reaches a training loop at a step boundary).
    interval : float, default=0.1
        Least number of seconds between two redraws.

    Examples
    --------
    >>> import io
    >>> from sparseae.training.progress import Progress
    >>> from sparseae.core.objective import LossTerms
    >>> bar = ProgressBar(io.StringIO())
    >>> bar.render(Progress(3, 10, 5, 10, LossTerms(0.5, 0.1, 0.2), 0.0123, 35.0))
    'epoch 4/10 [###.......]  35% loss 0.8 (rec 0.5 wd 0.1 sp 0.2) act 0.0123 left 1:05'
    """

    def __init__(self, stream=None, *, enabled=True, should_stop=None, interval=0.1):
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = enabled and isatty()
        self.should_stop = should_stop
        self.interval = interval
        self._last = float("-inf")
        self._width = 0

    @staticmethod
    def render(progress, width: int = 10) -> str:
        """The status line for ``progress`` (a :class:`sparseae.Progress`)."""
        fraction = progress.fraction
        filled = int(round(fraction * width))
        if progress.steps_per_iteration > 1:
            where = f"epoch {progress.iteration + 1}/{progress.max_iter}"
        else:
            where = f"iteration {progress.iteration}/{progress.max_iter}"
        left = (
            format_seconds(progress.elapsed * (1 - fraction) / fraction)
            if fraction > 0
            else "?"
        )
        terms = progress.terms
        return (
            f"{where} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} "
            f"loss {terms.total:.4g} (rec {terms.reconstruction:.4g} "
            f"wd {terms.weight_decay:.4g} sp {terms.sparsity:.4g}) "
            f"act {progress.mean_activation:.4g} left {left}"
        )

    def __call__(self, model, progress) -> bool:
        """Redraw if due; return whether training should stop."""
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            line = self.render(progress)
            self.stream.write("\r" + line.ljust(self._width))
            self.stream.flush()
            self._width = len(line)
            self._last = now
        return bool(self.should_stop and self.should_stop())

    def close(self) -> None:
        """End the status line, so what follows starts on a line of its own."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
