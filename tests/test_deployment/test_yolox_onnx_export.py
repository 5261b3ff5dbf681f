"""ONNX export of a TDT student on YOLOX-Nano: parity with PyTorch, tracks, CLIs.

The student is ``tdt_yolox-nano_embed_synthetic.py`` (YOLOX-Nano + ``YOLOXEmbedHead``, 128-d
embeddings, BGR 0-255 input padded with 114) with the real COCO YOLOX-Nano converted from
../shared/assets (its person row kept) and a random-init embedder, on real frames (the first
TUD-Campus frames, 640x480, resized to 469x352 and padded to the graph's 480x352): a real
detector's scores and boxes, so parity is checked where people are. (A random-init YOLOX-Nano
is no test of it: its activations fade layer by layer and every score is ~0.24, or, with
BatchNorms calibrated on some frames, its boxes reach 1e23 px on others.) onnxruntime's
detections, post-processed in numpy, must match ``YOLOXEmbedHead.predict_by_feat`` and give
the same track rows. The post-processing is also checked by hand, and the graph's layout on a
random-init student at 160x96.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import mmcv
import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint
from onnx_testing import REPO, assert_tracks_match, cli_round_trip, parse_options

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mmdistillmot.apis.video_tracking import VideoTracker  # noqa: E402
from mmdistillmot.deployment.onnx_export import (  # noqa: E402
    default_input_shape,
    export_onnx,
    load_student,
)
from mmdistillmot.deployment.onnx_postprocess import (  # noqa: E402
    OnnxGraphInfo,
    postprocess_yolox,
)
from mmdistillmot.deployment.onnx_runner import OnnxVideoTracker  # noqa: E402

CONFIG = str(REPO / "configs" / "tdt" / "tdt_yolox-nano_embed_synthetic.py")
SCALE = "test_dataloader.dataset.pipeline.0.transforms.1.scale"
#: The real student at TUD-Campus's aspect ratio (640x480 -> 469x352, padded to 480x352).
REAL = [f"{SCALE}=(480,352)", "model.detector.init_cfg=None"]
#: The random-init student at 160x96 (graph layout only).
TINY = [f"{SCALE}=(160,96)", "model.detector.init_cfg=None"]


def _load_tool(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_yolox_export_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory, assets_root: Path) -> tuple[Path, Path]:
    """(checkpoint, onnx file) of the COCO YOLOX-Nano person detector + a seed-0 embedder."""
    out = tmp_path_factory.mktemp("yolox_onnx")
    converters = REPO / "tools" / "model_converters"
    coco, person = out / "yolox_nano_coco.pth", out / "yolox_nano_person.pth"
    convert = _load_tool(converters / "yolox_nano_onnx_to_mmdet.py")
    assert convert.main([str(assets_root / "weights" / "yolox_nano.onnx"), str(coco)]) == 0
    keep = _load_tool(converters / "yolox_keep_classes.py")
    assert keep.main([str(coco), str(person), "--classes", "person"]) == 0
    torch.manual_seed(0)
    model: Any = load_student(CONFIG, None, parse_options(REAL))
    load_checkpoint(model.detector, str(person), map_location="cpu", strict=False)
    checkpoint = out / "student.pth"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    assert default_input_shape(model.cfg) == (352, 480)
    onnx_file = out / "student.onnx"
    export_onnx(model, onnx_file, (352, 480))
    return checkpoint, onnx_file


def _tud_frames(assets_root: Path, count: int) -> list[np.ndarray]:
    frames = sorted((assets_root / "tud_campus" / "TUD-Campus" / "img1").iterdir())[:count]
    return [mmcv.imread(str(frame)) for frame in frames]


def test_graph_metadata(tmp_path: Path) -> None:
    import onnx

    torch.manual_seed(0)
    model = load_student(CONFIG, None, parse_options(TINY))
    onnx_file = tmp_path / "tiny.onnx"
    meta = export_onnx(model, onnx_file, (96, 160))
    assert meta["format"] == "tdt-yolox-embed/1"
    assert meta["output_names"] == ["boxes", "scores", "labels", "embeddings"]
    # strides 8, 16, 32 on 96 x 160: 12 x 20 + 6 x 10 + 3 x 5 priors
    assert meta["level_sizes"] == [240, 60, 15]
    assert meta["embed_dim"] == 128 and meta["num_classes"] == 1
    graph = onnx.load(str(onnx_file)).graph
    assert "NonMaxSuppression" not in {node.op_type for node in graph.node}  # NMS in numpy
    shapes = {
        out.name: [d.dim_value for d in out.type.tensor_type.shape.dim] for out in graph.output
    }
    assert shapes == {
        "boxes": [1, 315, 4],
        "scores": [1, 315],
        "labels": [1, 315],
        "embeddings": [1, 315, 128],
    }
    assert "YOLOX" in OnnxGraphInfo.from_metadata(meta).describe()


@pytest.mark.assets
def test_detections_match_pytorch(student: tuple[Path, Path], assets_root: Path) -> None:
    checkpoint, onnx_file = student
    onnx_tracker = OnnxVideoTracker(CONFIG, onnx_file, parse_options(REAL))
    torch_tracker = VideoTracker(CONFIG, str(checkpoint), cfg_options=parse_options(REAL))
    for frame_id, image in enumerate(_tud_frames(assets_root, 2)):
        inputs, sample = onnx_tracker.preprocess(image, frame_id, 2)
        assert inputs.shape == (3, 352, 480)  # exactly the graph's input: no extra padding
        dets, _ = onnx_tracker.detect(image, frame_id, 2)
        with torch.no_grad():
            (pred,) = torch_tracker.model.detector.predict(
                torch.from_numpy(inputs)[None], [sample], rescale=True
            )
        ref = pred.pred_instances
        # TUD-Campus's people (about 6 a frame) and YOLOX's low-score candidates (>= 0.01)
        assert len(ref) == len(dets.scores) and int((ref.scores > 0.5).sum()) >= 4
        np.testing.assert_allclose(dets.bboxes, ref.bboxes.numpy(), atol=1e-2)
        np.testing.assert_allclose(dets.scores, ref.scores.numpy(), atol=1e-4)
        np.testing.assert_allclose(dets.embeddings, ref.embeddings.numpy(), atol=1e-4)
        np.testing.assert_array_equal(dets.labels, ref.labels.numpy())


@pytest.mark.assets
def test_tracks_match_pytorch(student: tuple[Path, Path], assets_root: Path) -> None:
    checkpoint, onnx_file = student
    onnx_tracker = OnnxVideoTracker(CONFIG, onnx_file, parse_options(REAL))
    torch_tracker = VideoTracker(CONFIG, str(checkpoint), cfg_options=parse_options(REAL))
    frames = _tud_frames(assets_root, 4)
    assert assert_tracks_match(onnx_tracker, torch_tracker, frames) >= 4 * len(frames)


def test_postprocess_by_hand() -> None:
    """Score cut (>=), rescale without clipping, NMS at IoU 0.65, the cap, by descending score."""
    boxes = np.array(
        [
            [0, 0, 10, 20],  # kept (0.9)
            [0, 0, 10, 19],  # IoU 0.95 with the first: suppressed
            [20, 0, 30, 20],  # kept (0.5, exactly the threshold)
            [40, 0, 50, 20],  # below the threshold
            [-4, 0, 6, 20],  # IoU 0.43 with the first: kept (0.7), not clipped at 0
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.8, 0.5, 0.49, 0.7], dtype=np.float32)
    labels = np.zeros(5, dtype=np.int64)
    embeds = np.eye(5, 3, dtype=np.float32)
    cfg = dict(score_thr=0.5, nms=dict(type="nms", iou_threshold=0.65))
    dets = postprocess_yolox(boxes, scores, labels, embeds, cfg, scale_factor=(0.5, 0.5))
    np.testing.assert_allclose(dets.scores, [0.9, 0.7, 0.5])
    np.testing.assert_allclose(dets.bboxes, [[0, 0, 20, 40], [-8, 0, 12, 40], [40, 0, 60, 40]])
    np.testing.assert_array_equal(dets.embeddings, embeds[[0, 4, 2]])
    capped = postprocess_yolox(boxes, scores, labels, embeds, dict(cfg, max_per_img=2))
    np.testing.assert_allclose(capped.scores, [0.9, 0.7])
    np.testing.assert_allclose(capped.bboxes[1], [-4, 0, 6, 20])  # input pixels


@pytest.mark.assets
def test_cli_end_to_end(student: tuple[Path, Path], assets_root: Path, tmp_path: Path) -> None:
    checkpoint, _ = student
    source = assets_root / "tud_campus" / "TUD-Campus"
    cli_round_trip(CONFIG, checkpoint, source, tmp_path, REAL)


@pytest.mark.assets
def test_shape_from_a_frame_and_the_padding_warning(
    student: tuple[Path, Path], assets_root: Path, tmp_path: Path
) -> None:
    """YOLOX's square scale: 640x480 -> 416x312, padded to 416x320, not the scale's 416x416."""
    checkpoint, _ = student
    frames = assets_root / "tud_campus" / "TUD-Campus" / "img1"
    square = [f"{SCALE}=(416,416)", "model.detector.init_cfg=None"]
    export_cli = _load_tool(REPO / "tools" / "deployment" / "export_onnx.py")
    exact, default = tmp_path / "exact.onnx", tmp_path / "default.onnx"
    options = ["--cfg-options", *square]
    assert (
        export_cli.main(
            [CONFIG, str(checkpoint), str(exact), "--shape-from", str(frames), *options]
        )
        == 0
    )
    assert export_cli.main([CONFIG, str(checkpoint), str(default), *options]) == 0
    image = _tud_frames(assets_root, 1)[0]
    exact_tracker = OnnxVideoTracker(CONFIG, exact, parse_options(square))
    assert exact_tracker.detector.info.input_shape == (320, 416)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no padding beyond the preprocessor's
        exact_tracker.detect(image, 0, 1)
    default_tracker = OnnxVideoTracker(CONFIG, default, parse_options(square))
    assert default_tracker.detector.info.input_shape == (416, 416)
    with pytest.warns(UserWarning, match=r"320x416 but the ONNX input is 416x416.*--shape 320 416"):
        default_tracker.detect(image, 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        default_tracker.detect(image, 1, 2)
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"no jpeg here")
    argv = [CONFIG, str(checkpoint), str(default), "--shape-from", str(bad), *options]
    with pytest.raises(SystemExit, match="not_an_image.jpg: not a readable image"):
        export_cli.main(argv)
