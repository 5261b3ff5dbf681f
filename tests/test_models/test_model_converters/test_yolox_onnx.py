"""The YOLOX ONNX converter: Conv nodes in execution order -> mmdet YOLOX, neutral BN, strictly.

Without assets: a tiny hand-built graph (Conv 3x3 + SiLU, Conv 1x1; onnx.helper) checked key by
key, run by onnxruntime against the torch modules it was converted into; the failures (shape,
stride, count, unfolded BN, not ONNX), each one line naming the file and the tensor; and a
synthetic graph with the layout of mmdet's YOLOX-Nano (113 Conv nodes, random weights) that
converts into a checkpoint loading with strict=True.

With the real assets (``../shared/assets``, marked ``assets``): the converted YOLOX-Nano against
onnxruntime on the 23 MOT17 frames of ``mot17_mini``, same letterboxed 416x416 BGR 0-255 input.
The comparison is on the raw ``[1, 3549, 85]`` outputs with the mmdet head's per-level outputs
arranged like the ONNX output (box offsets / log sizes raw, objectness and classes after a
sigmoid; ``yolox_onnx_layout``), the strictest check: decoding multiplies box values by up to
32 and exponentiates sizes. Decoded boxes are then checked by SOURCES.md's person protocol
(484 pedestrians with visibility >= 0.25, score = objectness x class 0 > 0.25, NMS 0.45, IoU
0.5: recall 0.38 / precision 0.78), both on our decoding of the raw outputs and through mmdet's
own test pipeline and ``predict`` (the config as tools/test.py builds it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.runner import load_checkpoint
from torch import nn
from yolox_onnx_testing import write_layout_graph, write_tiny_graph

from mmdistillmot.models.model_converters import (
    YOLOXOnnxConversionError,
    convert_yolox_convs,
    convert_yolox_onnx_file,
    letterbox_bgr,
    module_conv_slots,
    onnxruntime_outputs,
    read_onnx_convs,
    yolox_conv_slots,
    yolox_raw_outputs,
)

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "configs" / "yolox" / "yolox_nano_416_coco-onnx.py"
EPS = 1e-3
#: SOURCES.md's measured person recall / precision of the ONNX model at 416, and the tolerance.
RECALL, PRECISION, TOLERANCE = 0.38, 0.78, 0.03


class Tiny(nn.Module):
    """A folded ConvModule (3x3, BN eps 1e-3, Swish) and a 1x1 predictor with bias."""

    def __init__(self, stride_b: int = 1) -> None:
        super().__init__()
        self.a = ConvModule(
            3, 4, 3, padding=1, norm_cfg=dict(type="BN", eps=EPS), act_cfg=dict(type="Swish")
        )
        self.b = nn.Conv2d(4, 2, 1, stride=stride_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def _tiny_weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    w_a = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b_a = rng.standard_normal(4).astype(np.float32)
    w_b = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
    b_b = rng.standard_normal(2).astype(np.float32)
    return w_a, b_a, w_b, b_b


def _tiny_slots(model: Tiny):
    return module_conv_slots("a", model.a) + module_conv_slots("b", model.b)


def _convert_tiny(path: Path, model: Tiny):
    graph = read_onnx_convs(path)
    return convert_yolox_convs(graph.convs, _tiny_slots(model), model.state_dict(), str(path))


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- tiny graph
def test_tiny_graph_maps_key_by_key_with_neutral_bn(tmp_path: Path) -> None:
    w_a, b_a, w_b, b_b = _tiny_weights()
    path = write_tiny_graph(tmp_path / "tiny.onnx", w_a, b_a, w_b, b_b)
    model = Tiny()
    conversion = _convert_tiny(path, model)
    sd = conversion.state_dict
    assert list(sd) == list(model.state_dict())  # every key, in the model's order
    assert torch.equal(sd["a.conv.weight"], torch.from_numpy(w_a))
    assert torch.equal(sd["a.bn.weight"], torch.ones(4))
    assert torch.equal(sd["a.bn.bias"], torch.from_numpy(b_a))  # the fused bias
    assert torch.equal(sd["a.bn.running_mean"], torch.zeros(4))
    assert torch.equal(sd["a.bn.running_var"], torch.full((4,), 1 - EPS))
    assert sd["a.bn.num_batches_tracked"].item() == 0
    assert torch.equal(sd["b.weight"], torch.from_numpy(w_b))
    assert torch.equal(sd["b.bias"], torch.from_numpy(b_b))
    assert conversion.origin["a.conv.weight"] == "Conv_a:w_a"
    assert conversion.origin["a.bn.bias"] == "Conv_a:b_a"
    assert conversion.origin["b.bias"] == "Conv_b:b_b"
    assert conversion.zero_biases == []

    # the neutral BN makes the mmcv ConvModule compute exactly what the folded graph does
    model.load_state_dict(sd, strict=True)
    model.eval()
    x = np.random.default_rng(1).uniform(0, 255, (1, 3, 8, 8)).astype(np.float32)
    expected = onnxruntime_outputs(path, x)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_tiny_graph_without_bias_gets_zero_bn_bias(tmp_path: Path) -> None:
    w_a, _, w_b, b_b = _tiny_weights()
    path = write_tiny_graph(tmp_path / "nobias.onnx", w_a, None, w_b, b_b)
    conversion = _convert_tiny(path, Tiny())
    assert torch.equal(conversion.state_dict["a.bn.bias"], torch.zeros(4))
    assert conversion.zero_biases == ["a.bn.bias"]


def test_shape_mismatch_names_the_file_and_the_first_tensor(tmp_path: Path) -> None:
    w_a, b_a, _, b_b = _tiny_weights()
    w_b = np.zeros((2, 4, 3, 3), np.float32)  # a 3x3 where the model has a 1x1 predictor
    path = write_tiny_graph(tmp_path / "wrong.onnx", w_a, b_a, w_b, b_b)
    with pytest.raises(YOLOXOnnxConversionError) as err:
        _convert_tiny(path, Tiny())
    message = _one_line(err)
    assert message.startswith(f"{path}: Conv node #1 'Conv_b' (weight 'w_b') -> mmdet 'b.weight'")
    assert "(2, 4, 3, 3)" in message and "(2, 4, 1, 1)" in message


def test_stride_mismatch_is_refused(tmp_path: Path) -> None:
    w_a, b_a, w_b, b_b = _tiny_weights()
    path = write_tiny_graph(tmp_path / "stride.onnx", w_a, b_a, w_b, b_b, stride_b=2)
    needs = r"strides \(2, 2\), the model needs \(1, 1\)"
    with pytest.raises(YOLOXOnnxConversionError, match=needs):
        _convert_tiny(path, Tiny())


def test_count_mismatch_is_refused(tmp_path: Path) -> None:
    w_a, b_a, w_b, b_b = _tiny_weights()
    path = write_tiny_graph(tmp_path / "tiny.onnx", w_a, b_a, w_b, b_b)
    model = Tiny()
    graph = read_onnx_convs(path)
    with pytest.raises(YOLOXOnnxConversionError, match=r"2 Conv nodes, but the target model has 1"):
        convert_yolox_convs(graph.convs, _tiny_slots(model)[:1], model.state_dict(), str(path))


def test_unfolded_batchnorm_and_non_onnx_files_are_refused(tmp_path: Path) -> None:
    w_a, b_a, w_b, b_b = _tiny_weights()
    path = write_tiny_graph(tmp_path / "bn.onnx", w_a, b_a, w_b, b_b, with_bn=True)
    with pytest.raises(YOLOXOnnxConversionError) as err:
        read_onnx_convs(path)
    assert _one_line(err).startswith(f"{path}: has 1 BatchNormalization nodes")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf" * 10)
    with pytest.raises(YOLOXOnnxConversionError) as err:
        read_onnx_convs(junk)
    assert _one_line(err).startswith(f"{junk}: cannot be read as an ONNX model")
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        read_onnx_convs(tmp_path / "missing.onnx")


# ---------------------------------------------------------------------------- YOLOX-Nano layout
@pytest.fixture(scope="module")
def nano_cfg() -> Config:
    return Config.fromfile(str(CONFIG))


def _nano(cfg: Config) -> nn.Module:
    return MODELS.build(cfg.model)


def test_nano_slots_follow_the_official_forward_order(nano_cfg: Config) -> None:
    model = _nano(nano_cfg)
    slots = yolox_conv_slots(model)
    names = [slot.prefix for slot in slots]
    assert len(slots) == 113  # the Conv nodes of yolox_nano.onnx (SOURCES.md)
    assert len(model.state_dict()) == 642
    expected = {
        0: "backbone.stem.conv",  # Focus conv, 12 input channels
        1: "backbone.stage1.0.depthwise_conv",
        3: "backbone.stage1.1.main_conv",  # official CSPLayer conv1 runs first
        4: "backbone.stage1.1.short_conv",
        5: "backbone.stage1.1.blocks.0.conv1",
        8: "backbone.stage1.1.final_conv",
        39: "backbone.stage4.1.conv1",  # SPP
        40: "backbone.stage4.1.conv2",
        47: "neck.reduce_layers.0",  # lateral_conv0
        48: "neck.top_down_blocks.0.main_conv",  # C3_p4
        54: "neck.reduce_layers.1",  # reduce_conv1
        61: "neck.downsamples.0.depthwise_conv",  # bu_conv2
        69: "neck.downsamples.1.depthwise_conv",  # bu_conv1
        76: "neck.bottom_up_blocks.1.final_conv",
        77: "neck.out_convs.0",  # the head's stem of level 0 runs right before its convs
        78: "bbox_head.multi_level_cls_convs.0.0.depthwise_conv",
        82: "bbox_head.multi_level_conv_cls.0",
        83: "bbox_head.multi_level_reg_convs.0.0.depthwise_conv",
        87: "bbox_head.multi_level_conv_reg.0",
        88: "bbox_head.multi_level_conv_obj.0",
        89: "neck.out_convs.1",
        101: "neck.out_convs.2",
        112: "bbox_head.multi_level_conv_obj.2",
    }
    assert {i: names[i] for i in expected} == expected
    assert len(set(names)) == len(names)
    with_bn = [slot for slot in slots if slot.norm_name]
    assert len(with_bn) == 104 and {slot.eps for slot in with_bn} == {EPS}


def test_synthetic_nano_graph_converts_into_a_strict_checkpoint(
    tmp_path: Path, nano_cfg: Config
) -> None:
    model = _nano(nano_cfg)
    slots = yolox_conv_slots(model)
    src = tmp_path / "nano_layout.onnx"
    written = write_layout_graph(src, slots, seed=3)
    result = convert_yolox_onnx_file(src, tmp_path / "out" / "nano.pth", model)
    assert (result.num_convs, result.num_tensors) == (113, 642)
    assert result.source_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()

    fresh = _nano(nano_cfg)
    checkpoint = load_checkpoint(fresh, str(result.path), map_location="cpu", strict=True)
    meta = checkpoint["meta"]
    assert meta["source_sha256"] == result.source_sha256
    assert meta["dataset_meta"]["classes"][0] == "person"
    assert len(meta["dataset_meta"]["classes"]) == 80
    assert meta["source_format"] == "ONNX opset 11 (mmdistillmot-tests)"
    sd = fresh.state_dict()
    for slot, (weight, bias) in zip(slots, written):  # node i -> slot i, key by key
        assert torch.equal(sd[slot.weight_key], torch.from_numpy(weight)), slot.prefix
        if slot.norm_name:
            bn = f"{slot.prefix}.{slot.norm_name}"
            assert torch.equal(sd[f"{bn}.bias"], torch.from_numpy(bias)), bn
            assert torch.equal(sd[f"{bn}.weight"], torch.ones_like(sd[f"{bn}.weight"]))
            assert torch.equal(sd[f"{bn}.running_mean"], torch.zeros_like(sd[f"{bn}.bias"]))
            assert torch.allclose(sd[f"{bn}.running_var"], torch.full_like(sd[f"{bn}.bias"], 0.999))
        else:
            assert torch.equal(sd[f"{slot.prefix}.bias"], torch.from_numpy(bias)), slot.prefix


def test_synthetic_nano_graph_with_one_wrong_tensor_fails_at_it(
    tmp_path: Path, nano_cfg: Config
) -> None:
    model = _nano(nano_cfg)
    slots = yolox_conv_slots(model)
    src = tmp_path / "bad.onnx"

    def widen(index: int, weight: np.ndarray) -> np.ndarray:
        return np.concatenate([weight, weight], axis=1) if index in (50, 90) else weight

    write_layout_graph(src, slots, mutate=widen)
    out = tmp_path / "never.pth"
    with pytest.raises(YOLOXOnnxConversionError) as err:
        convert_yolox_onnx_file(src, out, model)
    message = _one_line(err)
    assert message.startswith(f"{src}: Conv node #50 'Conv_50' (weight 'w50') -> mmdet ")
    assert f"'{slots[50].weight_key}'" in message
    assert not out.exists()


# ---------------------------------------------------------------------------- real assets
def _mot17_frames(root: Path) -> list[tuple[Path, np.ndarray]]:
    """(frame, gt boxes ``[M, 4]`` x1y1x2y2) of every mot17_mini frame: pedestrians, vis >= 0.25."""
    frames = []
    for seq in sorted((root / "mot17_mini" / "train").iterdir()):
        gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
        for image in sorted((seq / "img1").glob("*.jpg")):
            rows = gt[(gt[:, 0] == int(image.stem)) & (gt[:, 6] == 1) & (gt[:, 7] == 1)]
            rows = rows[rows[:, 8] >= 0.25]
            frames.append((image, np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], 1)))
    return frames


def _decode_persons(raw: np.ndarray, ratio: float, size: int = 416) -> tuple[np.ndarray, ...]:
    """Raw ``[N, 85]`` -> person boxes in the original image and scores (obj x class 0)."""
    from torchvision.ops import nms

    grids, strides = [], []
    for level_stride in (8, 16, 32):
        n = size // level_stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), level_stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    centre = (raw[:, :2] + grid) * stride
    half = np.exp(raw[:, 2:4]) * stride / 2
    decoded = (np.concatenate([centre - half, centre + half], 1) / ratio).astype(np.float32)
    person = (raw[:, 4] * raw[:, 5]).astype(np.float32)
    keep = person > 0.25
    boxes, scores = torch.from_numpy(decoded[keep]), torch.from_numpy(person[keep])
    kept = nms(boxes, scores, 0.45)
    return boxes[kept].numpy(), scores[kept].numpy()


def _true_positives(boxes: np.ndarray, scores: np.ndarray, gt: np.ndarray) -> int:
    """Greedy matching by score at IoU >= 0.5, each ground-truth box matched once."""
    from torchvision.ops import box_iou

    if not len(boxes) or not len(gt):
        return 0
    order = np.argsort(-scores, kind="stable")
    ious = box_iou(torch.from_numpy(boxes[order]).double(), torch.from_numpy(gt).double()).numpy()
    used = np.zeros(len(gt), bool)
    for row in ious:
        free = np.flatnonzero(~used & (row >= 0.5))
        if len(free):
            used[free[np.argmax(row[free])]] = True
    return int(used.sum())


@pytest.mark.assets
def test_real_yolox_nano_matches_onnxruntime_and_finds_people(
    assets_root: Path, tmp_path: Path, nano_cfg: Config
) -> None:
    import cv2
    import onnxruntime
    from mmdet.apis import inference_detector, init_detector

    src = assets_root / "weights" / "yolox_nano.onnx"
    result = convert_yolox_onnx_file(src, tmp_path / "yolox_nano.pth", _nano(nano_cfg))
    assert result.source_sha256 == (
        "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
    )
    assert (result.num_convs, result.num_tensors) == (113, 642)
    model = _nano(nano_cfg)
    load_checkpoint(model, str(result.path), map_location="cpu", strict=True)
    model.eval()
    # mmdet's own path: the config's test pipeline (Resize 416 keeping the ratio, Pad 114
    # bottom / right), data preprocessor and predict_by_feat, at the protocol's thresholds
    detector = init_detector(nano_cfg, str(result.path), device="cpu")
    assert detector.dataset_meta["classes"][0] == "person"
    detector.bbox_head.test_cfg = ConfigDict(
        score_thr=0.25, nms=dict(type="nms", iou_threshold=0.45), max_per_img=1000
    )

    session = onnxruntime.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    frames = _mot17_frames(assets_root)
    assert len(frames) == 23
    worst, num_gt = 0.0, 0
    counts: dict[str, list[int]] = {"onnx": [0, 0], "ours": [0, 0], "mmdet": [0, 0]}  # TP, dets
    for image_path, gt in frames:
        image = cv2.imread(str(image_path))
        assert image is not None, image_path
        inputs, ratio = letterbox_bgr(image, 416)
        expected = onnxruntime_outputs(src, inputs, session)
        got = yolox_raw_outputs(model, torch.from_numpy(inputs)).numpy()
        assert got.shape == expected.shape == (1, 3549, 85)
        worst = max(worst, float(np.abs(got - expected).max()))
        num_gt += len(gt)
        for key, raw in (("onnx", expected[0]), ("ours", got[0])):
            boxes, scores = _decode_persons(raw, ratio)
            counts[key][0] += _true_positives(boxes, scores, gt)
            counts[key][1] += len(boxes)
        persons = inference_detector(detector, str(image_path)).pred_instances
        persons = persons[persons.labels == 0]
        boxes, scores = persons.bboxes.numpy(), persons.scores.numpy()
        counts["mmdet"][0] += _true_positives(boxes, scores, gt)
        counts["mmdet"][1] += len(boxes)
    assert worst <= 1e-3, f"max abs difference to onnxruntime {worst:.3g}"
    assert num_gt == 484
    for key, (true_positives, detections) in counts.items():
        recall, precision = true_positives / num_gt, true_positives / max(detections, 1)
        assert abs(recall - RECALL) <= TOLERANCE, f"{key}: recall {recall:.3f} ({counts})"
        assert abs(precision - PRECISION) <= TOLERANCE, f"{key}: precision {precision:.3f}"
    assert counts["ours"] == counts["onnx"]  # the same detections after decoding
