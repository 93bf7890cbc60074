"""Option types that check values as argparse reads them.

A bad value then fails with argparse's one-line message naming the option,
before any data is loaded.
"""

from __future__ import annotations

import argparse

__all__ = ["SEED", "add_data_options", "number"]


def number(kind, *, low=None, above=None, auto=False):
    """An argparse ``type`` for ``kind`` (int or float) values in a range.

    Parameters
    ----------
    kind : type
        ``int`` or ``float``.
    low, above : number or None, default=None
        Smallest valid value; or the value every valid one exceeds.
    auto : bool, default=False
        Whether the word ``auto`` is valid too (and kept as the string).

    Examples
    --------
    >>> number(int, low=1)("3"), number(float, above=0, auto=True)("auto")
    (3, 'auto')
    >>> number(float, above=0)("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a number > 0, got -1.0
    """
    what = "an integer" if kind is int else "a number"
    if low is not None:
        what += f" >= {low}"
    if above is not None:
        what += f" > {above}"
    if auto:
        what += " or 'auto'"

    def parse(text: str):
        if auto and text == "auto":
            return text
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if (low is not None and not value >= low) or (
            above is not None and not value > above
        ):
            raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


# random_state takes the seeds NumPy's legacy RandomState takes.
SEED = number(int, low=0)


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
