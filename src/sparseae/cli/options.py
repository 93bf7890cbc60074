"""Option types that check values as argparse reads them, and output checks.

A bad value then fails with argparse's one-line message naming the option,
before any data is loaded.  :func:`check_output_file` checks an option
naming a file to write before any work is done.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "SEED",
    "add_data_options",
    "check_output_file",
    "number",
    "options_named",
    "scheduler",
]


def number(kind, *, low=None, above=None, high=None, auto=False, finite=False):
    """An argparse ``type`` for ``kind`` (int or float) values in a range.

    Parameters
    ----------
    kind : type
        ``int`` or ``float``.
    low, above : number or None, default=None
        Smallest valid value; or the value every valid one exceeds.
    high : number or None, default=None
        Largest valid value.
    auto : bool, default=False
        Whether the word ``auto`` is valid too (and kept as the string).
    finite : bool, default=False
        Whether infinity is refused (NaN always is when a range is given).

    Examples
    --------
    >>> number(int, low=1)("3"), number(float, above=0, auto=True)("auto")
    (3, 'auto')
    >>> number(float, above=0)("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a number > 0, got -1.0
    """
    what = "an integer" if kind is int else "a finite number" if finite else "a number"
    if low is not None:
        what += f" >= {low}"
    if above is not None:
        what += f" > {above}"
    if high is not None:
        what += f" and <= {high}"
    if auto:
        what += " or 'auto'"

    def parse(text: str):
        if auto and text == "auto":
            return text
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if (
            (low is not None and not value >= low)
            or (above is not None and not value > above)
            or (high is not None and not value <= high)
            or (finite and not math.isfinite(value))
        ):
            raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


# random_state takes the seeds NumPy's legacy RandomState takes.
SEED = number(int, low=0, high=2**32 - 1)

# HOST is a name, an IPv4 address or a bracketed IPv6 one ([::1]).
_REMOTE = re.compile(r"(?:tcp|tls)://(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+):([0-9]+)")
_LOCAL = re.compile(r"local:([0-9]+)")


def scheduler(text: str) -> str:
    """An argparse ``type`` for ``--scheduler``: ``tcp://HOST:PORT`` or ``local:N``.

    ``tls://HOST:PORT`` is taken too, for a cluster whose certificates are in
    Dask's configuration, and ``inproc://`` addresses, which only a program
    calling :func:`sparseae.cli.main` beside its own cluster can reach.  The
    value is returned as given.

    Examples
    --------
    >>> scheduler("tcp://127.0.0.1:8786"), scheduler("local:2")
    ('tcp://127.0.0.1:8786', 'local:2')
    >>> scheduler("local:0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be tcp://HOST:PORT with PORT 1-65535, or \
local:N with N >= 1, got 'local:0'
    """
    remote, local = _REMOTE.fullmatch(text), _LOCAL.fullmatch(text)
    if (
        (remote and 1 <= int(remote.group(1)) <= 65535)
        or (local and int(local.group(1)) >= 1)
        or re.fullmatch(r"inproc://\S+", text)
    ):
        return text
    hint = ""
    if not (remote or local) and re.fullmatch(r"[^\s:/\[\]@]+:[0-9]+", text):
        hint = f" (did you mean tcp://{text}?)"
    raise argparse.ArgumentTypeError(
        "must be tcp://HOST:PORT with PORT 1-65535, or local:N with N >= 1, got "
        f"{text!r}{hint}"
    )


def add_data_options(
    parser, *, patches_default=10_000, patches_help=None, image_shape_help=None
):
    """Add ``--patches`` and ``--image-shape``, the options of DATA, to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
        Where the options go.
    patches_default : int or None, default=10000
        Patches sampled for the ``patches`` data set.
    patches_help, image_shape_help : str, optional
        Help texts, when the command means something more specific.
    """
    parser.add_argument(
        "--patches",
        type=number(int, low=1),
        default=patches_default,
        help=patches_help
        or f"patches to sample for 'patches' (default {patches_default})",
    )
    parser.add_argument(
        "--image-shape",
        type=number(int, low=1),
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help=image_shape_help
        or "shape of one sample, to draw filters.png for an array file",
    )


def check_output_file(
    path: Path, option: str, *, overwrite: bool, inputs=(), store=False
):
    """Refuse to write ``path`` over an existing file unless ``overwrite``.

    A file the command reads is refused even with ``overwrite``: the command
    would destroy its own input.

    Parameters
    ----------
    path : Path
        The file to write.
    option : str
        The option that named it, for the messages (``"-o/--output"``).
    overwrite : bool
        Whether an existing ``path`` may be replaced (``--overwrite``).
    inputs : iterable of path-like, default=()
        Files (or folders) the command reads.
    store : bool, default=False
        Whether ``path`` is a folder-like store (zarr) rather than a file.

    Raises
    ------
    ValueError
        If ``path`` is one of ``inputs``.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    IsADirectoryError
        If ``path`` is a folder and ``store`` is False.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    shown = f"{option} {str(path)!r}"
    for source in inputs:
        if _same_file(path, Path(source)):
            raise ValueError(
                f"{shown} is the input {str(source)!r} itself, which writing would "
                f"destroy; give another {option}"
            )
    if path.is_dir() and not store:
        raise IsADirectoryError(f"{shown} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{shown} already exists: add --overwrite to replace it (or choose "
            f"another {option})"
        )
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{shown}: the folder {folder} does not exist; create it first"
        )


def _same_file(a: Path, b: Path) -> bool:
    # samefile sees through links and other spellings of the same path.
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


# scikit-learn's message for a parameter out of range.
_PARAMETER = re.compile(r"The '(\w+)' parameter of \w+ ")


@contextmanager
def options_named(names):
    """Name the command-line option in scikit-learn's errors of a parameter.

    An estimator refuses ``n_components=0`` with "The 'n_components'
    parameter of SparseAutoencoder must be ..."; on the command line the
    value came from ``--n-components``, which the message then names.

    Parameters
    ----------
    names : collection of str
        The estimator parameters that are options of the command.

    Examples
    --------
    >>> with options_named({"max_iter"}):
    ...     raise ValueError("The 'max_iter' parameter of SparseAutoencoder must "
    ...                      "be an int in the range [1, inf). Got 0 instead.")
    Traceback (most recent call last):
    ...
    ValueError: --max-iter must be an int in the range [1, inf). Got 0 instead.
    """
    try:
        yield
    except (TypeError, ValueError) as error:
        text = str(error)
        match = _PARAMETER.match(text)
        if match is None or match.group(1) not in names:
            raise
        option = "--" + match.group(1).replace("_", "-")
        raise ValueError(option + " " + text[match.end() :]) from error
