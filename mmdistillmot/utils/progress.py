"""Progress bars for the tools' long loops: a live tqdm bar on a terminal, tidy lines in a log.

On a terminal the bar redraws in place (tqdm's default). When stderr is not a terminal (a log
file, a pipe, CI) tqdm would still redraw with carriage returns, leaving one long line of
hundreds of overwritten states in the log; :func:`progress_bar` then writes a plain line at
most every :data:`NON_TTY_INTERVAL_S` seconds (and the last state), ASCII only. The lines keep
tqdm's ``| done/total [`` layout, which ``tools/demo/run_step.py`` reads back, and its rate
(``frame/s``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

__all__ = ["NON_TTY_INTERVAL_S", "LineWriter", "progress_bar"]

#: Least seconds between two progress lines when the output is not a terminal.
NON_TTY_INTERVAL_S = 10.0


class LineWriter:
    r"""A text stream for tqdm that turns each in-place redraw into one line of its own.

    tqdm writes ``'\r' + state + padding`` per redraw and ``'\n'`` at the end; here every
    non-empty state becomes ``state + '\n'`` (padding stripped), except a state whose count
    (``done/total``) is the line's just written (tqdm redraws the final state when it closes).

    Args:
        stream: Where the lines go (e.g. ``sys.stderr``).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        r"""Write each ``'\r'``/``'\n'``-separated segment of ``text`` as one line.

        Args:
            text: What tqdm writes.

        Returns:
            ``len(text)`` (what a stream's ``write`` returns).
        """
        for segment in text.replace("\n", "\r").split("\r"):
            segment = segment.rstrip()
            count = segment.split(" [")[0]  # label, bar and done/total; no timing
            if segment and count != self._last:
                self.stream.write(segment + "\n")
                self._last = count
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self.stream.flush()

    def isatty(self) -> bool:
        """Never a terminal (tqdm asks)."""
        return False


def _is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def progress_bar(
    iterable: Iterable[Any] | None = None,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    file: IO[str] | None = None,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar on ``file`` (stderr by default): live on a terminal, line by line otherwise.

    Args:
        iterable: What to iterate (as ``tqdm(iterable)``); None for a bar updated by hand.
        total: Number of items (taken from ``len(iterable)`` by tqdm when it has one).
        desc: Label in front of the bar.
        unit: Name of one item; the rate is shown as ``unit/s`` (e.g. ``frame/s``).
        file: Output stream; ``sys.stderr`` when None.
        **kwargs: Other tqdm arguments (they win over the non-terminal defaults).

    Returns:
        The tqdm object (iterate it, or call ``update``; ``close`` it when done by hand).
    """
    stream = sys.stderr if file is None else file
    options: dict[str, Any] = dict(total=total, desc=desc, unit=unit)
    if _is_tty(stream):
        options.update(file=stream, dynamic_ncols=True)
    else:
        # few, whole lines: a log reads like a log
        options.update(file=LineWriter(stream), mininterval=NON_TTY_INTERVAL_S, ascii=True)
    options.update(kwargs)
    return tqdm(iterable, **options)
