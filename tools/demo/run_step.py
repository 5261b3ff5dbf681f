"""Run one demo step: its full output to a log file, a progress bar and a result on the console.

The command's stdout and stderr (config dumps, per-iteration logs, key lists) go to ``--log``;
the console shows one tqdm bar whose position is read from those lines (:func:`parse_progress`:
mmengine's ``Epoch(train) [e][i/n]``, ``Iter(train) [i/n]``, ``Epoch(test) [i/n]`` and tqdm's
``| i/n [``), then one result line: for each ``--result LABEL REGEX``, the last match of REGEX
in the output (its groups joined by spaces, or the whole match). If the command fails, the last
lines of the log are printed with its path and this script exits with the command's status.

Example:
    python tools/demo/run_step.py --log work_dirs/demo/logs/4_student.log --epochs 8 \
        --result loss 'loss: ([0-9.]+)' -- python tools/train.py CONFIG --work-dir DIR
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

# Nothing of mmdistillmot is imported: the package registers all of mmdet on import (10-40 s
# on a busy 2-core machine), and this wrapper starts once per step.
_EPOCH_TRAIN = re.compile(r"Epoch\(train\)\s*\[\s*(\d+)\s*\]\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]")
_ITER_LOOP = re.compile(r"(?:Iter\(train\)|Epoch\((?:test|val)\))\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]")
_TQDM = re.compile(r"\|\s*(\d+)\s*/\s*(\d+)\s*\[")


@dataclass(frozen=True)
class Progress:
    """Units done out of a total (iterations of the whole run, frames, files...)."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        """Done / total in [0, 1] (0 for an empty total)."""
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0


def parse_progress(line: str, epochs: int | None = None) -> Progress | None:
    """The position a log line reports, or None when it reports none.

    Args:
        line: One line (or one carriage-return segment of a tqdm bar) of a tool's output.
        epochs: The run's number of training epochs: an epoch-based line ``[e][i/n]`` then
            counts ``(e - 1) * n + i`` of ``epochs * n`` iterations. Without it, the position
            within the current epoch is reported.

    Returns:
        The :class:`Progress` of the line, or None.
    """
    match = _EPOCH_TRAIN.search(line)
    if match:
        epoch, it, per_epoch = (int(g) for g in match.groups())
        if epochs:
            return Progress((epoch - 1) * per_epoch + it, epochs * per_epoch)
        return Progress(it, per_epoch)
    match = _ITER_LOOP.search(line) or _TQDM.search(line)
    if match:
        return Progress(int(match.group(1)), int(match.group(2)))
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="file for the command's whole output")
    parser.add_argument("--desc", default="", help="label of the progress bar")
    parser.add_argument("--epochs", type=int, help="training epochs of an epoch-based run")
    parser.add_argument(
        "--result", nargs=2, action="append", default=[], metavar=("LABEL", "REGEX"),
        help="after the run print LABEL and the last match of REGEX (its groups) (repeat)",
    )  # fmt: skip
    parser.add_argument(
        "--tail", type=int, default=40, help="log lines shown when the command fails"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given (put it after --)")
    return args


def _segments(stream: IO[bytes]) -> Iterator[str]:
    """Yield the output split at newlines and carriage returns (tqdm redraws in place)."""
    pending = b""
    while True:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            break
        pending += chunk
        parts = re.split(rb"[\r\n]", pending)
        pending = parts.pop()
        yield from (p.decode("utf-8", "replace") for p in parts)
    if pending:
        yield pending.decode("utf-8", "replace")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    patterns = [(label, re.compile(regex)) for label, regex in args.result]
    found: dict[str, str] = {}
    bar = tqdm(total=1, desc=args.desc or None, unit="it", dynamic_ncols=True, mininterval=1.0)
    with log_path.open("w") as log:
        log.write("$ " + " ".join(args.command) + "\n")
        log.flush()
        process = subprocess.Popen(args.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        for segment in _segments(process.stdout):
            log.write(segment + "\n")
            progress = parse_progress(segment, args.epochs)
            if progress is not None and progress.total > 0:
                if bar.total != progress.total:
                    bar.total = progress.total
                bar.n = min(progress.done, progress.total)
                bar.refresh()
            for label, pattern in patterns:
                match = pattern.search(segment)
                if match:
                    found[label] = " ".join(match.groups()) if match.groups() else match.group(0)
        status = process.wait()
    if status == 0:
        bar.n = bar.total
        bar.refresh()
    bar.close()
    if status != 0:
        lines = log_path.read_text(errors="replace").splitlines()[-args.tail :]
        print("\n".join(lines), file=sys.stderr)
        print(f"step failed (exit {status}); its whole output: {log_path}", file=sys.stderr)
        return status
    results = [f"{label} {found[label]}".strip() for label, _ in patterns if label in found]
    print("  " + ", ".join([*results, f"log: {log_path}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
