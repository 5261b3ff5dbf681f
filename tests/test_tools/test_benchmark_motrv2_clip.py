"""tools/analysis/benchmark_motrv2_clip.py: one row per config, positive times, clear errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CPU_CONFIG = REPO / "configs" / "motrv2" / "motrv2_r18_synthetic_cpu.py"


def _load_tool():
    path = REPO / "tools" / "analysis" / "benchmark_motrv2_clip.py"
    spec = importlib.util.spec_from_file_location("benchmark_motrv2_clip", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_times_the_cpu_config_on_a_tiny_clip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clip.json"
    assert tool.main([str(CPU_CONFIG), "--frames", "2", "--size", "96x64", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 2 and result["size"] == [96, 64]
    (row,) = result["models"]
    assert row["params"] / 1e6 == pytest.approx(13.46, abs=0.01)
    steps = [row[k] for k in ("build_s", "forward_s", "backward_s", "predict_s")]
    assert all(s > 0 for s in steps)
    assert row["total_s"] == pytest.approx(sum(steps))
    printed = capsys.readouterr().out
    assert "one 2-frame 96x64 clip" in printed and "motrv2_r18_synthetic_cpu.py" in printed


def test_clip_has_two_people_with_proposals_in_every_frame() -> None:
    inputs, (video,) = tool.make_clip(num_frames=3, height=64, width=96)
    assert inputs[0].shape == (3, 3, 64, 96) and inputs[0].dtype.is_floating_point is False
    for t in range(3):
        frame = video[t]
        assert frame.metainfo["frame_id"] == t and frame.metainfo["det_proposals"].shape == (2, 5)
        assert frame.gt_instances.instances_ids.tolist() == [4, 9]


def test_missing_config_and_small_size_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.py"
    assert tool.main([str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([str(CPU_CONFIG), "--size", "32x32"])
    assert "at least 96x64" in capsys.readouterr().err
