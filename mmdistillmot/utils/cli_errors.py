"""One-line errors for the command-line tools, with the traceback only under ``--debug``.

The project's errors already say what is wrong and name the file (``OSNetTeacher(osnet_x0_25):
weight file 'x.pth' does not exist.``, ``... lacks 378 of the network's 550 keys``); a full
traceback around them only hides the message. A tool adds ``--debug`` with
:func:`add_debug_flag` and runs its body inside :func:`cli_errors`:

.. code-block:: python

    def main(argv=None):
        args = parse_args(argv)  # argparse errors keep their usage line (exit 2)
        with cli_errors(args.debug):
            ...

or, in a tool whose ``main`` returns its exit status, ``except CLI_ERRORS as err: return
cli_error_status(err, args.debug)``.

An error of the kinds in :data:`CLI_ERRORS` (bad inputs: a missing or unreadable file, a wrong
value, a weight file that does not fit, an unknown config type) then ends the tool with
``error: <message> (--debug shows the traceback)`` on stderr (the project's own errors name
their class first: ``error: TeacherWeightsError: ...``), one line, exit status 1; with
``--debug`` it propagates with its traceback. Other exceptions (``TypeError``,
``AssertionError``, ...) are programming errors and always keep their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "CLI_ERRORS",
    "add_debug_flag",
    "cli_error_status",
    "cli_errors",
    "format_cli_error",
    "one_line",
]

#: What a tool reports in one line. The project's own errors derive from these:
#: ``TeacherWeightsError``, ``UnsafeCheckpointError``, ``LQBuildError``, ``PackagedWeightsError``
#: (RuntimeError); ``MOTFormatError``, ``LabelFormatError``, ``MobileNetV2ConversionError``
#: (ValueError); ``ConfigTypeError`` (KeyError); ``FileNotFoundError``, ``FileExistsError``
#: (OSError).
CLI_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, RuntimeError, KeyError)


def one_line(err: BaseException) -> str:
    """The message of an exception on one line (whitespace runs, newlines included, to one space).

    Args:
        err: The exception. A ``KeyError``'s message is its argument, without the quotes that
            ``str(KeyError)`` adds.

    Returns:
        The message, or the exception's class name when it has none.
    """
    message = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 else err
    return " ".join(str(message).split()) or type(err).__name__


def format_cli_error(err: BaseException) -> str:
    """The line a tool prints for ``err``: ``error: [Kind: ]<message> (--debug shows ...)``.

    ``Kind`` is the class name of an error that is not one of Python's own (e.g.
    ``TeacherWeightsError``, ``UnsafeCheckpointError``); Python's (``FileNotFoundError`` ...)
    are left out, their messages say what they are.

    Args:
        err: The exception.

    Returns:
        One line, without a newline.
    """
    kind = "" if type(err).__module__ == "builtins" else f"{type(err).__name__}: "
    return f"error: {kind}{one_line(err)} (--debug shows the traceback)"


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` (show the traceback of an error) to a tool's parser.

    Args:
        parser: The tool's argument parser.
    """
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, show the full traceback (default: one line 'error: ...', exit 1)",
    )


@contextmanager
def cli_errors(debug: bool = False) -> Iterator[None]:
    """Turn an error of :data:`CLI_ERRORS` raised inside into a one-line exit (status 1).

    Args:
        debug: Let every error propagate with its traceback instead.

    Yields:
        Nothing; the tool's body runs inside.

    Raises:
        SystemExit: With :func:`format_cli_error`'s line (printed to stderr, exit status 1) when
            the body raises one of :data:`CLI_ERRORS` and ``debug`` is false.
    """
    if debug:
        yield
        return
    try:
        yield
    except CLI_ERRORS as err:
        raise SystemExit(format_cli_error(err)) from None


def cli_error_status(err: BaseException, debug: bool = False, status: int = 1) -> int:
    """Print ``err`` as :func:`format_cli_error`'s line on stderr and return ``status``.

    For a tool whose ``main`` returns its exit status: ``except CLI_ERRORS as err: return
    cli_error_status(err, args.debug)``.

    Args:
        err: The exception being handled.
        debug: Re-raise ``err`` (with its traceback) instead.
        status: The exit status to return. 1.

    Returns:
        ``status``.

    Raises:
        BaseException: ``err`` itself, when ``debug``.
    """
    if debug:
        raise err
    print(format_cli_error(err), file=sys.stderr)
    return status
