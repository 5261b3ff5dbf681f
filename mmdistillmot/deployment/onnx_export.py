"""Export a one-stage TDT student (RetinaNet + ``RetinaEmbedHead``) to ONNX.

The graph (fixed input shape ``[1, 3, H, W]``):

* input ``inputs``: the frame *after* the data preprocessor (BGR->RGB, ``(x - mean) / std``,
  zero padding on the right and bottom up to ``H x W``); the normalisation is not in the graph,
  :class:`mmdistillmot.deployment.onnx_runner.OnnxDetector` applies the config's own
  preprocessor;
* outputs, for every anchor ``N = sum_l H_l * W_l * A`` of every FPN level in the head's order
  (level by level, then ``(y, x, anchor)``): ``boxes`` [1, N, 4] decoded xyxy boxes in input
  pixels (not clipped), ``scores`` [1, N, num_classes] sigmoid scores and ``embeddings``
  [1, N, D_s] L2-normalised embeddings.

NMS is *not* in the graph: :func:`mmdistillmot.deployment.onnx_postprocess.postprocess_detections`
reproduces ``RetinaEmbedHead.predict_by_feat`` in numpy (per-level ``nms_pre`` top-k of the
scores above ``score_thr``, clipping to the image, rescaling, ``min_bbox_size``, NMS,
``max_per_img``) with the head's ``test_cfg``, stored in the ONNX file's metadata
(:data:`METADATA_KEY`) with the per-level anchor counts.

Only the detector is exported; the teacher never is (TDT's teacher is offline, its embeddings
come from a store): :func:`check_no_teacher` refuses a module holding a teacher.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import Tensor, nn

from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead
from mmdistillmot.models.teachers.base_teacher import BaseTeacher

__all__ = [
    "METADATA_KEY",
    "OUTPUT_NAMES",
    "OnnxDetectorGraph",
    "check_no_teacher",
    "default_input_shape",
    "export_onnx",
    "load_student",
]

#: Key of the ONNX metadata entry (JSON) describing the graph; see :func:`export_onnx`.
METADATA_KEY = "mmdistillmot"
#: Names of the graph's outputs, in order.
OUTPUT_NAMES = ("boxes", "scores", "embeddings")


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


class OnnxDetectorGraph(nn.Module):
    """The detector's network and box decoding for every anchor, as exported.

    Args:
        detector: An mmdet single-stage detector whose ``bbox_head`` is a
            :class:`RetinaEmbedHead` (in eval mode).
        input_shape: ``(H, W)`` of the graph's input; the anchors of that size are constants.
    """

    def __init__(self, detector: nn.Module, input_shape: tuple[int, int]) -> None:
        super().__init__()
        head = getattr(detector, "bbox_head", None)
        if not isinstance(head, RetinaEmbedHead):
            raise TypeError(
                f"ONNX export supports detectors with a RetinaEmbedHead, got "
                f"{type(head).__name__} (config model.detector.bbox_head)"
            )
        check_no_teacher(detector)
        self.detector = detector
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        with torch.no_grad():
            dummy = torch.zeros(1, 3, *self.input_shape)
            sizes = [f.shape[-2:] for f in detector.extract_feat(dummy)]  # type: ignore[operator]
        priors = head.prior_generator.grid_priors(sizes, dtype=torch.float32, device="cpu")
        #: Anchors per FPN level (``H_l * W_l * A``), in output order.
        self.level_sizes = [int(p.size(0)) for p in priors]
        self.register_buffer("priors", torch.cat(priors), persistent=False)

    @property
    def head(self) -> Any:
        """The detector's :class:`RetinaEmbedHead`."""
        return self.detector.bbox_head

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

    def metadata(self) -> dict[str, Any]:
        """What the runner needs besides the graph: shape, levels, classes and ``test_cfg``."""
        head = self.head
        return dict(
            format="tdt-retina-embed/1",
            input_shape=list(self.input_shape),
            input="preprocessed: BGR->RGB, (x - mean) / std, zero-padded right/bottom",
            level_sizes=self.level_sizes,
            num_classes=int(head.cls_out_channels),
            embed_dim=int(head.embed_dim),
            test_cfg=_plain(head.test_cfg),
        )


def _plain(value: Any) -> Any:
    """A ConfigDict (or nested structure) as plain JSON-serialisable Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_student(
    config: str | Config, checkpoint: str | None, cfg_options: dict | None = None
) -> nn.Module:
    """Build a tracking config's model on the CPU and load a checkpoint, in eval mode.

    Args:
        config: A TDT config (path or Config).
        checkpoint: Its checkpoint (None: random init, e.g. for tests).
        cfg_options: Config overrides.

    Returns:
        The tracking model (``TDT``: ``detector`` + ``tracker``; no teacher at test time).
    """
    from mmdet.apis import init_track_model
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get("default_scope", "mmdet"))
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint '{checkpoint}' does not exist")
    model = init_track_model(cfg, checkpoint, device="cpu")
    model.eval()
    return model


def default_input_shape(cfg: Config) -> tuple[int, int]:
    """``(H, W)`` of a landscape frame after the test pipeline's ``Resize`` and the padding.

    Args:
        cfg: The config (``test_dataloader`` pipeline with a ``Resize`` ``scale=(w, h)``;
            ``model.data_preprocessor.pad_size_divisor``).

    Returns:
        ``(ceil(h / d) * d, ceil(w / d) * d)``.

    Raises:
        ValueError: The pipeline has no ``Resize`` with a ``scale``.
    """
    divisor = int(cfg.model.data_preprocessor.get("pad_size_divisor", 1))

    def steps(items: list) -> list:
        found = []
        for step in items:
            found.append(step)
            found.extend(steps(step.get("transforms", [])))
        return found

    for step in steps(list(cfg.test_dataloader.dataset.pipeline)):
        if "Resize" in str(step.get("type", "")) and step.get("scale") is not None:
            width, height = step["scale"]
            return (
                math.ceil(height / divisor) * divisor,
                math.ceil(width / divisor) * divisor,
            )
    raise ValueError("the test pipeline has no Resize with a scale: give --shape H W")


def export_onnx(
    model: nn.Module,
    out_file: str | Path,
    input_shape: tuple[int, int],
    opset: int = 17,
) -> dict[str, Any]:
    """Export a TDT model's detector (never a teacher) to ``out_file``.

    Args:
        model: A ``TDT`` tracking model (or its detector) in eval mode.
        out_file: The ``.onnx`` file to write.
        input_shape: ``(H, W)`` of the graph's fixed input (multiples of the preprocessor's
            ``pad_size_divisor`` that hold the resized frames).
        opset: ONNX opset.

    Returns:
        The metadata written under :data:`METADATA_KEY`.

    Raises:
        ValueError: The model holds a teacher.
    """
    import onnx

    check_no_teacher(model)
    detector = getattr(model, "detector", model)
    graph = OnnxDetectorGraph(detector, input_shape).eval()
    dummy = torch.zeros(1, 3, *graph.input_shape)
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            graph,
            (dummy,),
            str(out_file),
            input_names=["inputs"],
            output_names=list(OUTPUT_NAMES),
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
    return meta
