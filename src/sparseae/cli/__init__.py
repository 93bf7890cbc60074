"""The ``sparseae`` command: a thin layer over the public API.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``,
which registers its options and sets ``run(args) -> int`` as the handler.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import demo, encode, gradcheck, show, train

__all__ = ["main"]

COMMANDS = (demo, gradcheck, train, encode, show)

EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sparseae`` command."""
    parser = argparse.ArgumentParser(
        prog="sparseae",
        description="Sparse autoencoders with exact, hand-derived gradients.",
        epilog="Run 'sparseae COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sparseae {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sparseae`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 when a check fails, 2 for bad usage or
        input, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:
        print(f"sparseae {args.command}: error: {error}", file=sys.stderr)
        return 2
