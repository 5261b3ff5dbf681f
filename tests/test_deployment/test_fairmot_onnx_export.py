"""ONNX export of a tiny random-init FairMOT student: parity with PyTorch, tracks, distillers, CLIs.

The student is the synthetic FairMOT config (``fairmot_hrnetv2-w18_synthetic.py``: its
letterbox pipeline, ``TrackDataPreprocessor`` with ``pad_value`` 0.5, ``FairMOTHead`` decoding
and ``JDETracker``) shrunk to one block per HRNet stage at 8/16/32/64 channels, a 120-channel
neck, 16-channel branches and 32-d embeddings, at a 160x96 letterbox (the 320x180 test frames
are letterboxed x0.5 with 3 px bands on top and bottom, so ``letterbox_offset`` is exercised).
Its branch weights are drawn wider than FairMOT's init (std 0.001 gives every cell the same
score) and the ltrb bias makes person-shaped boxes, so that peaks, scores and boxes are
distinct and the tracker's ``min_box_area`` / ``max_aspect_ratio`` keep them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from mmengine.config import Config
from onnx_testing import (
    DISTILL_CONFIG,
    DISTILL_TINY,
    FAIRMOT_CONFIG,
    FAIRMOT_TINY,
    REPO,
    TDT_CONFIG,
    assert_same_rows,
    assert_tracks_match,
    cli_round_trip,
)
from onnx_testing import load_cli as _load_cli
from onnx_testing import parse_options as _parse
from torch import nn

CONFIG, TINY = FAIRMOT_CONFIG, FAIRMOT_TINY

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mmdistillmot.apis.video_tracking import VideoTracker  # noqa: E402
from mmdistillmot.datasets.mot_files import read_mot_file  # noqa: E402
from mmdistillmot.deployment.onnx_export import (  # noqa: E402
    default_input_shape,
    export_onnx,
    load_student,
    student_config,
)
from mmdistillmot.deployment.onnx_runner import OnnxVideoTracker  # noqa: E402


def _spread(head: Any) -> None:
    """Wider branch weights, spread heatmap logits, person-shaped boxes (ltrb ~ 2, 4, 2, 4)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for branch in (head.heatmap_head, head.wh_head, head.offset_head, head.id_head):
            for module in branch.modules():
                if isinstance(module, nn.Conv2d):
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
                    module.weight.mul_(0.25)
        head.heatmap_head[0].weight.mul_(200.0)  # the random-init neck's map is ~0.005
        head.heatmap_head[-1].bias.fill_(-3.0)
        head.wh_head[-1].bias.copy_(torch.tensor([2.0, 4.0, 2.0, 4.0]))


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """(checkpoint, onnx file, export metadata) of the tiny FairMOT student, seed 0."""
    out = tmp_path_factory.mktemp("fairmot_onnx")
    torch.manual_seed(0)
    model: Any = load_student(CONFIG, None, _parse(TINY))
    _spread(model.bbox_head)
    checkpoint = out / "tiny.pth"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    onnx_file = out / "tiny.onnx"
    assert default_input_shape(model.cfg) == (96, 160)  # the Letterbox scale
    meta = export_onnx(model, onnx_file, (96, 160))
    return checkpoint, onnx_file, meta


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    # a slowly moving scene, so tracks persist
    return [np.roll(base, 4 * i, axis=1) for i in range(count)]


def test_graph_metadata(student: tuple[Path, Path, dict]) -> None:
    import onnx

    _, onnx_file, meta = student
    assert meta["format"] == "fairmot-centernet/1"
    assert meta["output_names"] == ["boxes", "scores", "labels", "embeddings"]
    assert meta["feat_shape"] == [24, 40] and meta["candidates"] == 60
    assert meta["test_cfg"] == dict(topk=60, score_thr=0.01, local_maximum_kernel=3)
    graph = onnx.load(str(onnx_file)).graph
    ops = {node.op_type for node in graph.node}
    assert {"MaxPool", "TopK"} <= ops  # peak suppression and top-k are in the graph
    shapes = {
        out.name: [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim]
        for out in graph.output
    }
    assert shapes["boxes"][-1] == 4 and shapes["embeddings"][-1] == 32


