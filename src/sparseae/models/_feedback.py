"""What a fit tells its user: progress lines, a progress bar, convergence warnings.

With ``verbose > 0`` the estimators print one line per L-BFGS iteration or
minibatch epoch to standard output, as scikit-learn's estimators do
(``MLPClassifier``: ``Iteration 12, loss = 0.38620``); with ``verbose >= 2``,
or ``verbose > 0`` in a Jupyter notebook, a ``tqdm`` progress bar as well, when
tqdm is installed (it is optional: without it there is no bar, silently).

A run that its iteration budget ended gets a ``ConvergenceWarning`` only when
its loss was still falling: by more than :data:`STILL_FALLING` (relatively)
over the last :data:`WINDOW` iterations or epochs.  That is scikit-learn's
``MLPRegressor`` default (``tol=1e-4`` per epoch) summed over a window, which
smooths out the epoch-to-epoch noise of minibatch losses.  The gradient's size
was the other candidate, but L-BFGS's gradient norm jumps by ten times from one
iteration to the next (measured on the digits), while its loss only falls.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

import sklearn
from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "STILL_FALLING",
    "WINDOW",
    "reports_progress",
    "still_falling",
    "warn_caller",
    "warn_if_unconverged",
]

STILL_FALLING = 1e-3
WINDOW = 10


def still_falling(loss_curve) -> str | None:
    """How far the loss fell over its last :data:`WINDOW` entries, if that is far.

    None when the relative fall is at most :data:`STILL_FALLING` (the run
    has flattened out).  A single iteration shows no trend, and counts as
    still falling.

    Examples
    --------
    >>> still_falling([2.0, 1.5, 1.2, 1.0])
    'the loss fell 50.00% in the last 3 iterations'
    >>> still_falling([1.0] * 5 + [0.9999] * 10) is None
    True
    """
    window = min(WINDOW, len(loss_curve) - 1)
    if window < 1:
        return "one iteration is too few to tell whether the loss had flattened out"
    before, last = loss_curve[-1 - window], loss_curve[-1]
    # Relative to where the window began, so a fall is at most 100% (a loss
    # that went up is a fall below zero, and not reported).
    fall = (before - last) / max(abs(before), 1e-300)
    if fall <= STILL_FALLING:
        return None
    return f"the loss fell {fall:.2%} in the last {window} iterations"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (without importing IPython)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class VerboseCallback:
    """A fit callback that prints a line at the end of each iteration or epoch.

    Wraps the user's ``callback`` (called after it, its answer returned).

    Parameters
    ----------
    verbose : int
        Positive: print; 2 or more, or in a notebook: also a tqdm bar.
    callback : callable or None
        The user's ``callback(model, progress)``.
    stream : file, default=sys.stdout
        Where the lines go.
    """

    def __init__(self, verbose, callback=None, stream=None):
        self.callback = callback
        self.stream = sys.stdout if stream is None else stream
        self.bar = None
        self.want_bar = verbose >= 2 or in_notebook()

    def __call__(self, model, progress):
        # L-BFGS reports each finished iteration (step 0 of 1); minibatch
        # solvers each step, the last of an epoch before the epoch is counted.
        epoch_end = progress.step == progress.steps_per_iteration
        if progress.step == 0 or epoch_end:
            number = progress.iteration + epoch_end
            print(
                f"Iteration {number}, loss = {progress.terms.total:.6g}, "
                f"mean activation = {progress.mean_activation:.4g}",
                file=self.stream,
                flush=True,
            )
        self._advance(progress)
        return None if self.callback is None else self.callback(model, progress)

    def _advance(self, progress):
        if self.want_bar and self.bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.want_bar = False
                return
            self.bar = tqdm(total=progress.max_iter, unit="it", leave=False)
        if self.bar is not None:
            done = progress.iteration + progress.step / progress.steps_per_iteration
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix(loss=f"{progress.terms.total:.4g}", refresh=False)

    def close(self):
        """Close the bar, if one was drawn."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def reports_progress(method):
    """Give ``method(self, X, ..., callback=None)`` the ``verbose`` output.

    The estimator's ``verbose`` decides; the bar is closed however the method
    ends.  A ``callback`` that cannot be called is refused before training.
    """

    @functools.wraps(method)
    def wrapper(self, *args, callback=None, **kwargs):
        if len(args) > 1 and callable(args[1]):
            # fit(X, my_callback): the function would land in y, ignored.
            raise TypeError(
                f"{method.__name__}(X, y) got a function for y, which is ignored; "
                f"pass it as {method.__name__}(X, callback=...)"
            )
        if callback is not None and not callable(callback):
            # Refused before training: it would fail only after the first
            # iteration's work, deep in the loop.
            raise TypeError(
                "callback must be None or a function callback(model, progress), "
                f"got {type(callback).__name__} {callback!r:.60}"
            )
        if not self.verbose:
            return method(self, *args, callback=callback, **kwargs)
        verbose = VerboseCallback(self.verbose, callback)
        try:
            return method(self, *args, callback=verbose, **kwargs)
        finally:
            verbose.close()

    return wrapper


# Frames of these folders are skipped to find the user's line: sparseae's own
# and scikit-learn's (whose fit wrappers stand between the user and fit).
_INTERNAL = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
    os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep,
)


def warn_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointing at the first line outside sparseae and scikit-learn.

    A fixed ``stacklevel`` points at the right line for one call path only
    (``fit``, ``partial_fit``, the Dask estimator's ``fit`` differ in depth).
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def warn_if_unconverged(what: str, max_iter: int, result) -> None:
    """A ``ConvergenceWarning`` when ``max_iter`` ended a run still falling.

    ``result`` is the solver's report with its ``loss_curve``
    (:func:`~sparseae.solvers.blocks.minimize_blocks`); ``what`` names the
    estimator or stage.  As for :class:`~sparseae.SparseAutoencoder`, a run
    whose loss had flattened out is not warned about.
    """
    if result.converged or result.n_iter < max_iter:
        return
    fall = still_falling(result.loss_curve or [result.loss])
    if fall:
        warn_caller(
            f"{what} reached max_iter={max_iter} before converging; increase "
            f"max_iter or tol ({fall})",
            ConvergenceWarning,
        )
