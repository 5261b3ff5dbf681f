"""YOLOX exported to ONNX with BatchNorm folded -> mmdet 3.3's ``YOLOX``, Conv by Conv, strictly.

The source is an ONNX export of Megvii's YOLOX (e.g. ``yolox_nano.onnx``: opset 11, input
``images`` ``[1, 3, 416, 416]`` BGR 0-255, output ``[1, 3549, 85]``; see
``../shared/assets/SOURCES.md``). Its exporter folded every BatchNorm into the convolution before
it, so the graph holds only ``Conv`` nodes whose weight and bias are initialisers. They are read
in execution order (the order of ``graph.node``, which ONNX keeps topologically sorted and
PyTorch's exporter writes in the order the modules ran) and matched one to one, in the same
order, with the convolutions of the target mmdet model (:func:`yolox_conv_slots`). That order is
the official network's forward pass, spelled in mmdet's module names:

===============================================  =============================================
official YOLOX (execution order)                 mmdet 3.3 ``YOLOX``
===============================================  =============================================
``backbone.backbone.stem`` (Focus conv)          ``backbone.stem.conv``
``dark2..dark5``: downsampling (Depthwise) Conv  ``backbone.stageN.0`` (``depthwise_conv``,
                                                 ``pointwise_conv``)
``dark5.1`` SPPBottleneck ``conv1`` / ``conv2``  ``backbone.stage4.1.conv1`` / ``.conv2``
CSPLayer ``conv1``, ``conv2``, ``m.K``,          CSPLayer ``main_conv``, ``short_conv``,
``conv3``                                        ``blocks.K`` (``conv1``, ``conv2``),
                                                 ``final_conv``
PAFPN ``lateral_conv0``, ``C3_p4``               ``neck.reduce_layers.0``, ``top_down_blocks.0``
PAFPN ``reduce_conv1``, ``C3_p3``                ``neck.reduce_layers.1``, ``top_down_blocks.1``
PAFPN ``bu_conv2``, ``C3_n3``                    ``neck.downsamples.0``, ``bottom_up_blocks.0``
PAFPN ``bu_conv1``, ``C3_n4``                    ``neck.downsamples.1``, ``bottom_up_blocks.1``
head, per level ``k``: ``stems.k``               ``neck.out_convs.k``
``cls_convs.k``, ``cls_preds.k``                 ``bbox_head.multi_level_cls_convs.k``,
                                                 ``multi_level_conv_cls.k``
``reg_convs.k``, ``reg_preds.k``,                ``multi_level_reg_convs.k``,
``obj_preds.k``                                  ``multi_level_conv_reg.k``, ``..._conv_obj.k``
===============================================  =============================================

mmdet moved the head's per-level ``stems`` into the neck (``out_convs``), so in execution order
each level's stem comes right before that level's head convolutions, not after the neck. In a
CSPLayer the official ``conv1`` (the branch through the bottlenecks) is mmdet's ``main_conv``
and ``conv2`` its ``short_conv``; both concatenate ``(main, short)``.

Every Conv is checked against its target ``nn.Conv2d`` (weight shape, groups, strides, pads,
dilations) before anything is written; the first mismatch raises one line naming the file, the
node and the mmdet key. A folded convolution ``y = W x + b`` becomes a *neutral* BatchNorm:
``conv.weight = W`` and ``bn.weight = 1``, ``bn.bias = b``, ``bn.running_mean = 0``,
``bn.running_var = 1 - eps`` (the BN's own ``eps``, 1e-3 in YOLOX), so that in eval mode
``(x - 0) / sqrt(1 - eps + eps) * 1 + b = x + b``. The predictors (``conv_cls``, ``conv_reg``,
``conv_obj``) have no BN and take ``W`` and ``b`` directly. Inference is then exact; training
mode would normalise by batch statistics instead, so fine-tuning needs frozen BN (``norm_eval``)
or accepts that the statistics are re-learned (``configs/yolox/README.md``).

:func:`yolox_onnx_layout` arranges the mmdet head's outputs like the ONNX output (per anchor
point: the 4 raw box offsets, sigmoid objectness, the sigmoid class scores; levels by stride,
points row-major), for comparisons with onnxruntime (:func:`compare_with_onnxruntime`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmdistillmot.models.teachers.weights import file_sha256

__all__ = [
    "ConvSlot",
    "ConvertedYOLOX",
    "OnnxConv",
    "OnnxConvGraph",
    "YOLOXConversion",
    "YOLOXOnnxConversionError",
    "compare_with_onnxruntime",
    "convert_yolox_convs",
    "convert_yolox_onnx_file",
    "letterbox_bgr",
    "module_conv_slots",
    "onnxruntime_outputs",
    "read_onnx_convs",
    "yolox_conv_slots",
    "yolox_onnx_layout",
    "yolox_raw_outputs",
]

#: Value YOLOX pads the letterboxed image with (bottom / right), as the ONNX export expects.
LETTERBOX_PAD_VALUE = 114


class YOLOXOnnxConversionError(ValueError):
    """An ONNX file that does not map strictly onto the target mmdet YOLOX."""


@dataclass(frozen=True)
class OnnxConv:
    """One ``Conv`` node of the ONNX graph, with its constant weight and bias.

    Attributes:
        index: Position among the graph's Conv nodes (execution order), from 0.
        node: The node's name (``Conv_41``), or ``#index`` when it has none.
        weight_name: Name of the weight initialiser.
        weight: The weight, ``[C_out, C_in / group, kH, kW]``.
        bias_name: Name of the bias initialiser; ``None`` when the node has no bias.
        bias: The bias ``[C_out]``, or ``None``.
        group: The ``group`` attribute.
        strides: ``(sH, sW)``.
        pads: ``(top, left, bottom, right)``.
        dilations: ``(dH, dW)``.
    """

    index: int
    node: str
    weight_name: str
    weight: np.ndarray
    bias_name: str | None
    bias: np.ndarray | None
    group: int
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]


@dataclass(frozen=True)
class OnnxConvGraph:
    """What :func:`read_onnx_convs` found in an ONNX file.

    Attributes:
        convs: The Conv nodes in execution order.
        opset: The default-domain opset version.
        producer: ``producer_name producer_version`` (e.g. ``pytorch 1.10``).
        inputs: Graph input name -> shape (``-1`` for a symbolic dimension).
        outputs: Graph output name -> shape.
    """

    convs: list[OnnxConv]
    opset: int
    producer: str
    inputs: dict[str, list[int]]
    outputs: dict[str, list[int]]


@dataclass(frozen=True)
class ConvSlot:
    """One convolution of the target model, in the order the ONNX Conv nodes fill them.

    Attributes:
        prefix: The module name: a ``ConvModule`` (``backbone.stem.conv``: keys ``.conv.*`` and
            ``.<norm>.*``) or a plain ``nn.Conv2d`` (``bbox_head.multi_level_conv_cls.0``).
        conv: The target ``nn.Conv2d``.
        norm_name: The ConvModule's BN attribute (``'bn'``); ``None`` for a plain conv.
        eps: The BN's ``eps`` (neutral ``running_var = 1 - eps``); ``None`` for a plain conv.
    """

    prefix: str
    conv: nn.Conv2d
    norm_name: str | None = None
    eps: float | None = None

    @property
    def weight_key(self) -> str:
        """The state-dict key of the conv weight."""
        return f"{self.prefix}.conv.weight" if self.norm_name else f"{self.prefix}.weight"


@dataclass
class YOLOXConversion:
    """The result of :func:`convert_yolox_convs`.

    Attributes:
        state_dict: mmdet name -> tensor, every key of the target model, in its order.
        origin: mmdet name -> the ONNX tensor it came from (``'Conv_41/683'``-style
            ``node:initialiser``), or how it was made (``'<neutral BN: ...>'``).
        zero_biases: Keys written as zeros because the ONNX Conv had no bias.
    """

    state_dict: dict[str, torch.Tensor]
    origin: dict[str, str]
    zero_biases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ConvertedYOLOX:
    """What :func:`convert_yolox_onnx_file` wrote.

    Attributes:
        path: The checkpoint written.
        sha256: Hex sha256 of its bytes.
        source: The ONNX file.
        source_sha256: Hex sha256 of the ONNX file.
        num_convs: Conv nodes mapped.
        num_tensors: Tensors under ``state_dict``.
        meta: The checkpoint's ``meta``.
    """

    path: Path
    sha256: str
    source: Path
    source_sha256: str
    num_convs: int
    num_tensors: int
    meta: dict[str, Any]


# ---------------------------------------------------------------------------- reading ONNX
def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _value_shape(value_info: Any) -> list[int]:
    dims = value_info.type.tensor_type.shape.dim
    return [int(d.dim_value) if d.HasField("dim_value") else -1 for d in dims]


def read_onnx_convs(path: str | os.PathLike[str]) -> OnnxConvGraph:
    """Read the Conv nodes of an ONNX file, in execution order, with their constant tensors.

    Weights and biases may be initialisers or ``Constant`` nodes; anything computed at run time
    is refused. A graph that still has ``BatchNormalization`` nodes is refused too: the neutral
    BN rule holds only where BN was folded into the convolutions.

    Args:
        path: The ``.onnx`` file.

    Returns:
        The Conv nodes (weights ``[C_out, C_in / group, kH, kW]``, biases ``[C_out]``) and the
        graph's opset, producer and input / output shapes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        YOLOXOnnxConversionError: Not an ONNX model, BN not folded, a non-constant weight, an
            unsupported ``auto_pad``, or no Conv node at all; the message names the file.
    """
    import onnx  # deferred: only the converter needs it (requirements/deploy.txt)
    from onnx import numpy_helper

    src = Path(path).expanduser()
    if not src.is_file():
        raise FileNotFoundError(f"{src}: ONNX file does not exist.")
    try:
        model = onnx.load(str(src))
    except Exception as err:  # protobuf's DecodeError, onnx's own errors: none names the file
        raise YOLOXOnnxConversionError(
            f"{src}: cannot be read as an ONNX model ({_first_line(err)})."
        ) from err
    graph = model.graph
    constants: dict[str, np.ndarray] = {
        init.name: numpy_helper.to_array(init) for init in graph.initializer
    }
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attr.t)
    folded = [n.name or f"#{i}" for i, n in enumerate(graph.node) if "BatchNorm" in n.op_type]
    if folded:
        raise YOLOXOnnxConversionError(
            f"{src}: has {len(folded)} BatchNormalization nodes (first '{folded[0]}'); this "
            "converter maps exports with BN folded into the convolutions only."
        )
    convs: list[OnnxConv] = []
    for node in graph.node:
        if node.op_type != "Conv" or node.domain not in ("", "ai.onnx"):
            continue
        index = len(convs)
        name = node.name or f"#{index}"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
        if auto_pad != "NOTSET":
            raise YOLOXOnnxConversionError(
                f"{src}: Conv node '{name}' uses auto_pad={auto_pad}; only explicit pads are "
                "supported."
            )
        if len(node.input) < 2 or node.input[1] not in constants:
            where = node.input[1] if len(node.input) > 1 else "<none>"
            raise YOLOXOnnxConversionError(
                f"{src}: Conv node '{name}' takes its weight '{where}' from another node, not "
                "from an initialiser or Constant."
            )
        bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if bias_name is not None and bias_name not in constants:
            raise YOLOXOnnxConversionError(
                f"{src}: Conv node '{name}' takes its bias '{bias_name}' from another node, not "
                "from an initialiser or Constant."
            )
        weight = constants[node.input[1]]
        spatial = max(weight.ndim - 2, 0)
        pads = tuple(int(p) for p in attrs.get("pads", [0] * (2 * spatial)))
        convs.append(
            OnnxConv(
                index=index,
                node=name,
                weight_name=node.input[1],
                weight=weight,
                bias_name=bias_name,
                bias=None if bias_name is None else constants[bias_name],
                group=int(attrs.get("group", 1)),
                strides=tuple(int(s) for s in attrs.get("strides", [1] * spatial)),  # type: ignore[arg-type]
                pads=pads,  # type: ignore[arg-type]
                dilations=tuple(int(d) for d in attrs.get("dilations", [1] * spatial)),  # type: ignore[arg-type]
            )
        )
    if not convs:
        raise YOLOXOnnxConversionError(f"{src}: the ONNX graph has no Conv node.")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    initialisers = {init.name for init in graph.initializer}
    return OnnxConvGraph(
        convs=convs,
        opset=int(opset),
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        inputs={v.name: _value_shape(v) for v in graph.input if v.name not in initialisers},
        outputs={v.name: _value_shape(v) for v in graph.output},
    )


# ---------------------------------------------------------------------------- target slots
def module_conv_slots(prefix: str, module: nn.Module) -> list[ConvSlot]:
    """The convolutions of one mmdet / mmcv building block, in the official execution order.

    Known blocks: ``nn.Conv2d`` (with bias), mmcv's ``ConvModule`` (conv + BatchNorm) and
    ``DepthwiseSeparableConvModule``, mmdet's ``Focus``, ``SPPBottleneck``, ``CSPLayer`` (main,
    short, blocks, final; no channel attention), ``DarknetBottleneck`` and ``nn.Sequential`` of
    these.

    Args:
        prefix: The module's name in the model's state dict (``backbone.stage1``).
        module: The module.

    Returns:
        Its convolutions, in the order the ONNX Conv nodes of the same block run.

    Raises:
        YOLOXOnnxConversionError: A module this converter has no rule for (e.g. a ConvModule
            without BatchNorm, a DCN, channel attention).
    """
    from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
    from mmdet.models.backbones.csp_darknet import Focus, SPPBottleneck
    from mmdet.models.layers.csp_layer import CSPLayer, DarknetBottleneck

    def unsupported(why: str) -> YOLOXOnnxConversionError:
        return YOLOXOnnxConversionError(
            f"target module '{prefix}' ({type(module).__name__}) {why}; no ONNX mapping rule."
        )

    if isinstance(module, DepthwiseSeparableConvModule):
        return module_conv_slots(f"{prefix}.depthwise_conv", module.depthwise_conv) + (
            module_conv_slots(f"{prefix}.pointwise_conv", module.pointwise_conv)
        )
    if isinstance(module, ConvModule):
        norm = module.norm if module.with_norm else None
        if not isinstance(norm, nn.modules.batchnorm._BatchNorm):
            raise unsupported("has no BatchNorm")
        if type(module.conv) is not nn.Conv2d:
            raise unsupported(f"convolves with {type(module.conv).__name__}, not nn.Conv2d")
        return [ConvSlot(prefix, module.conv, module.norm_name, float(norm.eps))]
    if isinstance(module, Focus):
        return module_conv_slots(f"{prefix}.conv", module.conv)
    if isinstance(module, SPPBottleneck | DarknetBottleneck):
        return module_conv_slots(f"{prefix}.conv1", module.conv1) + module_conv_slots(
            f"{prefix}.conv2", module.conv2
        )
    if isinstance(module, CSPLayer):
        if module.channel_attention:
            raise unsupported("has channel attention")
        slots = module_conv_slots(f"{prefix}.main_conv", module.main_conv)
        slots += module_conv_slots(f"{prefix}.short_conv", module.short_conv)
        slots += module_conv_slots(f"{prefix}.blocks", module.blocks)
        return slots + module_conv_slots(f"{prefix}.final_conv", module.final_conv)
    if isinstance(module, nn.Sequential):
        slots = []
        for name, child in module.named_children():
            slots += module_conv_slots(f"{prefix}.{name}", child)
        return slots
    if type(module) is nn.Conv2d:
        if module.bias is None:
            raise unsupported("is a convolution without bias and without BatchNorm")
        return [ConvSlot(prefix, module)]
    if isinstance(module, nn.MaxPool2d | nn.Upsample | nn.Identity):
        return []
    raise unsupported("is not a known YOLOX block")


def yolox_conv_slots(model: nn.Module) -> list[ConvSlot]:
    """The convolutions of an mmdet ``YOLOX`` in the official YOLOX forward order.

    Backbone stages in order; the PAFPN's top-down path (``reduce_layers.i``,
    ``top_down_blocks.i``) then its bottom-up path (``downsamples.i``, ``bottom_up_blocks.i``);
    then per level ``k``: ``neck.out_convs.k`` (the official head's stem), the class convs and
    predictor, the box convs, the box and objectness predictors (module docstring).

    Args:
        model: An mmdet detector with a ``CSPDarknet`` backbone, a ``YOLOXPAFPN`` neck and a
            ``YOLOXHead`` (any depth / width, depthwise or not).

    Returns:
        Its convolutions, one per ONNX Conv node of an export of the same network.

    Raises:
        YOLOXOnnxConversionError: The model is not built from these parts, or a part has a
            module with no mapping rule.
    """
    from mmdet.models.backbones import CSPDarknet
    from mmdet.models.dense_heads import YOLOXHead
    from mmdet.models.necks import YOLOXPAFPN

    parts = {
        "backbone": (getattr(model, "backbone", None), CSPDarknet),
        "neck": (getattr(model, "neck", None), YOLOXPAFPN),
        "bbox_head": (getattr(model, "bbox_head", None), YOLOXHead),
    }
    for name, (part, kind) in parts.items():
        if not isinstance(part, kind):
            raise YOLOXOnnxConversionError(
                f"target model: its {name} is {type(part).__name__}, not mmdet's "
                f"{kind.__name__}; this converter maps YOLOX only."
            )
    # checked above; Any: mmdet's modules are untyped
    backbone: Any = model.backbone
    neck: Any = model.neck
    head: Any = model.bbox_head
    slots: list[ConvSlot] = []
    for name in backbone.layers:
        slots += module_conv_slots(f"backbone.{name}", getattr(backbone, name))
    for i in range(len(neck.reduce_layers)):
        slots += module_conv_slots(f"neck.reduce_layers.{i}", neck.reduce_layers[i])
        slots += module_conv_slots(f"neck.top_down_blocks.{i}", neck.top_down_blocks[i])
    for i in range(len(neck.downsamples)):
        slots += module_conv_slots(f"neck.downsamples.{i}", neck.downsamples[i])
        slots += module_conv_slots(f"neck.bottom_up_blocks.{i}", neck.bottom_up_blocks[i])
    if len(neck.out_convs) != len(head.multi_level_cls_convs):
        raise YOLOXOnnxConversionError(
            f"target model: the neck has {len(neck.out_convs)} output convs but the head "
            f"{len(head.multi_level_cls_convs)} levels."
        )
    for k in range(len(neck.out_convs)):
        for prefix, module in (
            (f"neck.out_convs.{k}", neck.out_convs[k]),
            (f"bbox_head.multi_level_cls_convs.{k}", head.multi_level_cls_convs[k]),
            (f"bbox_head.multi_level_conv_cls.{k}", head.multi_level_conv_cls[k]),
            (f"bbox_head.multi_level_reg_convs.{k}", head.multi_level_reg_convs[k]),
            (f"bbox_head.multi_level_conv_reg.{k}", head.multi_level_conv_reg[k]),
            (f"bbox_head.multi_level_conv_obj.{k}", head.multi_level_conv_obj[k]),
        ):
            slots += module_conv_slots(prefix, module)
    return slots


# ---------------------------------------------------------------------------- conversion
def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _check_conv(conv: OnnxConv, slot: ConvSlot, source: str) -> None:
    """Raise on the first attribute of ``conv`` that ``slot``'s ``nn.Conv2d`` does not share."""
    target = slot.conv
    where = (
        f"{source}: Conv node #{conv.index} '{conv.node}' (weight '{conv.weight_name}') -> "
        f"mmdet '{slot.weight_key}'"
    )
    want = tuple(target.weight.shape)
    if tuple(conv.weight.shape) != want:
        raise YOLOXOnnxConversionError(
            f"{where}: weight shape {tuple(conv.weight.shape)}, the model needs {want} "
            "(Conv nodes are mapped in execution order: another YOLOX size, or a graph "
            "that is not YOLOX?)"
        )
    if conv.bias is not None and tuple(conv.bias.shape) != (want[0],):
        raise YOLOXOnnxConversionError(
            f"{where}: bias '{conv.bias_name}' shape {tuple(conv.bias.shape)}, the model needs "
            f"({want[0]},)"
        )
    padding = target.padding
    if isinstance(padding, str):
        raise YOLOXOnnxConversionError(f"{where}: the target pads '{padding}', not explicitly")
    pad_h, pad_w = _pair(padding)
    checks = (
        ("group", conv.group, target.groups),
        ("strides", conv.strides, _pair(target.stride)),
        ("pads", conv.pads, (pad_h, pad_w, pad_h, pad_w)),
        ("dilations", conv.dilations, _pair(target.dilation)),
    )
    for name, got, need in checks:
        if got != need:
            raise YOLOXOnnxConversionError(f"{where}: {name} {got}, the model needs {need}")


def convert_yolox_convs(
    convs: Sequence[OnnxConv],
    slots: Sequence[ConvSlot],
    target: Mapping[str, torch.Tensor],
    source: str = "<onnx>",
) -> YOLOXConversion:
    """Map folded ONNX convolutions onto the model's convolutions, one to one, in order.

    Conv ``i`` fills slot ``i``. A slot with BatchNorm gets the ONNX weight as ``conv.weight``
    and a neutral BN: ``weight`` 1, ``bias`` the ONNX bias (0 where the node has none),
    ``running_mean`` 0, ``running_var`` ``1 - eps``, ``num_batches_tracked`` 0 (and a conv
    bias, where the ConvModule has one, 0). A plain ``nn.Conv2d`` slot gets weight and bias.

    Args:
        convs: The ONNX Conv nodes in execution order (:func:`read_onnx_convs`); weights
            ``[C_out, C_in / group, kH, kW]``, biases ``[C_out]``.
        slots: The target's convolutions in the same order (:func:`yolox_conv_slots`).
        target: The target model's ``state_dict()``: every key must be filled, nothing else.
        source: The file name, for error messages.

    Returns:
        The state dict in the target's key order (float tensors in the target's dtypes) and
        where each tensor came from.

    Raises:
        YOLOXOnnxConversionError: The counts differ, or a node's weight / bias shape, groups,
            strides, pads or dilations differ from its slot's (the first one is named), or the
            filled keys are not exactly the target's.
    """
    if len(convs) != len(slots):
        raise YOLOXOnnxConversionError(
            f"{source}: {len(convs)} Conv nodes, but the target model has {len(slots)} "
            "convolutions (another YOLOX size or a truncated graph?)"
        )
    for conv, slot in zip(convs, slots):
        _check_conv(conv, slot, source)
    converted: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    zero_biases: list[str] = []

    def put(key: str, value: torch.Tensor, where: str) -> None:
        if key not in target:
            raise YOLOXOnnxConversionError(
                f"{source}: {where} maps to '{key}', which the target model does not have"
            )
        if key in converted:
            raise YOLOXOnnxConversionError(f"{source}: '{key}' is filled twice ({where})")
        want = target[key]
        if tuple(value.shape) != tuple(want.shape):
            raise YOLOXOnnxConversionError(
                f"{source}: {where} -> '{key}' has shape {tuple(value.shape)}, the model needs "
                f"{tuple(want.shape)}"
            )
        converted[key] = value.to(want.dtype) if want.is_floating_point() else value
        origin[key] = where

    for conv, slot in zip(convs, slots):
        weight = torch.from_numpy(np.array(conv.weight, copy=True))
        out_channels = weight.shape[0]
        from_node = f"{conv.node}:{conv.weight_name}"
        if conv.bias is None:
            bias = torch.zeros(out_channels)
            bias_origin = f"<zero: {conv.node} has no bias>"
        else:
            bias = torch.from_numpy(np.array(conv.bias, copy=True))
            bias_origin = f"{conv.node}:{conv.bias_name}"
        if slot.norm_name is None:
            put(f"{slot.prefix}.weight", weight, from_node)
            put(f"{slot.prefix}.bias", bias, bias_origin)
            if conv.bias is None:
                zero_biases.append(f"{slot.prefix}.bias")
            continue
        assert slot.eps is not None  # a BN slot always carries its eps
        put(slot.weight_key, weight, from_node)
        if slot.conv.bias is not None:  # a ConvModule with conv bias and BN: the BN carries b
            put(f"{slot.prefix}.conv.bias", torch.zeros(out_channels), "<zero: bias is in BN>")
        bn = f"{slot.prefix}.{slot.norm_name}"
        put(f"{bn}.weight", torch.ones(out_channels), "<neutral BN: 1>")
        put(f"{bn}.bias", bias, bias_origin)
        if conv.bias is None:
            zero_biases.append(f"{bn}.bias")
        put(f"{bn}.running_mean", torch.zeros(out_channels), "<neutral BN: 0>")
        put(
            f"{bn}.running_var",
            torch.full((out_channels,), 1.0 - slot.eps),
            f"<neutral BN: 1 - eps, eps {slot.eps:g}>",
        )
        if f"{bn}.num_batches_tracked" in target:
            put(f"{bn}.num_batches_tracked", torch.tensor(0, dtype=torch.long), "<BN counter: 0>")
    missing = [key for key in target if key not in converted]
    if missing:
        raise YOLOXOnnxConversionError(
            f"{source}: no Conv node fills the target key '{missing[0]}' ({len(missing)} of "
            f"{len(target)} unfilled)"
        )
    return YOLOXConversion(
        state_dict={key: converted[key] for key in target},
        origin={key: origin[key] for key in target},
        zero_biases=zero_biases,
    )


def _coco_dataset_meta() -> dict[str, Any]:
    from mmdet.datasets import CocoDataset

    return {
        "classes": tuple(CocoDataset.METAINFO["classes"]),
        "palette": [tuple(int(c) for c in color) for color in CocoDataset.METAINFO["palette"]],
    }


def convert_yolox_onnx_file(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    model: nn.Module,
    dataset_meta: Mapping[str, Any] | None = None,
    source_name: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> ConvertedYOLOX:
    """Convert a folded YOLOX ONNX export into an mmdet checkpoint for ``model``'s architecture.

    Writes ``{'state_dict': ..., 'meta': {...}}`` atomically; it loads with
    ``load_checkpoint(model, OUT, strict=True)``. ``meta`` holds ``dataset_meta`` (COCO's 80
    classes and palette unless given, as mmdet's ``init_detector`` reads them), the source file
    and its sha256, its opset, producer and input / output shapes, and the BN rule.

    Args:
        src: The ONNX file.
        out: The checkpoint to write (parent folders are created; never ``src``).
        model: The target mmdet YOLOX (its keys and shapes are the contract; its weights are
            not used).
        dataset_meta: ``meta['dataset_meta']`` (default: COCO's classes and palette).
        source_name: What ``meta['source']`` records (default: the absolute path of ``src``).
        provenance: Extra entries for ``meta`` (e.g. the config the model was built from).

    Returns:
        What was written (:class:`ConvertedYOLOX`).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        YOLOXOnnxConversionError: ``src`` is unreadable or does not map strictly onto
            ``model`` (the message names the file and the first mismatching tensor), or
            ``out`` is ``src``.
    """
    src_path, out_path = Path(src).expanduser(), Path(out).expanduser()
    if not src_path.is_file():
        raise FileNotFoundError(f"{src_path}: ONNX file does not exist.")
    if out_path.resolve() == src_path.resolve():
        raise YOLOXOnnxConversionError(
            f"{out_path}: refusing to write over the source; choose another output path."
        )
    graph = read_onnx_convs(src_path)
    slots = yolox_conv_slots(model)
    conversion = convert_yolox_convs(graph.convs, slots, model.state_dict(), str(src_path))
    source_sha256 = file_sha256(str(src_path))
    eps = sorted({slot.eps for slot in slots if slot.eps is not None})
    meta: dict[str, Any] = {
        "dataset_meta": dict(dataset_meta) if dataset_meta is not None else _coco_dataset_meta(),
        "source": source_name if source_name is not None else str(src_path.resolve()),
        "source_sha256": source_sha256,
        "source_format": f"ONNX opset {graph.opset} ({graph.producer})",
        "source_inputs": {k: list(v) for k, v in graph.inputs.items()},
        "source_outputs": {k: list(v) for k, v in graph.outputs.items()},
        "converter": __name__,
        "target": "mmdet YOLOX (CSPDarknet / YOLOXPAFPN / YOLOXHead)",
        "num_conv_nodes": len(graph.convs),
        "batchnorm": (
            "folded in the source; written as neutral BN (weight 1, bias = fused conv bias, "
            f"running_mean 0, running_var 1 - eps, eps {', '.join(f'{e:g}' for e in eps)}): "
            "exact in eval mode; fine-tune with norm_eval / frozen BN"
        ),
        "zero_biases": list(conversion.zero_biases),
        **dict(provenance or {}),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    # through a file object: the archive inside is named 'archive', not after OUT, so the bytes
    # do not depend on the output's name
    with open(partial, "wb") as file:
        torch.save({"state_dict": conversion.state_dict, "meta": meta}, file)
    os.replace(partial, out_path)  # a crash never leaves a half-written checkpoint at OUT
    return ConvertedYOLOX(
        path=out_path.resolve(),
        sha256=file_sha256(str(out_path)),
        source=src_path.resolve(),
        source_sha256=source_sha256,
        num_convs=len(graph.convs),
        num_tensors=len(conversion.state_dict),
        meta=meta,
    )


# ---------------------------------------------------------------------------- checking
def letterbox_bgr(
    image: np.ndarray, size: int | tuple[int, int] = 416, pad_value: int = LETTERBOX_PAD_VALUE
) -> tuple[np.ndarray, float]:
    """YOLOX's inference preprocessing: resize keeping the aspect ratio, pad bottom / right.

    The same input for the ONNX model and for mmdet's YOLOX (whose data preprocessor takes BGR
    0-255 without mean / std): ``r = min(H_in / h, W_in / w)``, bilinear resize to
    ``(int(h * r), int(w * r))``, placed top-left on a ``pad_value`` canvas.

    Args:
        image: A BGR ``uint8`` image, shape ``(h, w, 3)``.
        size: The network input, ``S`` or ``(H_in, W_in)``.
        pad_value: The padding grey level.

    Returns:
        The input ``[1, 3, H_in, W_in]`` float32 (BGR, 0-255) and the ratio ``r`` (a box in the
        input divided by ``r`` is in the original image).
    """
    import cv2

    height, width = (size, size) if isinstance(size, int) else size
    ratio = min(height / image.shape[0], width / image.shape[1])
    new_w, new_h = int(image.shape[1] * ratio), int(image.shape[0] * ratio)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), pad_value, dtype=np.uint8)
    canvas[:new_h, :new_w] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32), ratio