def test_detections_match_pytorch(student: tuple[Path, Path, dict]) -> None:
    checkpoint, onnx_file, _ = student
    onnx_tracker = OnnxVideoTracker(CONFIG, onnx_file, _parse(TINY))
    torch_tracker = VideoTracker(CONFIG, str(checkpoint), cfg_options=_parse(TINY))
    for frame_id, image in enumerate(_frames(2)):
        inputs, sample = onnx_tracker.preprocess(image, frame_id, 2)
        assert sample.metainfo["scale_factor"] == (0.5, 0.5)
        assert sample.metainfo["letterbox_offset"] == (0.0, 3.0)
        dets, _ = onnx_tracker.detect(image, frame_id, 2)
        with torch.no_grad():
            (ref,) = torch_tracker.model.predict_detections(
                torch.from_numpy(inputs)[None], [sample], rescale=True
            )
        assert 10 < len(ref) == len(dets.scores) <= 60
        assert float(ref.scores.max() - ref.scores.min()) > 0.1  # distinct peaks, no near-ties
        np.testing.assert_allclose(dets.bboxes, ref.bboxes.numpy(), atol=1e-2)
        np.testing.assert_allclose(dets.scores, ref.scores.numpy(), atol=1e-4)
        np.testing.assert_allclose(dets.embeddings, ref.embeddings.numpy(), atol=1e-4)
        np.testing.assert_array_equal(dets.labels, ref.labels.numpy())


def test_tracks_match_pytorch(student: tuple[Path, Path, dict]) -> None:
    checkpoint, onnx_file, _ = student
    onnx_tracker = OnnxVideoTracker(CONFIG, onnx_file, _parse(TINY))
    torch_tracker = VideoTracker(CONFIG, str(checkpoint), cfg_options=_parse(TINY))
    # the same JDETracker settings as the PyTorch model's config
    assert vars(onnx_tracker.tracker).keys() == vars(torch_tracker.model.tracker).keys()
    for key in ("obj_score_thr", "min_box_area", "max_aspect_ratio", "track_buffer"):
        assert getattr(onnx_tracker.tracker, key) == getattr(torch_tracker.model.tracker, key)
    assert onnx_tracker.describe_thresholds(15.0) == torch_tracker.describe_thresholds(15.0)
    assert assert_tracks_match(onnx_tracker, torch_tracker, _frames(4)) > 0


def test_distiller_exports_student_only(student: tuple[Path, Path, dict], tmp_path: Path) -> None:
    import onnx

    checkpoint, _, _ = student
    cfg = Config.fromfile(DISTILL_CONFIG)
    assert student_config(student_config(cfg)).model.type == "FairMOT"
    # the distillation config builds its student only: no DINOv2, no connector
    model: Any = load_student(DISTILL_CONFIG, str(checkpoint), _parse(DISTILL_TINY))
    assert type(model).__name__ == "FairMOT"
    assert not any("teacher" in n or "connector" in n for n, _ in model.named_parameters())
    # a built distiller (random-init DINOv2 teacher) is unwrapped to its student
    from mmdet.registry import MODELS

    distill_cfg = Config.fromfile(DISTILL_CONFIG)
    distill_cfg.merge_from_dict(_parse(DISTILL_TINY))
    distiller = MODELS.build(distill_cfg.model).eval()
    distiller.student.load_state_dict(model.state_dict())
    meta = export_onnx(distiller, tmp_path / "distilled.onnx", (96, 160))
    assert meta["exported"] == "FairMOT" and meta["unwrapped"] == "FeatureDistiller"
    names = [init.name for init in onnx.load(str(tmp_path / "distilled.onnx")).graph.initializer]
    assert names and not any("teacher" in n or "connector" in n for n in names)
    # and the teacher itself is refused, in one line
    with pytest.raises(ValueError, match="refusing to export a teacher"):
        export_onnx(distiller.teacher, tmp_path / "teacher.onnx", (96, 160))
    # the distillation config tracks with the student's pipeline and tracker
    onnx_tracker = OnnxVideoTracker(
        DISTILL_CONFIG, tmp_path / "distilled.onnx", _parse(DISTILL_TINY)
    )
    plain = OnnxVideoTracker(CONFIG, tmp_path / "distilled.onnx", _parse(TINY))
    image = _frames(1)[0]
    got, _ = onnx_tracker.detect(image, 0, 1)
    want, _ = plain.detect(image, 0, 1)
    np.testing.assert_array_equal(got.bboxes, want.bboxes)


