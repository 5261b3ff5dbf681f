"""tools/demo/run_step.py: the demo's console (progress bar + result line, output to a log)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "demo" / "run_step.py"


def load_tool():  # noqa: ANN201  (a module)
    spec = importlib.util.spec_from_file_location("run_step", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_step"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("line", "epochs", "done", "total"),
    [
        # mmengine's epoch-based training: epoch 3 of 8, iteration 40 of 75 in it
        ("12/06 18:56:54 - mmengine - INFO - Epoch(train)  [3][40/75]  lr: 1e-2", 8, 190, 600),
        ("Epoch(train) [3][ 40/75]  loss: 1.0", None, 40, 75),
        ("12/06 18:57:01 - mmengine - INFO - Iter(train) [ 20/200]  lr: 2.0e-03", None, 20, 200),
        ("Epoch(test) [ 17/200]    eta: 0:00:12", None, 17, 200),
        ("Epoch(val) [5/9]", 3, 5, 9),
        ("frames:  45%|####5     | 405/900 [00:16<00:20, 24.3it/s]", None, 405, 900),
    ],
)
def test_progress_is_read_from_the_tools_own_lines(
    line: str, epochs: int | None, done: int, total: int
) -> None:
    progress = load_tool().parse_progress(line, epochs)
    assert (progress.done, progress.total) == (done, total)


def test_lines_without_a_position_give_none() -> None:
    tool = load_tool()
    for line in ("loss: 3.5  accuracy: 0.9/1", "Checkpoints will be saved to /x", ""):
        assert tool.parse_progress(line) is None


def run_step(tmp_path: Path, script: str, *options: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TOOL), "--log", str(tmp_path / "logs" / "s.log"), *options, "--"]
    return subprocess.run(
        [*cmd, sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


def test_output_goes_to_the_log_and_the_console_gets_one_result_line(tmp_path: Path) -> None:
    script = (
        "for i in range(1, 4):\n"
        "    print(f'Iter(train) [{i}/3]  lr: 0.1  loss: {4 - i}.5  loss_x: 9')\n"
        "print('config dump ' * 50)\n"
    )
    done = run_step(tmp_path, script, "--result", "loss", r"\sloss: ([0-9.]+)")
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "logs" / "s.log").read_text()
    assert "config dump" in log and "Iter(train) [3/3]" in log
    assert "config dump" not in done.stdout
    # the last match: loss of iteration 3 (not loss_x), then where the log is
    assert f"loss 1.5, log: {tmp_path / 'logs' / 's.log'}" in done.stdout
    assert "3/3" in done.stderr  # tqdm's bar reached the end


def test_a_failing_command_shows_its_last_lines_and_its_status(tmp_path: Path) -> None:
    script = "import sys\nprint('\\n'.join(f'line {i}' for i in range(100)))\nsys.exit(3)\n"
    done = run_step(tmp_path, script, "--tail", "5")
    assert done.returncode == 3
    assert "line 99" in done.stderr and "line 94" not in done.stderr
    assert "step failed (exit 3)" in done.stderr and "s.log" in done.stderr
