"""progress_bar: tidy whole lines when the output is not a terminal, tqdm's bar when it is.

The lines are checked against their reader, ``tools/demo/run_step.py``'s ``parse_progress``
(the demo's console bar follows the tools' output through it).
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

from mmdistillmot.utils.progress import LineWriter, progress_bar

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("run_step", REPO / "tools" / "demo" / "run_step.py")
assert SPEC is not None and SPEC.loader is not None
run_step = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = run_step
SPEC.loader.exec_module(run_step)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_whole_lines_that_run_step_reads() -> None:
    log = io.StringIO()
    for _ in progress_bar(range(50), desc="tracking", unit="frame", file=log, mininterval=0):
        pass
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert all(line.startswith("tracking:") for line in lines)
    positions = [run_step.parse_progress(line) for line in lines]
    assert positions[0] == run_step.Progress(0, 50)
    assert positions[-1] == run_step.Progress(50, 50)
    done = [p.done for p in positions]
    assert done == sorted(done) and len(set(done)) == len(done)  # no state twice
    assert "frame/s]" in lines[-1]


def test_log_lines_are_rate_limited() -> None:
    log = io.StringIO()
    for _ in progress_bar(range(1000), desc="x", file=log):  # NON_TTY_INTERVAL_S: 10 s
        pass
    # start and end only: the loop takes far less than the interval
    assert [run_step.parse_progress(line) for line in log.getvalue().splitlines()] == [
        run_step.Progress(0, 1000),
        run_step.Progress(1000, 1000),
    ]


def test_terminal_gets_tqdm_redraws() -> None:
    screen = _Terminal()
    for _ in progress_bar(range(5), desc="tracking", unit="frame", file=screen, mininterval=0):
        pass
    assert "\r" in screen.getvalue()  # redrawn in place, as tqdm does on a terminal


def test_line_writer_splits_redraws_and_drops_repeated_counts() -> None:
    out = io.StringIO()
    writer = LineWriter(out)
    writer.write("\rx:  50%|#    | 1/2 [00:01<00:01, 1.00it/s]   ")
    final = "x: 100%|##   | 2/2 [00:02<00:00, {}it/s]"
    writer.write("\r" + final.format("1.00") + "\r" + final.format("0.99") + "\n")
    assert out.getvalue().splitlines() == [
        "x:  50%|#    | 1/2 [00:01<00:01, 1.00it/s]",
        final.format("1.00"),
    ]
    assert writer.isatty() is False
