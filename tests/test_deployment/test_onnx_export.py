"""ONNX export of a tiny random-init TDT student: parity with PyTorch, tracks, and the CLIs.

The student is the synthetic R18 config shrunk (base_channels 16, 32-channel FPN and subnets),
its class and box weights scaled up so scores spread over (0, 1) and NMS has work to do, and
score_thr 0 so every anchor is a candidate. onnxruntime's detections (post-processed in numpy)
must match the PyTorch head's ``predict`` and give the same track rows through JDETracker.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mmdistillmot.apis.video_tracking import VideoTracker, tracks_to_mot_rows  # noqa: E402
from mmdistillmot.datasets.mot_files import read_mot_file  # noqa: E402
from mmdistillmot.deployment.onnx_export import (  # noqa: E402
    check_no_teacher,
    export_onnx,
    load_student,
)
from mmdistillmot.deployment.onnx_runner import OnnxVideoTracker, import_onnxruntime  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py")
TINY = [
    "test_dataloader.dataset.pipeline.0.transforms.1.scale=(160,96)",
    "model.detector.backbone.base_channels=16",
    "model.detector.neck.in_channels=[16,32,64,128]",
    "model.detector.neck.out_channels=32",
    "model.detector.bbox_head.in_channels=32",
    "model.detector.bbox_head.feat_channels=32",
    "model.detector.bbox_head.embed_feat_channels=32",
    "model.detector.test_cfg.score_thr=0.0",
    "model.detector.test_cfg.nms_pre=50",
    "model.detector.test_cfg.max_per_img=20",
    "model.tracker.obj_score_thr=0.3",
    "model.tracker.init_track_thr=0.3",
    "model.tracker.min_box_area=0",
]


def _options() -> dict:
    from mmengine.config import DictAction

    parsed: dict = {}
    for item in TINY:
        key, value = item.split("=", 1)
        parsed[key] = DictAction._parse_iterable(value)
    return parsed


def _load_cli(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
    frames = _frames(4)
    total = 0
    for frame_id, image in enumerate(frames):
        got = tracks_to_mot_rows(frame_id, onnx_tracker.track(image, frame_id, len(frames)))
        want = tracks_to_mot_rows(frame_id, torch_tracker.track(image, frame_id, len(frames)))
        np.testing.assert_array_equal(got["id"], want["id"])
        for key in ("x", "y", "w", "h"):
            np.testing.assert_allclose(got[key], want[key], atol=1e-2)
        np.testing.assert_allclose(got["conf"], want["conf"], atol=1e-4)
        total += len(got)
    assert total > 0


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
    sequence = tmp_path / source.name
    shutil.copytree(source, sequence)
    for extra in sorted((sequence / "img1").iterdir())[3:]:
        extra.unlink()  # a couple of frames
    export_cli = _load_cli("export_onnx", REPO / "tools" / "deployment" / "export_onnx.py")
    track_cli = _load_cli("track_video", REPO / "tools" / "demo" / "track_video.py")
    onnx_file = tmp_path / "cli.onnx"
    options = ["--cfg-options", *TINY]
    assert export_cli.main([CONFIG, str(checkpoint), str(onnx_file), *options]) == 0
    onnx_txt, torch_txt = tmp_path / "onnx.txt", tmp_path / "torch.txt"
    args = [CONFIG, str(sequence), "--onnx", str(onnx_file), "--txt", str(onnx_txt), *options]
    assert track_cli.main(args) == 0
    args = [CONFIG, str(checkpoint), str(sequence), "--txt", str(torch_txt), *options]
    assert track_cli.main(args) == 0
    got, want = read_mot_file(onnx_txt).rows, read_mot_file(torch_txt).rows
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got["id"], want["id"])
    np.testing.assert_array_equal(got["frame"], want["frame"])
    np.testing.assert_allclose(got["x"], want["x"], atol=1e-2)
    with pytest.raises(SystemExit):
        track_cli.main([CONFIG, str(checkpoint), str(sequence), "--onnx", str(onnx_file),
                        "--txt", str(onnx_txt)])  # fmt: skip
