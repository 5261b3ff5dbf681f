"""Export a one-stage student (TDT on RetinaNet or YOLOX, or FairMOT) to ONNX.

Both graphs have a fixed input ``inputs`` [1, 3, H, W]: the frame *after* the data preprocessor
(BGR->RGB, ``(x - mean) / std``, padding on the right and bottom up to ``H x W``); the
normalisation is not in the graph, :class:`mmdistillmot.deployment.onnx_runner.OnnxDetector`
applies the config's own preprocessor. What the graph holds, and what is left to numpy
(:mod:`mmdistillmot.deployment.onnx_postprocess`), depends on the head:

* TDT (:class:`OnnxDetectorGraph`, format ``tdt-retina-embed/1``): for every anchor
  ``N = sum_l H_l * W_l * A`` of every FPN level in the head's order (level by level, then
  ``(y, x, anchor)``): ``boxes`` [1, N, 4] decoded xyxy boxes in input pixels (not clipped),
  ``scores`` [1, N, num_classes] sigmoid scores and ``embeddings`` [1, N, D_s] L2-normalised
  embeddings. NMS is *not* in the graph: ``postprocess_detections`` reproduces
  ``RetinaEmbedHead.predict_by_feat`` (per-level ``nms_pre`` top-k of the scores above
  ``score_thr``, clipping, rescaling, ``min_bbox_size``, NMS, ``max_per_img``).
* TDT on YOLOX (:class:`YOLOXEmbedGraph`, format ``tdt-yolox-embed/1``): for every prior
  ``N = sum_l H_l * W_l`` of the head's levels (stride 8, 16, 32; then ``(y, x)``): ``boxes``
  [1, N, 4] decoded xyxy boxes in input pixels (YOLOXHead's ``_bbox_decode``), ``scores``
  [1, N] YOLOX's score (max class sigmoid x objectness sigmoid), ``labels`` [1, N] the class
  of that max and ``embeddings`` [1, N, D_s] unit norm. NMS is *not* in the graph:
  ``postprocess_yolox`` does ``score_thr``, rescaling, NMS and ``max_per_img`` as
  ``YOLOXEmbedHead.predict_by_feat``.
* FairMOT (:class:`FairMOTGraph`, format ``fairmot-centernet/1``): the backbone, neck and
  ``FairMOTHead`` with the fixed-shape part of its decoding, run by the head's own
  ``predict_by_feat`` code: sigmoid heatmap, ``local_maximum_kernel`` max-pool peak
  suppression, the top ``topk`` peaks, their boxes (offset-corrected centre +- ltrb, input
  pixels), labels and unit-norm embeddings: ``boxes`` [1, K, 4], ``scores`` [1, K],
  ``labels`` [1, K], ``embeddings`` [1, K, D]. Left to numpy (``postprocess_centernet``): the
  ``score_thr`` cut and the mapping to original pixels (letterbox offset, scale factor).

The head's ``test_cfg`` is stored in the ONNX file's metadata (:data:`METADATA_KEY`) with the
format, the output names and the sizes the runner needs.

Only the student is exported: a ``FeatureDistiller`` (online distillation, e.g. FairMOT from
DINOv2) is unwrapped to its ``student`` (:func:`unwrap_student`; the teacher and the
connectors, the transform layers, stay out), a distiller config builds only its student
(:func:`student_config`), and :func:`check_no_teacher` refuses any module that still holds a
teacher (TDT's teacher is offline: its embeddings come from a store).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import Tensor, nn

from mmdistillmot.deployment.onnx_postprocess import (
    FAIRMOT_FORMAT,
    FAIRMOT_OUTPUT_NAMES,
    TDT_FORMAT,
    TDT_OUTPUT_NAMES,
    YOLOX_FORMAT,
    YOLOX_OUTPUT_NAMES,
)
from mmdistillmot.models.dense_heads.fairmot_head import FairMOTHead
from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead
from mmdistillmot.models.dense_heads.yolox_embed_head import YOLOXEmbedHead
from mmdistillmot.models.distillers.feature_distiller import FeatureDistiller
from mmdistillmot.models.teachers.base_teacher import BaseTeacher

__all__ = [
    "METADATA_KEY",
    "OUTPUT_NAMES",
    "FairMOTGraph",
    "OnnxDetectorGraph",
    "YOLOXEmbedGraph",
    "build_graph",
    "check_checkpoint_fits",
    "check_no_teacher",
    "default_input_shape",
    "export_onnx",
    "load_student",
    "student_config",
    "unwrap_student",
]

#: Key of the ONNX metadata entry (JSON) describing the graph; see :func:`export_onnx`.
METADATA_KEY = "mmdistillmot"
#: Names of the TDT graph's outputs, in order (a FairMOT graph's: ``FAIRMOT_OUTPUT_NAMES``).
OUTPUT_NAMES = TDT_OUTPUT_NAMES


def check_no_teacher(module: nn.Module) -> None:
    """Refuse a module that holds a teacher network (it must never be deployed).

    Args:
        module: The module to export.

    Raises:
        ValueError: A submodule is a :class:`BaseTeacher`, or a parameter or buffer name
            contains ``teacher``.
    """
    for name, sub in module.named_modules():
        if isinstance(sub, BaseTeacher):
            raise ValueError(f"the exported module holds a teacher ({name}: {type(sub).__name__})")
    names = [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]
    found = [n for n in names if "teacher" in n.lower()]
    if found:
        raise ValueError(f"the exported module has teacher tensors: {found[:3]}")


def unwrap_student(model: nn.Module) -> tuple[nn.Module, str | None]:
    """The module to deploy: a distiller's student, else the model itself.

    Args:
        model: A tracking model, or a ``FeatureDistiller`` around one.

    Returns:
        ``(module, wrapper)``: the student and the distiller's class name, or ``(model, None)``.
    """
    if isinstance(model, FeatureDistiller):
        return model.student, type(model).__name__
    return model, None


def student_config(cfg: Config) -> Config:
    """A config whose ``model`` is the student of a ``FeatureDistiller`` config (a copy).

    Building it never builds the teacher (no teacher weights needed); the data pipeline, the
    preprocessor (the student's) and the tracker are the student's own. Other configs come
    back unchanged (the same object).

    Args:
        cfg: A tracking config, or a distillation config wrapping one (``model.type`` is
            ``FeatureDistiller``, ``model.student`` the tracking model).

    Returns:
        The student's config.
    """
    model = cfg.get("model", {})
    if str(model.get("type", "")).split(".")[-1] != FeatureDistiller.__name__:
        return cfg
    cfg = copy.deepcopy(cfg)
    cfg.model = cfg.model.student
    return cfg


class _TDTDetectorGraph(nn.Module):
    """A TDT detector with its priors for the graph's input size as constants (shared part).

    Subclasses set :attr:`head_type` (the embedding head they export), :attr:`format`,
    :attr:`output_names`, :attr:`input_note` and :attr:`with_stride` (the priors' layout), and
    define ``forward``.

    Args:
        detector: An mmdet single-stage detector whose ``bbox_head`` is a ``head_type``
            (in eval mode).
        input_shape: ``(H, W)`` of the graph's input.
    """

    head_type: type = nn.Module
    format: str = ""
    output_names: tuple[str, ...] = ()
    input_note: str = ""
    with_stride: bool = False

    def __init__(self, detector: nn.Module, input_shape: tuple[int, int]) -> None:
        super().__init__()
        head = getattr(detector, "bbox_head", None)
        if not isinstance(head, self.head_type):
            raise TypeError(
                f"{type(self).__name__} exports detectors with a {self.head_type.__name__}, got "
                f"{type(head).__name__} (config model.detector.bbox_head)"
            )
        check_no_teacher(detector)
        self.detector = detector
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        with torch.no_grad():
            dummy = torch.zeros(1, 3, *self.input_shape)
            sizes = [f.shape[-2:] for f in detector.extract_feat(dummy)]  # type: ignore[operator]
        # only MlvlPointGenerator (YOLOX) takes with_stride; AnchorGenerator does not
        layout = {"with_stride": True} if self.with_stride else {}
        priors = self.head.prior_generator.grid_priors(
            sizes, dtype=torch.float32, device="cpu", **layout
        )
        #: Priors per level (RetinaNet: anchors ``H_l * W_l * A``; YOLOX: ``H_l * W_l``).
        self.level_sizes = [int(p.size(0)) for p in priors]
        self.register_buffer("priors", torch.cat(priors), persistent=False)

    @property
    def head(self) -> Any:
        """The detector's embedding head."""
        return self.detector.bbox_head

    def metadata(self) -> dict[str, Any]:
        """What the runner needs besides the graph: shape, levels, classes and ``test_cfg``."""
        head = self.head
        return dict(
            format=self.format,
            output_names=list(self.output_names),
            input_shape=list(self.input_shape),
            input=self.input_note,
            level_sizes=self.level_sizes,
            num_classes=int(head.cls_out_channels),
            embed_dim=int(head.embed_dim),
            test_cfg=_plain(head.test_cfg),
        )


class OnnxDetectorGraph(_TDTDetectorGraph):
    """The TDT detector's network and box decoding for every anchor, as exported.

    Args:
        detector: An mmdet single-stage detector whose ``bbox_head`` is a
            :class:`RetinaEmbedHead` (in eval mode).
        input_shape: ``(H, W)`` of the graph's input; the anchors of that size are constants.
    """

    head_type = RetinaEmbedHead
    format = TDT_FORMAT
    #: The graph's outputs, in :meth:`forward`'s order.
    output_names = TDT_OUTPUT_NAMES
    input_note = "preprocessed: BGR->RGB, (x - mean) / std, zero-padded right/bottom"

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Run the network on one preprocessed frame.

        Args:
            inputs: [1, 3, H, W] normalised, padded frame.

        Returns:
            ``boxes`` [1, N, 4] (xyxy, input pixels, unclipped), ``scores``
            [1, N, num_classes] (sigmoid) and ``embeddings`` [1, N, D_s] (unit norm).
        """
        head = self.head
        features = self.detector.extract_feat(inputs)  # type: ignore[operator]
        cls_scores, bbox_preds, embed_preds = head(features)

        def flat(maps: list[Tensor], channels: int) -> Tensor:
            return torch.cat(
                [m.permute(0, 2, 3, 1).reshape(m.size(0), -1, channels) for m in maps], dim=1
            )

        scores = flat(cls_scores, head.cls_out_channels).sigmoid()
        deltas = flat(bbox_preds, head.bbox_coder.encode_size)
        boxes = head.bbox_coder.decode(self.priors, deltas[0]).unsqueeze(0)
        embeddings = F.normalize(flat(embed_preds, head.embed_dim), dim=2)
        return boxes, scores, embeddings


class YOLOXEmbedGraph(_TDTDetectorGraph):
    """A TDT YOLOX detector's network and YOLOX's decoding for every prior, as exported.

    Args:
        detector: An mmdet YOLOX whose ``bbox_head`` is a :class:`YOLOXEmbedHead` (in eval
            mode).
        input_shape: ``(H, W)`` of the graph's input; the priors of that size are constants.
    """

    head_type = YOLOXEmbedHead
    format = YOLOX_FORMAT
    #: The graph's outputs, in :meth:`forward`'s order.
    output_names = YOLOX_OUTPUT_NAMES
    input_note = "preprocessed as the config's data preprocessor, padded right/bottom"
    with_stride = True  # YOLOX's priors: (x, y, stride_w, stride_h)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the network on one preprocessed frame.

        Args:
            inputs: [1, 3, H, W] preprocessed, padded frame.

        Returns:
            ``boxes`` [1, N, 4] (xyxy, input pixels), ``scores`` [1, N] (max class score x
            objectness), ``labels`` [1, N] and ``embeddings`` [1, N, D_s] (unit norm).
        """
        head = self.head
        features = self.detector.extract_feat(inputs)  # type: ignore[operator]
        cls_scores, bbox_preds, objectnesses, embed_preds = head(features)
        flat_cls = head._flatten_levels(cls_scores, head.cls_out_channels).sigmoid()
        flat_obj = head._flatten_levels(objectnesses, 1).squeeze(-1).sigmoid()
        boxes = head._bbox_decode(self.priors, head._flatten_levels(bbox_preds, 4))
        max_scores, labels = flat_cls.max(dim=-1)
        embeddings = F.normalize(head._flatten_levels(embed_preds, head.embed_dim), dim=-1)
        return boxes, flat_obj * max_scores, labels, embeddings


def _plain(value: Any) -> Any:
    """A ConfigDict (or nested structure) as plain JSON-serialisable Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class FairMOTGraph(nn.Module):
    """FairMOT's network and the fixed-shape part of its decoding, as exported.

    The decoding is ``FairMOTHead.predict_by_feat`` itself, run with ``score_thr = -inf`` and
    without rescaling, so every one of the ``topk`` peaks comes out (a fixed shape) and the
    graph computes exactly what the PyTorch head does before its score cut.

    Args:
        model: A ``FairMOT`` model (``backbone``, ``neck``, ``bbox_head`` a
            :class:`FairMOTHead`), in eval mode.
        input_shape: ``(H, W)`` of the graph's input (multiples of 32 for HRNet).
    """

    #: The graph's outputs, in :meth:`forward`'s order.
    output_names = FAIRMOT_OUTPUT_NAMES

    def __init__(self, model: nn.Module, input_shape: tuple[int, int]) -> None:
        super().__init__()
        head = getattr(model, "bbox_head", None)
        if not isinstance(head, FairMOTHead):
            raise TypeError(
                f"FairMOT ONNX export needs a FairMOTHead, got {type(head).__name__} "
                "(config model.bbox_head)"
            )
        check_no_teacher(model)
        self.backbone: nn.Module = model.backbone  # type: ignore[assignment]
        self.neck: nn.Module = model.neck  # type: ignore[assignment]
        self.head = head
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        stride = int(head.stride)
        self.feat_shape = (self.input_shape[0] // stride, self.input_shape[1] // stride)
        cells = head.num_classes * self.feat_shape[0] * self.feat_shape[1]
        self.topk = min(int(head.test_cfg["topk"]), cells)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the network and the peak decoding on one preprocessed frame.

        Args:
            inputs: [1, 3, H, W] normalised, padded frame.

        Returns:
            ``boxes`` [1, K, 4] (xyxy, input pixels), ``scores`` [1, K] (descending),
            ``labels`` [1, K] and ``embeddings`` [1, K, D] (unit norm) of the top ``K`` peaks.
        """
        head: FairMOTHead = self.head
        heatmap, wh, offset, id_map = head(self.neck(self.backbone(inputs)))
        saved = head.test_cfg
        head.test_cfg = dict(saved, score_thr=-math.inf)  # every top-k peak: a fixed shape
        try:
            (pred,) = head.predict_by_feat(heatmap, wh, offset, id_map, [{}], rescale=False)
        finally:
            head.test_cfg = saved
        return pred.bboxes[None], pred.scores[None], pred.labels[None], pred.embeddings[None]

    def metadata(self) -> dict[str, Any]:
        """What the runner needs besides the graph: shape, stride, sizes and ``test_cfg``."""
        head = self.head
        return dict(
            format=FAIRMOT_FORMAT,
            output_names=list(self.output_names),
            input_shape=list(self.input_shape),
            input="preprocessed: BGR->RGB, (x - mean) / std, padded right/bottom",
            level_sizes=[self.feat_shape[0] * self.feat_shape[1]],
            feat_shape=list(self.feat_shape),
            stride=int(head.stride),
            num_classes=int(head.num_classes),
            embed_dim=int(head.embed_dims),
            candidates=self.topk,
            test_cfg=_plain(head.test_cfg),
        )


def build_graph(
    model: nn.Module, input_shape: tuple[int, int]
) -> OnnxDetectorGraph | YOLOXEmbedGraph | FairMOTGraph:
    """The exported module for a tracking model (or its detector), by its head.

    Args:
        model: A ``TDT`` model, its detector, or a ``FairMOT`` model (no distiller: see
            :func:`unwrap_student`).
        input_shape: ``(H, W)`` of the graph's input.

    Returns:
        An :class:`OnnxDetectorGraph`, a :class:`YOLOXEmbedGraph` or a :class:`FairMOTGraph`,
        in eval mode.

    Raises:
        TypeError: None of the three heads.
    """
    if isinstance(getattr(model, "bbox_head", None), FairMOTHead):
        return FairMOTGraph(model, input_shape).eval()
    detector = getattr(model, "detector", model)
    head = getattr(detector, "bbox_head", None)
    if isinstance(head, YOLOXEmbedHead):
        return YOLOXEmbedGraph(detector, input_shape).eval()
    if not isinstance(head, RetinaEmbedHead):
        raise TypeError(
            f"ONNX export supports TDT detectors with a RetinaEmbedHead or a YOLOXEmbedHead and "
            f"FairMOT models, got {type(model).__name__} with a {type(head).__name__} head"
        )
    return OnnxDetectorGraph(detector, input_shape).eval()


def load_student(
    config: str | Config, checkpoint: str | None, cfg_options: dict | None = None
) -> nn.Module:
    """Build a tracking config's model on the CPU and load a checkpoint, in eval mode.

    A distillation config (``FeatureDistiller``) builds its student only
    (:func:`student_config`): the teacher is never built, and the checkpoint (student-only, as
    ``DistillHook`` saves it) is loaded into the student.

    Args:
        config: A TDT or FairMOT config, or a distillation config around one (path or Config).
        checkpoint: Its checkpoint (None: random init, e.g. for tests).
        cfg_options: Config overrides (applied before the student is taken out).

    Returns:
        The tracking model (``TDT``: ``detector`` + ``tracker``; ``FairMOT``: ``backbone``,
        ``neck``, ``bbox_head`` + ``tracker``; no teacher), its config as ``model.cfg``.
    """
    from mmdet.apis import init_track_model
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg = student_config(cfg)
    init_default_scope(cfg.get("default_scope", "mmdet"))
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint '{checkpoint}' does not exist")
    model = init_track_model(cfg, checkpoint, device="cpu")
    if checkpoint is not None:
        check_checkpoint_fits(model, checkpoint)
    model.eval()
    return model


#: Tensors of a student that only training uses (never in a graph): FairMOT's identity
#: classifier, whose size is the training set's number of identities.
TRAINING_ONLY_PREFIXES = ("bbox_head.classifier.",)


def check_checkpoint_fits(model: nn.Module, checkpoint: str) -> None:
    """Refuse a checkpoint that leaves tensors of the deployed network at their random init.

    mmdet's ``init_track_model`` loads non-strictly: a tensor missing from the checkpoint, or
    of another shape (e.g. an embedding size that the config changed since the training),
    only gets a warning and keeps its random initialisation, so an export would run partly
    random weights (and a separate PyTorch run other random ones).

    Args:
        model: The built student (its ``state_dict`` names and shapes).
        checkpoint: The checkpoint file (``state_dict`` in the student layout).

    Raises:
        ValueError: A tensor of the model (other than :data:`TRAINING_ONLY_PREFIXES`) is
            missing from the checkpoint or has another shape there.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    loaded = _load_checkpoint(checkpoint, map_location="cpu")
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else {}
    bad = []
    for key, value in model.state_dict().items():
        if key.startswith(TRAINING_ONLY_PREFIXES):
            continue
        if key not in state:
            bad.append(f"{key} missing")
        elif tuple(state[key].shape) != tuple(value.shape):
            bad.append(f"{key} {tuple(state[key].shape)} vs {tuple(value.shape)} in the config")
    if bad:
        raise ValueError(
            f"checkpoint '{checkpoint}' does not fit the config: {len(bad)} tensors would keep "
            f"their random init ({'; '.join(bad[:2])}); give the config (and --cfg-options) it "
            "was trained with"
        )


def default_input_shape(cfg: Config) -> tuple[int, int]:
    """``(H, W)`` of a landscape frame after the test pipeline's resize and the padding.

    Args:
        cfg: The config (``test_dataloader`` pipeline with a ``Resize`` or ``Letterbox``
            ``scale=(w, h)``; ``model.data_preprocessor.pad_size_divisor``).

    Returns:
        ``(ceil(h / d) * d, ceil(w / d) * d)``.

    Raises:
        ValueError: The pipeline has no ``Resize`` or ``Letterbox`` with a ``scale``.
    """
    cfg = student_config(cfg)
    divisor = int(cfg.model.data_preprocessor.get("pad_size_divisor", 1))

    def steps(items: list) -> list:
        found = []
        for step in items:
            found.append(step)
            found.extend(steps(step.get("transforms", [])))
        return found

    for step in steps(list(cfg.test_dataloader.dataset.pipeline)):
        kind = str(step.get("type", ""))
        if ("Resize" in kind or "Letterbox" in kind) and step.get("scale") is not None:
            width, height = step["scale"]
            return (
                math.ceil(height / divisor) * divisor,
                math.ceil(width / divisor) * divisor,
            )
    raise ValueError("the test pipeline has no Resize or Letterbox with a scale: give --shape H W")


def export_onnx(
    model: nn.Module,
    out_file: str | Path,
    input_shape: tuple[int, int],
    opset: int = 17,
) -> dict[str, Any]:
    """Export a student (never a teacher) to ``out_file``.

    Args:
        model: A ``TDT`` model (or its detector: RetinaNet or YOLOX with an embedding head), a
            ``FairMOT`` model, or a ``FeatureDistiller`` around one (its student is exported),
            in eval mode.
        out_file: The ``.onnx`` file to write.
        input_shape: ``(H, W)`` of the graph's fixed input (multiples of the preprocessor's
            ``pad_size_divisor`` that hold the resized frames).
        opset: ONNX opset.

    Returns:
        The metadata written under :data:`METADATA_KEY`, plus ``exported`` (the class of the
        exported model) and ``unwrapped`` (the distiller's class, or None), not written.

    Raises:
        ValueError: The model is, or holds, a teacher.
        TypeError: Neither a TDT nor a FairMOT model.
    """
    import onnx

    if isinstance(model, BaseTeacher):
        raise ValueError(f"refusing to export a teacher ({type(model).__name__}): export a student")
    student, wrapper = unwrap_student(model)
    check_no_teacher(student)
    graph = build_graph(student, input_shape)
    dummy = torch.zeros(1, 3, *graph.input_shape)
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            graph,
            (dummy,),
            str(out_file),
            input_names=["inputs"],
            output_names=list(graph.output_names),
            opset_version=opset,
            dynamo=False,
        )
    meta = graph.metadata()
    proto = onnx.load(str(out_file))
    for init in proto.graph.initializer:
        if "teacher" in init.name.lower():
            raise ValueError(f"the exported graph has a teacher tensor: {init.name}")
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(meta)
    onnx.save(proto, str(out_file))
    return dict(meta, exported=type(student).__name__, unwrapped=wrapper)
