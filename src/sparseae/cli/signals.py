"""Ctrl-C (SIGINT) and SIGTERM: what a command does when asked to stop.

Both ask a command to stop, the one from a terminal, the other from ``kill``,
a batch system at the end of a job's time (Slurm), ``docker stop`` or
systemd, and the command treats them alike:

- While ``train`` fits, the first one is a flag (:func:`stop_flag`) that
  training polls between steps: the run stops at the next step, saves its
  checkpoint and exits with 128 + the signal's number (130 for SIGINT, 143
  for SIGTERM), so that ``--resume`` continues it to the bits of an
  uninterrupted run.  A second one acts at once.
- Elsewhere SIGINT raises ``KeyboardInterrupt`` and SIGTERM :class:`Terminated`
  (:func:`terminate_raises`), so that a run replacing another deletes what it
  wrote and the old one stays whole, as it does on Ctrl-C, instead of the
  process ending mid-write.
- A few renames that must not be cut in half hold both until they are done
  (:func:`deferred`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["STOPPING", "StopFlag", "Terminated", "deferred", "stop_flag"]

# The signals that ask a command to stop.
STOPPING = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """Raised by SIGTERM in a command, as KeyboardInterrupt is by SIGINT.

    A ``BaseException``, as ``KeyboardInterrupt`` is: ``except Exception``
    blocks must not swallow it.
    """


def _in_main_thread() -> bool:
    # Only the main thread may install signal handlers.
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum, frame):
    raise Terminated


@contextmanager
def terminate_raises():
    """Within the block, SIGTERM raises :class:`Terminated`."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StopFlag:
    """Whether SIGINT or SIGTERM arrived; call it to know.

    Attributes
    ----------
    signum : int or None
        The first stopping signal received, or None.
    """

    def __init__(self):
        self.signum = None

    def __call__(self) -> bool:
        """Whether training was asked to stop."""
        return self.signum is not None

    @property
    def exit_status(self) -> int:
        """The shell's status for the signal: 128 + its number."""
        return 128 + int(self.signum)


@contextmanager
def stop_flag():
    """Turn the first SIGINT or SIGTERM into a :class:`StopFlag`.

    A second one is handled as before the block (at once).
    """
    flag = StopFlag()
    if not _in_main_thread():
        yield flag
        return
    previous = {}

    def handler(signum, frame):
        if flag.signum is None:
            flag.signum = signum
        for number, action in previous.items():
            signal.signal(number, action)

    for number in STOPPING:
        previous[number] = signal.signal(number, handler)
    try:
        yield flag
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


@contextmanager
def deferred():
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first."""
    if not _in_main_thread():
        yield
        return
    received = []
    previous = {
        number: signal.signal(number, lambda signum, frame: received.append(signum))
        for number in STOPPING
    }
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)
    if received:
        signal.raise_signal(received[0])
