"""tools/analysis/benchmark_degradation.py on a tiny frame, checked against independent figures.

* As a user runs it (a subprocess, a 64x48 PNG, ``--json``): the report describes that frame,
  the operators it lists are those the degradation applies for the same seeded parameter draws
  (recomputed here), and the operators' CPU time fits inside the frames' CPU time (their
  intervals are nested on the same clock).
* The statistics: with the tool's clocks replaced by a fake one that advances by known amounts
  per degraded frame, every reported figure (wall and CPU median / mean / p90 / min / max,
  user + system, per operator) equals the one computed here from those amounts, warm-up frames
  excluded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from mmdistillmot.datasets.transforms.degradation import (
    apply_degradation,
    sample_degradation_params,
)
from mmdistillmot.datasets.transforms.degradation.real_esrgan_degradation import derive_seed

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "analysis" / "benchmark_degradation.py"
STAT_KEYS = {"median", "mean", "p90", "min", "max"}


def _load_tool():
    spec = importlib.util.spec_from_file_location("_benchmark_degradation", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("degradation") / "tiny.png"
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(path), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return path


def _p90(values: list[float]) -> float:
    """NumPy's ``nearest`` 90th percentile: the value at position ``0.9 (n - 1)``, rounded."""
    return float(np.percentile(values, 90, method="nearest"))


def test_run_on_a_tiny_frame_reports_that_frame(tiny_frame: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    frames, warmup, seed, severity = 3, 1, 7, 0.8
    cmd = [
        sys.executable, str(TOOL), "--image", str(tiny_frame), "--frames", str(frames),
        "--warmup", str(warmup), "--seed", str(seed), "--severity", str(severity),
        "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=180, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"frame: {tiny_frame}, 64x48; threads: 1" in done.stdout
    assert f"(over {frames} frames)" in done.stdout
    report = json.loads(out.read_text())
    assert report["source"] == str(tiny_frame) and report["size"] == [64, 48]
    assert (report["frames"], report["severity"], report["threads"]) == (frames, severity, 1)
    for key in ("wall_ms", "cpu_ms"):
        stats = report[key]
        assert set(stats) == STAT_KEYS
        assert 0 < stats["min"] <= stats["median"] <= stats["p90"] <= stats["max"]
        assert stats["min"] <= stats["mean"] <= stats["max"]
        assert stats["p90"] == stats["max"]  # position 0.9 x 2 = 1.8 of 3 values: the third

    # the operators: those the degradation applies for the same draws (frames 1..3, after the
    # warm-up frame 0), recomputed in this process
    frame = cv2.imread(str(tiny_frame), cv2.IMREAD_COLOR)
    expected_ops: set[str] = set()
    for index in range(warmup, warmup + frames):
        rng = np.random.default_rng(derive_seed(seed, "benchmark", index))
        params = sample_degradation_params(rng, severity)
        timings: dict[str, float] = {}
        apply_degradation(frame, params, rng, timings=timings)
        expected_ops |= set(timings)
    per_op = report["mean_cpu_ms_per_operator"]
    assert set(per_op) == expected_ops and all(v >= 0 for v in per_op.values())
    # each operator's CPU interval lies inside its frame's: their sum cannot exceed the frames'
    assert sum(per_op.values()) <= report["cpu_ms"]["mean"] * (1 + 1e-6)


class FakeClock:
    """``perf_counter``, ``process_time`` and ``os.times`` that move only when told to."""

    def __init__(self) -> None:
        self.wall = 1000.0
        self.cpu = 50.0
        self.user = 20.0
        self.system = 5.0

    def perf_counter(self) -> float:
        return self.wall

    def process_time(self) -> float:
        return self.cpu

    def times(self) -> SimpleNamespace:
        return SimpleNamespace(user=self.user, system=self.system)


def test_figures_equal_an_independent_computation(
    tiny_frame: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = _load_tool()
    clock = FakeClock()
    # per degraded frame (2 warm-up frames first): wall, CPU, user, system seconds and the
    # seconds of one operator, in an order that sorting changes
    wall = [9.0, 8.0, 0.030, 0.010, 0.050, 0.045, 0.020]
    cpu = [w * 0.75 for w in wall]
    user = [c * 0.8 for c in cpu]
    system = [c * 0.2 for c in cpu]
    op = [c * 0.5 for c in cpu]
    calls = {"n": 0}

    def degrade_and_tick(frame, params, rng, timings=None):
        out = apply_degradation(frame, params, rng)  # the real work, untimed
        k = calls["n"]
        calls["n"] += 1
        clock.wall += wall[k]
        clock.cpu += cpu[k]
        clock.user += user[k]
        clock.system += system[k]
        timings.clear()
        timings["blur1"] = op[k]
        return out

    monkeypatch.setattr(tool, "time", clock)
    monkeypatch.setattr(tool, "os", SimpleNamespace(times=clock.times))
    monkeypatch.setattr(tool, "apply_degradation", degrade_and_tick)
    out = tmp_path / "report.json"
    argv = ["--image", str(tiny_frame), "--frames", "5", "--warmup", "2", "--json", str(out)]
    assert tool.main(argv) == 0
    assert calls["n"] == 7
    report = json.loads(out.read_text())

    def expected(seconds: list[float]) -> dict[str, float]:
        ms = [s * 1000.0 for s in seconds[2:]]  # the warm-up frames are not counted
        return dict(
            median=float(np.median(ms)),
            mean=float(np.mean(ms)),
            p90=_p90(ms),
            min=min(ms),
            max=max(ms),
        )

    assert report["wall_ms"] == pytest.approx(expected(wall), rel=1e-9)
    assert report["cpu_ms"] == pytest.approx(expected(cpu), rel=1e-9)
    assert report["wall_ms"]["median"] == pytest.approx(30.0)  # sorted 10, 20, 30, 45, 50
    assert report["mean_cpu_ms_user_system"] == pytest.approx(
        [statistics.fmean(user[2:]) * 1000.0, statistics.fmean(system[2:]) * 1000.0], rel=1e-9
    )
    assert report["mean_cpu_ms_per_operator"] == pytest.approx(
        {"blur1": statistics.fmean(op[2:]) * 1000.0}, rel=1e-9
    )


def test_summary_statistics_are_numpys() -> None:
    tool = _load_tool()
    for n in range(1, 32):  # 6, 16, 26: positions x.5, rounded to even as NumPy does
        values = [float(v) for v in np.random.default_rng(n).permutation(n) * 1.5 + 1]
        got = tool.summarise(values)
        assert got["p90"] == _p90(values), n
        assert got["median"] == float(np.median(values)), n
        assert got["mean"] == pytest.approx(float(np.mean(values)), rel=1e-12)
        assert (got["min"], got["max"]) == (min(values), max(values))


@pytest.mark.parametrize("argv", [["--frames", "0"], ["--frames", "-1"], ["--warmup", "-1"]])
def test_no_measured_frames_is_a_usage_error(argv: list[str]) -> None:
    # --frames 0 divided by zero deep in the loop (IndexError traceback) before this check
    with pytest.raises(SystemExit) as exit_info:
        _load_tool().parse_args(argv)
    assert exit_info.value.code == 2
