"""The ``sparseae`` command: a thin layer over the public API.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``,
which registers its options and sets ``run(args) -> int`` as the handler.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from . import demo, encode, gradcheck, report, show, stack, train
from .signals import Terminated, terminate_raises

__all__ = ["main"]

COMMANDS = (demo, gradcheck, train, stack, encode, show, report)

EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
EXIT_TERMINATED = 143  # and for SIGTERM
EXIT_USAGE = 2  # argparse's and the shell's convention for bad usage
EXIT_BROKEN_PIPE = 141  # the shell's for SIGPIPE: the output's reader closed


class UsageError(Exception):
    """Bad options: reported on one line, with exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not usage and an exit."""

    def error(self, message):
        """Raise :class:`UsageError` instead of printing usage and exiting."""
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but options no command knows are blamed on the command.

        argparse reports them from the top-level parser, whose help does not
        list the command's options.
        """
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            raise UsageError(
                f"{prog}: error: unrecognized arguments: {' '.join(extras)} "
                f"(see '{prog} --help')"
            )
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sparseae`` command."""
    parser = Parser(
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
        input (with one line on stderr saying what and why), 130 when
        interrupted (Ctrl-C), 143 when stopped by SIGTERM.  ``--help`` and
        ``--version`` exit through ``SystemExit(0)`` as argparse's do.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        return _fail(str(error))
    # Recorded with a run's results, so the run can be repeated.
    args.command_line = ["sparseae", *(sys.argv[1:] if argv is None else argv)]
    try:
        with terminate_raises():
            return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader of stdout went away (`sparseae show M | head`): nothing
        # to report.  stdout is pointed at /dev/null so that Python's flush
        # at exit does not fail again (the Python documentation's recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (ValueError, OSError) as error:
        return _fail(f"sparseae {args.command}: error: {error}")


def _fail(message: str) -> int:
    # One line whatever the message: some come from NumPy or scikit-learn
    # with line breaks in them.
    print(" ".join(message.split()), file=sys.stderr)
    return EXIT_USAGE
