"""The ONNX Runtime vs PyTorch benchmark runs and reports both engines (no timing asserted).

Tiny random-init students (``onnx_testing``'s FairMOT and TDT ones) on a few synthetic
frames: the tool exports the loaded weights itself, or takes a given export, and reports four
rows (PyTorch and ONNX Runtime, detect and detect+track) with the same thread count for both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx_testing import (
    FAIRMOT_CONFIG,
    FAIRMOT_TINY,
    REPO,
    TDT_CONFIG,
    TDT_TINY,
    load_cli,
    parse_options,
)

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mmdistillmot.deployment.benchmark import format_table, run_benchmark  # noqa: E402
from mmdistillmot.deployment.onnx_export import export_onnx, load_student  # noqa: E402

#: Every anchor a candidate, 10 boxes a frame, every detection tracked.
TDT_FAST = [
    *TDT_TINY,
    "model.detector.test_cfg.max_per_img=10",
    "model.tracker.obj_score_thr=0.0",
    "model.tracker.init_track_thr=0.0",
]
ROWS = [
    ("PyTorch", "detect"),
    ("ONNX Runtime", "detect"),
    ("PyTorch", "detect+track"),
    ("ONNX Runtime", "detect+track"),
]


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)
    return [np.roll(base, 3 * i, axis=1) for i in range(count)]


def test_cli_reports_both_engines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2

    for i, image in enumerate(_frames(3)):
        cv2.imwrite(str(frames / f"{i + 1:06d}.png"), image)
    cli = load_cli("benchmark_onnx", REPO / "tools" / "deployment" / "benchmark_onnx.py")
    out = tmp_path / "fps.json"
    threads = torch.get_num_threads()
    args = [FAIRMOT_CONFIG, "--frames", str(frames), "--warmup", "1", "--threads", "1"]
    try:
        assert cli.main([*args, "--out", str(out), "--cfg-options", *FAIRMOT_TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "random initialisation" in printed
    for engine, stage in ROWS:
        assert any(line.startswith(engine) and stage in line for line in printed.splitlines())
    assert "ONNX Runtime speed-up" in printed and "1 threads for both engines" in printed
    results = json.loads(out.read_text())
    assert [(row["engine"], row["stage"]) for row in results["rows"]] == ROWS
    assert all(row["frames"] == 3 and row["fps"] > 0 for row in results["rows"])
    assert results["threads"] == 1 and results["exported_here"]
    assert set(results["speedup"]) == {"detect", "detect+track"}


def test_tdt_with_given_export(tmp_path: Path) -> None:
    torch.manual_seed(0)
    options = parse_options(TDT_FAST)
    model = load_student(TDT_CONFIG, None, options)
    checkpoint = tmp_path / "tdt.pth"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    onnx_file = tmp_path / "tdt.onnx"
    export_onnx(model, onnx_file, (96, 160))
    results = run_benchmark(
        TDT_CONFIG, str(checkpoint), _frames(3), onnx_file, options, threads=None, warmup=1
    )
    assert [(row["engine"], row["stage"]) for row in results["rows"]] == ROWS
    assert not results["exported_here"] and results["onnx"] == str(onnx_file)
    # score_thr 0 and max_per_img 10: both engines detect 10 boxes a frame
    assert [row["boxes_per_frame"] for row in results["rows"][:2]] == [10.0, 10.0]
    assert results["tracks_identical"] and results["max_box_diff"] < 1e-2
    table = format_table(results)
    assert table.count("\n") == len(ROWS) + 4


def test_export_here_takes_the_frames_shape() -> None:
    """Exported here, the graph's input is the frames' preprocessed shape, not the config's.

    Frames of 120x160 through the tiny config's keep-ratio Resize to (160, 96): scale
    min(160/160, 96/120) = 0.8, so 96x128 (already a multiple of 32); the config's default
    export shape would be 96x160, padding every frame by 32 columns.
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frames = [np.roll(base, 3 * i, axis=1) for i in range(2)]
    results = run_benchmark(
        TDT_CONFIG, None, frames, None, parse_options(TDT_FAST), threads=None, warmup=0
    )
    assert results["exported_here"] and results["input_shape"] == [96, 128]
    assert results["frame_size"] == [160, 120]
    assert results["tracks_identical"] and results["max_box_diff"] < 1e-2
    assert "ONNX input 96x128" in format_table(results)