def yolox_onnx_layout(
    cls_scores: Sequence[torch.Tensor],
    bbox_preds: Sequence[torch.Tensor],
    objectnesses: Sequence[torch.Tensor],
) -> torch.Tensor:
    """Arrange ``YOLOXHead.forward``'s per-level outputs like the official ONNX output.

    Per anchor point: the 4 raw box values (x / y offsets and log w / log h, in grid units),
    ``sigmoid(objectness)``, the ``C`` ``sigmoid(class)`` scores; points row-major within a
    level, levels in stride order.

    Args:
        cls_scores: Per level ``[B, C, H_l, W_l]`` class logits.
        bbox_preds: Per level ``[B, 4, H_l, W_l]``.
        objectnesses: Per level ``[B, 1, H_l, W_l]`` logits.

    Returns:
        ``[B, N, 5 + C]`` with ``N = sum(H_l * W_l)`` (3549 at 416x416).
    """
    levels = []
    for cls_score, bbox_pred, objectness in zip(cls_scores, bbox_preds, objectnesses):
        level = torch.cat([bbox_pred, objectness.sigmoid(), cls_score.sigmoid()], dim=1)
        levels.append(level.flatten(2).transpose(1, 2))
    return torch.cat(levels, dim=1)


@torch.no_grad()
def yolox_raw_outputs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Run an mmdet YOLOX (backbone, neck, head) on network inputs; output in the ONNX layout.

    Args:
        model: The mmdet YOLOX (put in eval mode here).
        inputs: ``[B, 3, H, W]`` float, BGR 0-255 (e.g. :func:`letterbox_bgr`'s first value):
            no data preprocessor runs, YOLOX's does not normalise.

    Returns:
        ``[B, N, 5 + C]`` (:func:`yolox_onnx_layout`).
    """
    detector: Any = model.eval()  # mmdet's detectors are untyped
    feats = detector.extract_feat(inputs)
    cls_scores, bbox_preds, objectnesses = detector.bbox_head(feats)
    return yolox_onnx_layout(cls_scores, bbox_preds, objectnesses)


def onnxruntime_outputs(
    src: str | os.PathLike[str], inputs: np.ndarray, session: Any | None = None
) -> np.ndarray:
    """Run the ONNX model with onnxruntime's CPU provider.

    Args:
        src: The ONNX file (ignored when ``session`` is given).
        inputs: ``[B, 3, H, W]`` float32 for the graph's first input.
        session: An ``onnxruntime.InferenceSession`` to reuse.

    Returns:
        The graph's first output (``[1, 3549, 85]`` for YOLOX-Nano at 416).
    """
    if session is None:
        import onnxruntime  # deferred: only the checks need it (requirements/deploy.txt)

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(src), sess_options=options, providers=["CPUExecutionProvider"]
        )
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: inputs.astype(np.float32)})[0])


def compare_with_onnxruntime(
    src: str | os.PathLike[str],
    model: nn.Module,
    images: Sequence[np.ndarray],
    size: int | tuple[int, int] | None = None,
) -> list[float]:
    """Max absolute difference between onnxruntime's and the mmdet model's raw outputs.

    Each image is letterboxed (:func:`letterbox_bgr`) to the ONNX input size and run through
    both; the mmdet outputs are arranged like the ONNX output (:func:`yolox_onnx_layout`).

    Args:
        src: The ONNX file.
        model: The converted mmdet YOLOX.
        images: BGR ``uint8`` images, each ``(h, w, 3)``.
        size: The input size (default: the ONNX input's ``(H, W)``).

    Returns:
        One max abs difference per image.

    Raises:
        YOLOXOnnxConversionError: The ONNX input size is symbolic and ``size`` is not given, or
            the two outputs have different shapes.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        str(src), sess_options=options, providers=["CPUExecutionProvider"]
    )
    if size is None:
        shape = session.get_inputs()[0].shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise YOLOXOnnxConversionError(
                f"{src}: input shape {shape} has no fixed size; give the size to check at"
            )
        size = (int(shape[2]), int(shape[3]))
    diffs = []
    for image in images:
        inputs, _ = letterbox_bgr(image, size)
        expected = onnxruntime_outputs(src, inputs, session)
        got = yolox_raw_outputs(model, torch.from_numpy(inputs)).numpy()
        if got.shape != expected.shape:
            raise YOLOXOnnxConversionError(
                f"{src}: onnxruntime gives {expected.shape}, the mmdet model {got.shape}"
            )
        diffs.append(float(np.abs(got - expected).max()))
    return diffs
