"""The data-dependent end of the students' post-processing, in numpy, after the ONNX graph.

Three graph formats (:mod:`mmdistillmot.deployment.onnx_export`), told apart by the file's
metadata (:attr:`OnnxGraphInfo.format`); :func:`postprocess` picks the right one.

TDT (:data:`TDT_FORMAT`, RetinaNet + ``RetinaEmbedHead``): the graph stops before any
data-dependent step, and :func:`postprocess_detections` does them exactly as mmdet 3.3's
``predict_by_feat`` does for one image:

1. per FPN level, the (anchor, class) pairs scoring above ``score_thr``, sorted by score, the
   first ``nms_pre`` kept (``filter_scores_and_topk``, including its ``[:min(nms_pre, K)]``);
2. boxes clipped to the resized image ``img_shape`` (``delta2bbox``'s ``max_shape``);
3. with ``rescale``, divided by ``scale_factor`` (original-image pixels);
4. boxes not wider and higher than ``min_bbox_size`` dropped (when it is ``>= 0``);
5. per-class NMS (mmcv's ``nms``: greedy by descending score, IoU ``> iou_threshold``
   suppresses) and the first ``max_per_img`` kept.

TDT on YOLOX (:data:`YOLOX_FORMAT`, ``YOLOXEmbedHead``): the graph gives every prior's decoded
box, YOLOX's score (max class score x objectness) with its class, and its embedding;
:func:`postprocess_yolox` does the rest of ``YOLOXEmbedHead.predict_by_feat`` (YOLOXHead's
``_bbox_post_process``): the ``score >= score_thr`` cut, the division by ``scale_factor`` (no
clipping, as YOLOX), per-class NMS and the optional ``max_per_img``.

FairMOT (:data:`FAIRMOT_FORMAT`, ``FairMOTHead``): the graph already holds the heatmap's 3x3
max-pool peak suppression and the top-``topk`` peaks (fixed-shape operations), decoded to boxes
in input pixels with their labels and unit-norm embeddings; :func:`postprocess_centernet` does
the rest of ``FairMOTHead.predict_by_feat``: the ``score_thr`` cut and the mapping back to
original-image pixels (minus ``letterbox_offset``, divided by ``scale_factor``). Boxes are not
clipped, as in the PyTorch head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FAIRMOT_FORMAT",
    "FAIRMOT_GRAPH_KEYS",
    "FAIRMOT_OUTPUT_NAMES",
    "TDT_FORMAT",
    "TDT_FORMATS",
    "TDT_OUTPUT_NAMES",
    "YOLOX_FORMAT",
    "YOLOX_OUTPUT_NAMES",
    "Detections",
    "OnnxGraphInfo",
    "nms",
    "postprocess",
    "postprocess_centernet",
    "postprocess_detections",
    "postprocess_yolox",
]

#: Metadata ``format`` of a TDT graph (per-anchor boxes, scores, embeddings; NMS in numpy).
TDT_FORMAT = "tdt-retina-embed/1"
#: Metadata ``format`` of a TDT graph on YOLOX (per-prior boxes, scores, labels, embeddings).
YOLOX_FORMAT = "tdt-yolox-embed/1"
#: The formats of TDT students (a TDT config: ``detector`` + ``tracker``).
TDT_FORMATS = (TDT_FORMAT, YOLOX_FORMAT)
#: Metadata ``format`` of a FairMOT graph (peak NMS and top-k in the graph).
FAIRMOT_FORMAT = "fairmot-centernet/1"
#: Outputs of a TDT graph, in order.
TDT_OUTPUT_NAMES = ("boxes", "scores", "embeddings")
#: Outputs of a YOLOX TDT graph, in order.
YOLOX_OUTPUT_NAMES = ("boxes", "scores", "labels", "embeddings")
#: Outputs of a FairMOT graph, in order.
FAIRMOT_OUTPUT_NAMES = ("boxes", "scores", "labels", "embeddings")
#: ``test_cfg`` keys a FairMOT graph fixes at export (the runner refuses other values).
FAIRMOT_GRAPH_KEYS = ("topk", "local_maximum_kernel")


@dataclass
class OnnxGraphInfo:
    """What the ONNX file's metadata says about the graph.

    Attributes:
        input_shape: ``(H, W)`` of the input.
        level_sizes: TDT: anchors (YOLOX: priors) per level, in output order; FairMOT: the
            cells of its one stride-``stride`` map (``[H / s * W / s]``).
        num_classes: Score columns (TDT) or heatmap channels (FairMOT).
        embed_dim: Embedding size ``D_s``.
        test_cfg: The head's ``test_cfg`` at export (TDT: ``score_thr``, ``nms_pre``, ``nms``,
            ``max_per_img``, ``min_bbox_size``; FairMOT: ``topk``, ``score_thr``,
            ``local_maximum_kernel``).
        format: :data:`TDT_FORMAT`, :data:`YOLOX_FORMAT` or :data:`FAIRMOT_FORMAT` (files
            without one are TDT RetinaNet's).
        output_names: The graph's outputs, in order.
        candidates: FairMOT: the peaks the graph outputs (``min(topk, cells)``).
    """

    input_shape: tuple[int, int]
    level_sizes: list[int]
    num_classes: int
    embed_dim: int
    test_cfg: dict[str, Any]
    format: str = TDT_FORMAT
    output_names: tuple[str, ...] = TDT_OUTPUT_NAMES
    candidates: int | None = None

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> OnnxGraphInfo:
        """Read the dict a graph's ``metadata()`` wrote (see ``onnx_export``).

        Raises:
            ValueError: An unknown ``format``.
        """
        height, width = meta["input_shape"]
        kind = str(meta.get("format", TDT_FORMAT))
        defaults = {
            TDT_FORMAT: TDT_OUTPUT_NAMES,
            YOLOX_FORMAT: YOLOX_OUTPUT_NAMES,
            FAIRMOT_FORMAT: FAIRMOT_OUTPUT_NAMES,
        }
        if kind not in defaults:
            raise ValueError(
                f"unknown ONNX graph format {kind!r} (known: {', '.join(sorted(defaults))}); "
                "export it again with tools/deployment/export_onnx.py"
            )
        return cls(
            input_shape=(int(height), int(width)),
            level_sizes=[int(n) for n in meta["level_sizes"]],
            num_classes=int(meta["num_classes"]),
            embed_dim=int(meta["embed_dim"]),
            test_cfg=dict(meta["test_cfg"]),
            format=kind,
            output_names=tuple(meta.get("output_names", defaults[kind])),
            candidates=None if meta.get("candidates") is None else int(meta["candidates"]),
        )

    def merged_test_cfg(self, test_cfg: dict[str, Any] | None) -> dict[str, Any]:
        """The graph's ``test_cfg`` updated with a config's (e.g. after ``--cfg-options``).

        Args:
            test_cfg: The config's head ``test_cfg`` (None: the graph's as is).

        Returns:
            The merged dict.

        Raises:
            ValueError: FairMOT: the config changes a value fixed in the graph
                (:data:`FAIRMOT_GRAPH_KEYS`).
        """
        merged = dict(self.test_cfg)
        merged.update(test_cfg or {})
        if self.format == FAIRMOT_FORMAT:
            for key in FAIRMOT_GRAPH_KEYS:
                if key in merged and merged[key] != self.test_cfg.get(key):
                    raise ValueError(
                        f"the config's test_cfg.{key}={merged[key]!r}, but the ONNX graph was "
                        f"exported with {self.test_cfg.get(key)!r} (fixed in the graph): "
                        "export it again with this config"
                    )
        return merged

    def describe(self) -> str:
        """One line: what the graph outputs and where the post-processing happens."""
        height, width = self.input_shape
        shape = f"input [1, 3, {height}, {width}] (preprocessed)"
        if self.format == FAIRMOT_FORMAT:
            return (
                f"{shape}, FairMOT: {self.level_sizes[0]} heatmap cells, 3x3 peak NMS and "
                f"top-{self.candidates} in the graph, {self.embed_dim}-dim embeddings; "
                "score_thr and rescaling in numpy (onnx_postprocess)"
            )
        if self.format == YOLOX_FORMAT:
            return (
                f"{shape}, TDT on YOLOX: {sum(self.level_sizes)} priors (score = class x "
                f"objectness in the graph), {self.embed_dim}-dim embeddings, score_thr, "
                "rescaling and NMS in numpy (onnx_postprocess)"
            )
        return (
            f"{shape}, TDT: {sum(self.level_sizes)} anchors, {self.embed_dim}-dim embeddings, "
            "NMS in numpy (onnx_postprocess)"
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


def postprocess_yolox(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    test_cfg: dict[str, Any],
    scale_factor: tuple[float, float] | None = None,
) -> Detections:
    """The end of ``YOLOXEmbedHead.predict_by_feat`` for one image, after the graph.

    Args:
        boxes: [N, 4] decoded xyxy boxes of every prior, input pixels (the graph's ``boxes[0]``).
        scores: [N] max class score x objectness.
        labels: [N] the class of the max.
        embeddings: [N, D] unit-norm embeddings.
        test_cfg: ``score_thr`` (a prior must score at least it), ``nms`` (per class), and
            optionally ``max_per_img`` (> 0: the highest-scoring boxes kept).
        scale_factor: ``(w_scale, h_scale)`` of the resize; given, boxes are returned in
            original-image pixels (``rescale=True``), else in input pixels. Not clipped, as
            YOLOX.

    Returns:
        The detections, by descending score.
    """
    keep = scores >= float(test_cfg.get("score_thr", 0.0))
    kept_boxes: np.ndarray = boxes[keep].astype(np.float32)
    kept_scores = scores[keep].astype(np.float32)
    kept_labels = labels[keep].astype(np.int64)
    kept_embeds = embeddings[keep].astype(np.float32)
    if scale_factor is not None:
        scale = np.array([scale_factor[0], scale_factor[1]] * 2, dtype=np.float32)
        kept_boxes = np.divide(kept_boxes, scale, dtype=np.float32)
    order: np.ndarray = np.argsort(-kept_scores, kind="stable")
    if len(kept_boxes) > 0 and test_cfg.get("nms") is not None:
        order = _batched_nms(kept_boxes, kept_scores, kept_labels, dict(test_cfg["nms"]))
    max_per_img = int(test_cfg.get("max_per_img", -1) or -1)
    if 0 < max_per_img < len(order):
        order = order[:max_per_img]
    return Detections(kept_boxes[order], kept_scores[order], kept_labels[order], kept_embeds[order])


def postprocess_centernet(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    test_cfg: dict[str, Any],
    scale_factor: tuple[float, float] | None = None,
    letterbox_offset: tuple[float, float] | None = None,
) -> Detections:
    """The end of ``FairMOTHead.predict_by_feat`` for one image, after the graph's top-k.

    Args:
        boxes: [K, 4] xyxy boxes of the top-k peaks, input pixels (the graph's ``boxes[0]``).
        scores: [K] peak scores, descending.
        labels: [K] heatmap channels.
        embeddings: [K, D] unit-norm embeddings.
        test_cfg: ``score_thr``: a peak must score above it.
        scale_factor: ``(w_scale, h_scale)`` of the resize; given, boxes are returned in
            original-image pixels (``rescale=True``), else in input pixels.
        letterbox_offset: ``(dx, dy)`` left/top padding of ``Letterbox`` (0 when absent),
            subtracted before the division when ``scale_factor`` is given.

    Returns:
        The detections, by descending score (not clipped, as the PyTorch head).
    """
    keep = scores > float(test_cfg.get("score_thr", 0.0))
    kept: np.ndarray = boxes[keep].astype(np.float32)
    if scale_factor is not None:  # as the PyTorch head: minus the padding, then / scale
        dx, dy = letterbox_offset if letterbox_offset is not None else (0.0, 0.0)
        shift = np.array([dx, dy, dx, dy], dtype=np.float32)
        scale = np.array([scale_factor[0], scale_factor[1]] * 2, dtype=np.float32)
        kept = np.divide(kept - shift, scale, dtype=np.float32)
    return Detections(
        kept,
        scores[keep].astype(np.float32),
        labels[keep].astype(np.int64),
        embeddings[keep].astype(np.float32),
    )


def postprocess(
    outputs: dict[str, np.ndarray],
    info: OnnxGraphInfo,
    img_shape: tuple[int, int],
    scale_factor: tuple[float, float] | None = None,
    letterbox_offset: tuple[float, float] | None = None,
    test_cfg: dict[str, Any] | None = None,
) -> Detections:
    """One image's detections from a graph's outputs, whichever its format.

    Args:
        outputs: Output name -> the graph's output for the image (batch dimension removed).
        info: The graph's metadata.
        img_shape: ``(h, w)`` of the resized frame before padding (TDT clips to it).
        scale_factor: ``(w_scale, h_scale)``; given, boxes in original-image pixels.
        letterbox_offset: FairMOT: the ``Letterbox`` padding ``(dx, dy)``.
        test_cfg: The head's ``test_cfg`` (None: the graph's).

    Returns:
        The detections, by descending score.
    """
    cfg = dict(info.test_cfg if test_cfg is None else test_cfg)
    if info.format == YOLOX_FORMAT:
        return postprocess_yolox(
            outputs["boxes"],
            outputs["scores"],
            outputs["labels"],
            outputs["embeddings"],
            cfg,
            scale_factor,
        )
    if info.format == FAIRMOT_FORMAT:
        return postprocess_centernet(
            outputs["boxes"],
            outputs["scores"],
            outputs["labels"],
            outputs["embeddings"],
            cfg,
            scale_factor,
            letterbox_offset,
        )
    return postprocess_detections(
        outputs["boxes"],
        outputs["scores"],
        outputs["embeddings"],
        info,
        img_shape,
        scale_factor,
        cfg,
    )
