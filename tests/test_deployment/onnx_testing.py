"""Shared by the ONNX tests: the tiny students' config overrides, CLI loading, track parity."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.config import DictAction

REPO = Path(__file__).resolve().parents[2]
FAIRMOT_CONFIG = str(REPO / "configs" / "fairmot" / "fairmot_hrnetv2-w18_synthetic.py")
DISTILL_CONFIG = str(REPO / "configs" / "fairmot_dinov2" / "fairmot_dinov2-small_synthetic.py")
TDT_CONFIG = str(REPO / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py")
#: The synthetic R18 TDT student shrunk (base_channels 16, 32-channel FPN and subnets), every
#: anchor a candidate (score_thr 0), 20 boxes a frame.
TDT_TINY = [
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
#: The synthetic FairMOT config's student shrunk: one block per HRNet stage at 8/16/32/64
#: channels, a 120-channel neck, 16-channel branches, 32-d embeddings, top 60 peaks.
#: The student's overrides (a distillation config takes them under ``model.student.``).
STUDENT = [
    "backbone.extra.stage1.num_blocks=(1,)",
    "backbone.extra.stage1.num_channels=(8,)",
    "backbone.extra.stage2.num_blocks=(1,1)",
    "backbone.extra.stage2.num_channels=(8,16)",
    "backbone.extra.stage3.num_modules=1",
    "backbone.extra.stage3.num_blocks=(1,1,1)",
    "backbone.extra.stage3.num_channels=(8,16,32)",
    "backbone.extra.stage4.num_modules=1",
    "backbone.extra.stage4.num_blocks=(1,1,1,1)",
    "backbone.extra.stage4.num_channels=(8,16,32,64)",
    "neck.in_channels=(8,16,32,64)",
    "bbox_head.in_channels=120",
    "bbox_head.feat_channels=16",
    "bbox_head.embed_dims=32",
    "bbox_head.test_cfg.topk=60",
    "tracker.obj_score_thr=0.3",
]
PIPELINE = "test_dataloader.dataset.pipeline.0.transforms.1.scale=(160,96)"
FAIRMOT_TINY = [PIPELINE, *(f"model.{item}" for item in STUDENT)]
#: The same student inside the DINOv2-S distillation config (its connector: 120 -> 384).
DISTILL_TINY = [
    PIPELINE,
    *(f"model.student.{item}" for item in STUDENT),
    "model.connectors.to_teacher.in_channels=120",
    "model.teacher.weights=None",
    "model.teacher.allow_random_init=True",
]


def parse_options(items: list[str]) -> dict:
    """``key=value`` strings as ``--cfg-options`` parses them."""
    parsed: dict = {}
    for item in items:
        key, value = item.split("=", 1)
        parsed[key] = DictAction._parse_iterable(value)
    return parsed


def load_cli(name: str, path: Path) -> Any:
    """Import a tool script as a module (its ``main`` is then callable)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def assert_same_rows(got: np.ndarray, want: np.ndarray, conf_atol: float | None = 1e-4) -> None:
    """Two MOT row tables (``MOT_ROW_DTYPE``) agree: same frames and ids, boxes within 1e-2 px.

    Args:
        got: The ONNX Runtime rows.
        want: The PyTorch rows.
        conf_atol: Tolerance of the scores (None: not compared, e.g. rows read from a txt).
    """
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["frame"], want["frame"])
    np.testing.assert_array_equal(got["id"], want["id"])
    for key in ("x", "y", "w", "h"):
        np.testing.assert_allclose(got[key], want[key], atol=1e-2)
    if conf_atol is not None:
        np.testing.assert_allclose(got["conf"], want["conf"], atol=conf_atol)


def assert_tracks_match(onnx_tracker: Any, torch_tracker: Any, frames: list[np.ndarray]) -> int:
    """Track ``frames`` with both trackers and compare every frame's rows.

    Args:
        onnx_tracker: An ``OnnxVideoTracker``.
        torch_tracker: A ``VideoTracker`` with the same weights.
        frames: BGR frames of one video.

    Returns:
        The number of rows (boxes over all frames).
    """
    from mmdistillmot.apis.video_tracking import tracks_to_mot_rows

    total = 0
    for frame_id, image in enumerate(frames):
        got = tracks_to_mot_rows(frame_id, onnx_tracker.track(image, frame_id, len(frames)))
        want = tracks_to_mot_rows(frame_id, torch_tracker.track(image, frame_id, len(frames)))
        assert_same_rows(got, want)
        total += len(got)
    return total


def cli_round_trip(
    config: str, checkpoint: Path, source: Path, tmp_path: Path, options: list[str]
) -> tuple[Any, Path, Path]:
    """``export_onnx.py``, then ``track_video.py`` with ``--onnx`` and with the checkpoint.

    Args:
        config: The student's config.
        checkpoint: Its checkpoint.
        source: A MOTChallenge sequence (its first 3 frames are tracked).
        tmp_path: Where the copy, the graph and the result files go.
        options: ``--cfg-options`` items for the three runs.

    Returns:
        ``(track_video module, ONNX file, sequence copy)``; the result files are
        ``tmp_path / 'onnx.txt'`` and ``tmp_path / 'torch.txt'``, compared here.
    """
    from mmdistillmot.datasets.mot_files import read_mot_file

    sequence = tmp_path / source.name
    shutil.copytree(source, sequence)
    for extra in sorted((sequence / "img1").iterdir())[3:]:
        extra.unlink()  # a couple of frames
    export_cli = load_cli("export_onnx", REPO / "tools" / "deployment" / "export_onnx.py")
    track_cli = load_cli("track_video", REPO / "tools" / "demo" / "track_video.py")
    onnx_file = tmp_path / "cli.onnx"
    extra_args = ["--cfg-options", *options]
    assert export_cli.main([config, str(checkpoint), str(onnx_file), *extra_args]) == 0
    onnx_txt, torch_txt = tmp_path / "onnx.txt", tmp_path / "torch.txt"
    args = [config, str(sequence), "--onnx", str(onnx_file), "--txt", str(onnx_txt)]
    assert track_cli.main([*args, *extra_args]) == 0
    args = [config, str(checkpoint), str(sequence), "--txt", str(torch_txt)]
    assert track_cli.main([*args, *extra_args]) == 0
    got, want = read_mot_file(onnx_txt).rows, read_mot_file(torch_txt).rows
    assert len(want) > 0
    assert_same_rows(got, want, conf_atol=None)
    return track_cli, onnx_file, sequence
