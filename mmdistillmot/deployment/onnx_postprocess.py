"""``RetinaEmbedHead.predict_by_feat`` in numpy, for the ONNX graph's per-anchor outputs.

The exported graph (:mod:`mmdistillmot.deployment.onnx_export`) stops before any data-dependent
step; this module does them exactly as mmdet 3.3 does for one image:

1. per FPN level, the (anchor, class) pairs scoring above ``score_thr``, sorted by score, the
   first ``nms_pre`` kept (``filter_scores_and_topk``, including its ``[:min(nms_pre, K)]``);
2. boxes clipped to the resized image ``img_shape`` (``delta2bbox``'s ``max_shape``);
3. with ``rescale``, divided by ``scale_factor`` (original-image pixels);
4. boxes not wider and higher than ``min_bbox_size`` dropped (when it is ``>= 0``);
5. per-class NMS (mmcv's ``nms``: greedy by descending score, IoU ``> iou_threshold``
   suppresses) and the first ``max_per_img`` kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Detections", "OnnxGraphInfo", "nms", "postprocess_detections"]


@dataclass
class OnnxGraphInfo:
    """What the ONNX file's metadata says about the graph.

    Attributes:
        input_shape: ``(H, W)`` of the input.
        level_sizes: Anchors per FPN level, in output order.
        num_classes: Score columns.
        embed_dim: Embedding size ``D_s``.
        test_cfg: The head's ``test_cfg`` at export (``score_thr``, ``nms_pre``, ``nms``,
            ``max_per_img``, ``min_bbox_size``).
    """

    input_shape: tuple[int, int]
    level_sizes: list[int]
    num_classes: int
    embed_dim: int
    test_cfg: dict[str, Any]

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> OnnxGraphInfo:
        """Read :meth:`OnnxDetectorGraph.metadata`'s dict."""
        height, width = meta["input_shape"]
        return cls(
            input_shape=(int(height), int(width)),
            level_sizes=[int(n) for n in meta["level_sizes"]],
            num_classes=int(meta["num_classes"]),
            embed_dim=int(meta["embed_dim"]),
            test_cfg=dict(meta["test_cfg"]),
        )


@dataclass
class Detections:
    """One image's detections (numpy).

    Attributes:
        bboxes: [K, 4] xyxy float32.
        scores: [K] float32.
        labels: [K] int64.
        embeddings: [K, D] float32, unit norm.
    """

    bboxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    embeddings: np.ndarray


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS as mmcv's ``nms`` (offset 0): indices kept, by descending score.

    Args:
        boxes: [K, 4] xyxy.
        scores: [K].
        iou_threshold: A box whose IoU with a kept box is above it is suppressed.

    Returns:
        [M] int64 indices into ``boxes``.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1 :]
        rest = rest[~suppressed[rest]]
        if rest.size == 0:
            continue
        width = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        height = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = width * height
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou > iou_threshold]] = True
    return np.asarray(keep, dtype=np.int64)


def _batched_nms(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, nms_cfg: dict[str, Any]
) -> np.ndarray:
    """mmcv's ``batched_nms``: NMS per class (boxes offset by class), by descending score."""
    if nms_cfg.get("type", "nms") != "nms":
        raise ValueError(f"only test_cfg.nms.type='nms' is supported, got {nms_cfg['type']!r}")
    if nms_cfg.get("class_agnostic", False):
        shifted = boxes
    else:
        offsets = labels.astype(boxes.dtype) * (boxes.max() + 1)
        shifted = boxes + offsets[:, None]
    return nms(shifted, scores, float(nms_cfg["iou_threshold"]))


def postprocess_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    embeddings: np.ndarray,
    info: OnnxGraphInfo,
    img_shape: tuple[int, int],
    scale_factor: tuple[float, float] | None = None,
    test_cfg: dict[str, Any] | None = None,
) -> Detections:
    """One image's detections from the graph's per-anchor outputs.

    Args:
        boxes: [N, 4] decoded xyxy boxes in input pixels (the graph's ``boxes[0]``).
        scores: [N, C] sigmoid scores.
        embeddings: [N, D] unit-norm embeddings.
        info: The graph's levels (``level_sizes`` sum to N) and default ``test_cfg``.
        img_shape: ``(h, w)`` of the resized frame before padding (boxes are clipped to it).
        scale_factor: ``(w_scale, h_scale)`` of the resize; given, boxes are returned in
            original-image pixels (``rescale=True``), else in input pixels.
        test_cfg: Overrides ``info.test_cfg`` (e.g. the config's, after ``--cfg-options``).

    Returns:
        The detections, by descending score, at most ``max_per_img``.
    """
    cfg = dict(info.test_cfg if test_cfg is None else test_cfg)
    nms_pre = int(cfg.get("nms_pre", -1))
    score_thr = float(cfg.get("score_thr", 0))
    if sum(info.level_sizes) != len(boxes):
        raise ValueError(f"{len(boxes)} anchors, but the levels hold {sum(info.level_sizes)}")
    kept_anchor, kept_label, kept_score = [], [], []
    start = 0
    for size in info.level_sizes:
        level = scores[start : start + size]
        anchor, label = np.nonzero(level > score_thr)
        values = level[anchor, label]
        order = np.argsort(-values, kind="stable")
        order = order[: min(nms_pre, len(order))]  # as filter_scores_and_topk
        kept_anchor.append(anchor[order] + start)
        kept_label.append(label[order])
        kept_score.append(values[order])
        start += size
    index = np.concatenate(kept_anchor)
    labels = np.concatenate(kept_label).astype(np.int64)
    kept_scores = np.concatenate(kept_score).astype(np.float32)
    kept_boxes = boxes[index].astype(np.float32)
    height, width = img_shape
    kept_boxes[:, 0::2] = kept_boxes[:, 0::2].clip(0, width)
    kept_boxes[:, 1::2] = kept_boxes[:, 1::2].clip(0, height)
    if scale_factor is not None:
        inverse = np.array([1 / scale_factor[0], 1 / scale_factor[1]] * 2, dtype=np.float32)
        kept_boxes = kept_boxes * inverse
    kept_embeds = embeddings[index].astype(np.float32)
    min_size = cfg.get("min_bbox_size", -1)
    if min_size is not None and min_size >= 0:
        valid = ((kept_boxes[:, 2] - kept_boxes[:, 0]) > min_size) & (
            (kept_boxes[:, 3] - kept_boxes[:, 1]) > min_size
        )
        kept_boxes, kept_scores = kept_boxes[valid], kept_scores[valid]
        labels, kept_embeds = labels[valid], kept_embeds[valid]
    if len(kept_boxes) > 0 and cfg.get("nms") is not None:
        keep = _batched_nms(kept_boxes, kept_scores, labels, dict(cfg["nms"]))
        keep = keep[: int(cfg.get("max_per_img", len(keep)))]
        kept_boxes, kept_scores = kept_boxes[keep], kept_scores[keep]
        labels, kept_embeds = labels[keep], kept_embeds[keep]
    return Detections(kept_boxes, kept_scores, labels, kept_embeds)
