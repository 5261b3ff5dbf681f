"""ONNX export of a tiny random-init TDT student: parity with PyTorch, tracks, and the CLIs.

The student is the synthetic R18 config shrunk (base_channels 16, 32-channel FPN and subnets),
its class and box weights scaled up so scores spread over (0, 1) and NMS has work to do, and
score_thr 0 so every anchor is a candidate. onnxruntime's detections (post-processed in numpy)
must match the PyTorch head's ``predict`` and give the same track rows through JDETracker.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from onnx_testing import (
    TDT_CONFIG,
    TDT_TINY,
    assert_tracks_match,
    cli_round_trip,
    parse_options,
)
from torch import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mmdistillmot.apis.video_tracking import VideoTracker  # noqa: E402
from mmdistillmot.deployment.onnx_export import (  # noqa: E402
    check_no_teacher,
    export_onnx,
    load_student,
)
from mmdistillmot.deployment.onnx_runner import OnnxVideoTracker, import_onnxruntime  # noqa: E402

CONFIG = TDT_CONFIG
TINY = TDT_TINY


def _options() -> dict:
    return parse_options(TINY)


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, onnx file) of the tiny student, seed 0."""
    out = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model: Any = load_student(CONFIG, None, _options())
    head: Any = model.detector.bbox_head
    with torch.no_grad():  # spread the scores and boxes away from the focal-loss prior
        head.retina_cls.weight.mul_(8.0)
        head.retina_reg.weight.mul_(5.0)
    checkpoint = out / "tiny.pth"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    onnx_file = out / "tiny.onnx"
    meta = export_onnx(model, onnx_file, (96, 160))
    assert meta["level_sizes"] == [2160, 540, 135, 54, 18]
    return checkpoint, onnx_file


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    # a slowly moving scene, so tracks persist
    return [np.roll(base, 4 * i, axis=1) for i in range(count)]


def test_detections_match_pytorch(student: tuple[Path, Path]) -> None:
    checkpoint, onnx_file = student
    onnx_tracker = OnnxVideoTracker(CONFIG, onnx_file, _options())
    torch_tracker = VideoTracker(CONFIG, str(checkpoint), cfg_options=_options())
    for frame_id, image in enumerate(_frames(2)):
        inputs, sample = onnx_tracker.preprocess(image, frame_id, 2)
        assert sample.metainfo["scale_factor"] == (0.5, 0.5)
        dets, _ = onnx_tracker.detect(image, frame_id, 2)
        with torch.no_grad():
            (pred,) = torch_tracker.model.detector.predict(
                torch.from_numpy(inputs)[None], [sample], rescale=True
            )
        ref = pred.pred_instances
        assert len(ref) == len(dets.scores) == 20
        assert ref.scores.min() > 0.5  # far from the focal-loss prior (0.01)
        np.testing.assert_allclose(dets.bboxes, ref.bboxes.numpy(), atol=1e-2)
        np.testing.assert_allclose(dets.scores, ref.scores.numpy(), atol=1e-4)
        np.testing.assert_allclose(dets.embeddings, ref.embeddings.numpy(), atol=1e-4)
        np.testing.assert_array_equal(dets.labels, ref.labels.numpy())


def test_tracks_match_pytorch(student: tuple[Path, Path]) -> None:
    checkpoint, onnx_file = student
    onnx_tracker = OnnxVideoTracker(CONFIG, onnx_file, _options())
    torch_tracker = VideoTracker(CONFIG, str(checkpoint), cfg_options=_options())
    assert assert_tracks_match(onnx_tracker, torch_tracker, _frames(4)) > 0


def test_teacher_refused() -> None:
    holder = nn.Module()
    holder.teacher_proj = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="teacher"):
        check_no_teacher(holder)
    model = load_student(CONFIG, None, _options())
    check_no_teacher(model)  # the TDT test-time model: preprocessor + detector (+ tracker)
    assert {name for name, _ in model.named_children()} == {"data_preprocessor", "detector"}


def test_missing_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeError, match="requirements/deploy.txt"):
        import_onnxruntime()


def test_cli_end_to_end(
    student: tuple[Path, Path], tiny_synthetic_mot: Path, tmp_path: Path
) -> None:
    checkpoint, _ = student
    (source,) = sorted((tiny_synthetic_mot / "val").iterdir())
    track_cli, onnx_file, sequence = cli_round_trip(CONFIG, checkpoint, source, tmp_path, TINY)
    onnx_txt = tmp_path / "onnx.txt"
    with pytest.raises(SystemExit):
        track_cli.main([CONFIG, str(checkpoint), str(sequence), "--onnx", str(onnx_file),
                        "--txt", str(onnx_txt)])  # fmt: skip