def test_config_must_fit_graph(student: tuple[Path, Path, dict]) -> None:
    _, onnx_file, _ = student
    with pytest.raises(ValueError, match="fairmot-centernet/1 graph but .* tdt-retina-embed/1"):
        OnnxVideoTracker(TDT_CONFIG, onnx_file)
    with pytest.raises(ValueError, match="topk=100, but the ONNX graph was exported with 60"):
        OnnxVideoTracker(CONFIG, onnx_file, _parse([*TINY, "model.bbox_head.test_cfg.topk=100"]))
    # the score threshold is applied in numpy: the config's value is used
    raised = OnnxVideoTracker(
        CONFIG, onnx_file, _parse([*TINY, "model.bbox_head.test_cfg.score_thr=0.6"])
    )
    dets, _ = raised.detect(_frames(1)[0], 0, 1)
    assert len(dets.scores) > 0 and dets.scores.min() > 0.6


def test_cli_end_to_end(
    student: tuple[Path, Path, dict],
    tiny_synthetic_mot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    checkpoint, _, _ = student
    (source,) = sorted((tiny_synthetic_mot / "val").iterdir())
    options = [*TINY, "model.tracker.obj_score_thr=0.0"]
    track_cli, _, sequence = cli_round_trip(CONFIG, checkpoint, source, tmp_path, options)
    # the distillation config exports its student (one line says so) and tracks with it
    export_cli = _load_cli("export_onnx", REPO / "tools" / "deployment" / "export_onnx.py")
    distilled, distilled_txt = tmp_path / "distilled.onnx", tmp_path / "distilled.txt"
    distill_options = ["--cfg-options", *DISTILL_TINY, "model.student.tracker.obj_score_thr=0.0"]
    capsys.readouterr()
    args = [DISTILL_CONFIG, str(checkpoint), str(distilled), *distill_options]
    assert export_cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "FeatureDistiller config, exporting its student (FairMOT)" in printed
    assert "the teacher is not built" in printed
    args = [DISTILL_CONFIG, str(sequence), "--onnx", str(distilled), "--txt", str(distilled_txt)]
    assert track_cli.main([*args, *distill_options]) == 0
    got = read_mot_file(distilled_txt).rows
    assert_same_rows(got, read_mot_file(tmp_path / "onnx.txt").rows, conf_atol=None)


def test_checkpoint_must_fit(student: tuple[Path, Path, dict]) -> None:
    checkpoint, _, _ = student
    # another embedding size would leave id_head's last conv at its random init: refused
    with pytest.raises(ValueError, match=r"does not fit the config: 2 tensors .*id_head"):
        load_student(CONFIG, str(checkpoint), _parse([*TINY, "model.bbox_head.embed_dims=16"]))
    # the identity classifier (training only) may differ: the number of identities
    model: Any = load_student(
        CONFIG, str(checkpoint), _parse([*TINY, "model.bbox_head.num_identities=5"])
    )
    assert model.bbox_head.classifier.out_features == 5
