"""COCO Deformable DETR (iterative box refinement) weights -> this repo's MOTRv2, key by key.

MOTRv2 trains from the COCO Deformable DETR with iterative bounding-box refinement (its
``--pretrained r50_deformable_detr_plus_iterative_bbox_refinement-checkpoint.pth``), loaded by
its ``util/tool.py:load_model``: parameters of the same name and shape are copied, the class
heads keep rows ``1 .. K`` of COCO's 91 logits (row 1 is COCO category 1, *person*), and the rest
(its 10 queries, the proposal embedding, QIM) keeps its initialisation. This module does the same
into the module names of :class:`~mmdistillmot.models.mot.motrv2.MOTRv2`, where mmdet's and
mmcv's layers name things differently:

=====================================================  =========================================
Deformable DETR (``checkpoint['model']``)              MOTRv2 here
=====================================================  =========================================
``backbone.0.body.<resnet key>`` (frozen BN buffers)   ``backbone.<resnet key>``
``input_proj.{0,1,2}.0`` (1x1 conv) / ``.1`` (GN)      ``neck.convs.{0,1,2}.conv`` / ``.gn``
``input_proj.3.0`` (3x3 s2 conv) / ``.1`` (GN)         ``neck.extra_convs.0.conv`` / ``.gn``
``transformer.level_embed``                            ``level_embed``
``transformer.encoder.layers.N.self_attn.*``           ``encoder.layers.N.self_attn.*``
``transformer.encoder.layers.N.linear1 / linear2``     ``encoder.layers.N.ffn.layers.0.0 / .1``
``transformer.encoder.layers.N.norm1 / norm2``         ``encoder.layers.N.norms.0 / .1``
``transformer.decoder.layers.N.self_attn.*``           ``decoder.layers.N.self_attn.attn.*``
``transformer.decoder.layers.N.cross_attn.*``          ``decoder.layers.N.cross_attn.*``
``transformer.decoder.layers.N.norm2 / norm1 / norm3``  ``decoder.layers.N.norms.0 / .1 / .2``
``transformer.decoder.layers.N.linear1 / linear2``     ``decoder.layers.N.ffn.layers.0.0 / .1``
``class_embed.N`` (``[91, C]``, ``[91]``)              ``cls_branches.N`` (rows ``class_rows``)
``bbox_embed.N.layers.{0,1,2}``                        ``reg_branches.N.{0,2,4}``
=====================================================  =========================================

The decoder norms are crossed on purpose: Deformable DETR's decoder layer runs self-attention
then ``norm2``, cross-attention then ``norm1``, the FFN then ``norm3``; mmdet's layer normalises
with ``norms[0]``, ``norms[1]``, ``norms[2]`` in that running order.

Dropped source keys (:data:`DROPPED_SOURCE_KEYS`): ``transformer.decoder.bbox_embed.*`` (with
box refinement the decoder holds the *same* modules as ``bbox_embed``; checked equal),
``transformer.decoder.class_embed.*`` (two-stage only; checked equal when present),
``transformer.reference_points`` (the 2-d reference head of Deformable DETR's 300 queries) and
``query_embed`` (those 300 queries, ``[300, 2C]``): MOTRv2 uses its own 10 queries with learned
reference boxes, and its loader skips both as shape mismatches.

Target keys the checkpoint does not provide (:data:`NEW_TARGET_KEYS`, kept at their
initialisation as in MOTRv2): the detect queries (``detect_content``, ``detect_boxes``), the
proposal embedding (``proposal_content``), the denoising embedding (``denoiser.*``), QIM
(``qim.*``), a query refiner (``query_refiner.*``, VSD-MOT) and BatchNorm's
``num_batches_tracked`` (torchvision's FrozenBatchNorm2d has none; written as 0).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mmdistillmot.compat import UnsafeCheckpointError, safe_load_checkpoint
from mmdistillmot.models.teachers.weights import file_sha256, unwrap_state_dict

__all__ = [
    "COCO_PERSON_ROW",
    "DROPPED_SOURCE_KEYS",
    "NEW_TARGET_KEYS",
    "DeformableDETRConversion",
    "DeformableDETRConversionError",
    "check_against_model",
    "convert_deformable_detr_file",
    "convert_deformable_detr_weights",
    "deformable_detr_class_rows",
    "summarize",
]

#: Row of Deformable DETR's COCO class head for *person*: its 91 logits are indexed by COCO
#: category id (ids 1..90, 0 unused), and person is category 1.
COCO_PERSON_ROW = 1

#: Source keys left out of the conversion, with the reason recorded in the output's ``meta``.
DROPPED_SOURCE_KEYS: dict[str, str] = {
    r"^transformer\.decoder\.bbox_embed\.": "the same modules as bbox_embed (box refinement)",
    r"^transformer\.decoder\.class_embed\.": "the same modules as class_embed (two-stage)",
    r"^transformer\.reference_points\.": "reference head of Deformable DETR's 300 queries",
    r"^query_embed\.": "Deformable DETR's 300 queries ([300, 2C]); MOTRv2 has its own",
}

#: Target keys (regular expressions over MOTRv2's state dict) that no source key fills.
NEW_TARGET_KEYS: dict[str, str] = {
    r"^detect_content\.weight$": "MOTRv2's learned detect queries (content)",
    r"^detect_boxes\.weight$": "MOTRv2's learned detect queries (reference boxes)",
    r"^proposal_content\.weight$": "MOTRv2's proposal-query embedding",
    r"^denoiser\.": "query denoising embedding",
    r"^qim\.": "QIMv2 (query interaction)",
    r"^query_refiner\.": "VSD-MOT's student and DSWR",
    r"^backbone\..*\.num_batches_tracked$": "BatchNorm counter (FrozenBatchNorm2d has none)",
}

_SPECIAL_RE = re.compile(r"^(?:class_embed)\.(\d+)\.(weight|bias)$")

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^backbone\.0\.body\.(.+)$"), r"backbone.\1"),
    (re.compile(r"^input_proj\.([0-2])\.0\.(weight|bias)$"), r"neck.convs.\1.conv.\2"),
    (re.compile(r"^input_proj\.([0-2])\.1\.(weight|bias)$"), r"neck.convs.\1.gn.\2"),
    (re.compile(r"^input_proj\.3\.0\.(weight|bias)$"), r"neck.extra_convs.0.conv.\1"),
    (re.compile(r"^input_proj\.3\.1\.(weight|bias)$"), r"neck.extra_convs.0.gn.\1"),
    (re.compile(r"^transformer\.level_embed$"), "level_embed"),
    (
        re.compile(
            r"^transformer\.encoder\.layers\.(\d+)\.self_attn\."
            r"(sampling_offsets|attention_weights|value_proj|output_proj)\.(weight|bias)$"
        ),
        r"encoder.layers.\1.self_attn.\2.\3",
    ),
    (
        re.compile(r"^transformer\.encoder\.layers\.(\d+)\.linear1\.(weight|bias)$"),
        r"encoder.layers.\1.ffn.layers.0.0.\2",
    ),
    (
        re.compile(r"^transformer\.encoder\.layers\.(\d+)\.linear2\.(weight|bias)$"),
        r"encoder.layers.\1.ffn.layers.1.\2",
    ),
    (
        re.compile(r"^transformer\.encoder\.layers\.(\d+)\.norm1\.(weight|bias)$"),
        r"encoder.layers.\1.norms.0.\2",
    ),
    (
        re.compile(r"^transformer\.encoder\.layers\.(\d+)\.norm2\.(weight|bias)$"),
        r"encoder.layers.\1.norms.1.\2",
    ),
    (
        re.compile(
            r"^transformer\.decoder\.layers\.(\d+)\.self_attn\."
            r"(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)$"
        ),
        r"decoder.layers.\1.self_attn.attn.\2",
    ),
    (
        re.compile(
            r"^transformer\.decoder\.layers\.(\d+)\.cross_attn\."
            r"(sampling_offsets|attention_weights|value_proj|output_proj)\.(weight|bias)$"
        ),
        r"decoder.layers.\1.cross_attn.\2.\3",
    ),
    # Deformable DETR: self-attn -> norm2, cross-attn -> norm1, FFN -> norm3
    (
        re.compile(r"^transformer\.decoder\.layers\.(\d+)\.norm2\.(weight|bias)$"),
        r"decoder.layers.\1.norms.0.\2",
    ),
    (
        re.compile(r"^transformer\.decoder\.layers\.(\d+)\.norm1\.(weight|bias)$"),
        r"decoder.layers.\1.norms.1.\2",
    ),
    (
        re.compile(r"^transformer\.decoder\.layers\.(\d+)\.norm3\.(weight|bias)$"),
        r"decoder.layers.\1.norms.2.\2",
    ),
    (
        re.compile(r"^transformer\.decoder\.layers\.(\d+)\.linear1\.(weight|bias)$"),
        r"decoder.layers.\1.ffn.layers.0.0.\2",
    ),
    (
        re.compile(r"^transformer\.decoder\.layers\.(\d+)\.linear2\.(weight|bias)$"),
        r"decoder.layers.\1.ffn.layers.1.\2",
    ),
]
_BBOX_RE = re.compile(r"^bbox_embed\.(\d+)\.layers\.([0-2])\.(weight|bias)$")


class DeformableDETRConversionError(ValueError):
    """A Deformable DETR checkpoint that does not convert key by key into MOTRv2."""


@dataclass
class DeformableDETRConversion:
    """The converted weights and what happened to every key.

    Attributes:
        state_dict: MOTRv2 name -> tensor (cloned), e.g. ``cls_branches.0.weight [K, C]``.
        origin: MOTRv2 name -> the source key it came from (``'<filled>'`` for the BN counters).
        dropped_keys: Source keys left out (see :data:`DROPPED_SOURCE_KEYS`).
        class_rows: The rows of the source class heads kept, in order.
    """

    state_dict: dict[str, torch.Tensor]
    origin: dict[str, str]
    dropped_keys: list[str] = field(default_factory=list)
    class_rows: list[int] = field(default_factory=list)


def deformable_detr_class_rows(num_classes: int) -> list[int]:
    """The class-head rows MOTRv2's loader keeps for ``num_classes`` classes: ``1 .. K``.

    Args:
        num_classes: Classes of the MOTRv2 model (1 for pedestrians).

    Returns:
        ``[1, ..., num_classes]`` (COCO category ids; 1 is person).

    Raises:
        DeformableDETRConversionError: ``num_classes`` is not in 1..90.
    """
    if not 1 <= num_classes <= 90:
        raise DeformableDETRConversionError(
            f"num_classes must lie in 1..90 (COCO category ids), got {num_classes}"
        )
    return list(range(COCO_PERSON_ROW, COCO_PERSON_ROW + num_classes))


def _rename(key: str) -> str | None:
    for pattern, repl in _RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    match = _BBOX_RE.match(key)
    if match:
        layer, sub, param = match.groups()
        return f"reg_branches.{layer}.{2 * int(sub)}.{param}"  # Linear, ReLU, Linear, ReLU, Linear
    return None


def _dropped_reason(key: str) -> str | None:
    for pattern, reason in DROPPED_SOURCE_KEYS.items():
        if re.search(pattern, key):
            return reason
    return None


def _check_copy(state_dict: Mapping[str, torch.Tensor], key: str, source: str) -> None:
    """A dropped decoder alias must equal the head it aliases (else the file is not MOTRv2's)."""
    head = re.sub(r"^transformer\.decoder\.", "", key)
    if head in state_dict and not torch.equal(state_dict[head], state_dict[key]):
        raise DeformableDETRConversionError(
            f"{source}: '{key}' differs from '{head}'; with iterative box refinement the "
            "decoder's heads are the model's heads (is this a refinement checkpoint?)"
        )


def convert_deformable_detr_weights(
    state_dict: Mapping[str, torch.Tensor],
    num_classes: int = 1,
    source: str = "<state dict>",
) -> DeformableDETRConversion:
    """Map a Deformable DETR (box refinement) state dict onto MOTRv2's names.

    Args:
        state_dict: Deformable DETR name -> tensor (``checkpoint['model']``), e.g.
            ``class_embed.0.weight [91, 256]``, ``bbox_embed.0.layers.2.weight [4, 256]``.
        num_classes: Classes of the MOTRv2 model; its class heads get the source rows
            :func:`deformable_detr_class_rows` (``[1]``, person, for one class).
        source: The file name, for error messages.

    Returns:
        The converted weights (every source tensor mapped, or dropped with a reason).

    Raises:
        DeformableDETRConversionError: A source key has no rule, two keys map to one name, a
            class head has too few rows, or a dropped decoder alias differs from its head.
    """
    rows = deformable_detr_class_rows(num_classes)
    converted: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        if _dropped_reason(key) is not None:
            if key.startswith(("transformer.decoder.bbox_embed.", "transformer.decoder.class")):
                _check_copy(state_dict, key, source)
            dropped.append(key)
            continue
        special = _SPECIAL_RE.match(key)
        if special:
            layer, param = special.groups()
            if value.shape[0] <= rows[-1]:
                raise DeformableDETRConversionError(
                    f"{source}: '{key}' has {value.shape[0]} class rows; rows {rows} are needed"
                )
            name = f"cls_branches.{layer}.{param}"
            value = value[rows]
        else:
            renamed = _rename(key)
            if renamed is None:
                raise DeformableDETRConversionError(
                    f"{source}: no rule maps Deformable DETR key '{key}' onto MOTRv2 (not a "
                    "ResNet-50 Deformable DETR with iterative box refinement?)"
                )
            name = renamed
        if name in converted:
            raise DeformableDETRConversionError(
                f"{source}: '{origin[name]}' and '{key}' both map to '{name}'"
            )
        converted[name] = value.detach().clone()
        origin[name] = key
    # FrozenBatchNorm2d has no counter; give every converted BN one (0), as a fresh BN has
    for name in [n for n in converted if n.endswith(".running_mean")]:
        counter = name[: -len("running_mean")] + "num_batches_tracked"
        converted[counter] = torch.tensor(0, dtype=torch.long)
        origin[counter] = "<filled>"
    return DeformableDETRConversion(converted, origin, dropped, rows)


def check_against_model(
    conversion: DeformableDETRConversion,
    target: Mapping[str, torch.Tensor],
    source: str = "<state dict>",
) -> list[str]:
    """Check a conversion against a model's state dict, key by key and shape by shape.

    Args:
        conversion: What :func:`convert_deformable_detr_weights` returned.
        target: The MOTRv2 model's ``state_dict()`` (name -> tensor).
        source: The file name, for error messages.

    Returns:
        The target keys left at their initialisation (each matches :data:`NEW_TARGET_KEYS`).

    Raises:
        DeformableDETRConversionError: A converted key is not in the model or has another
            shape, or a model key is neither converted nor documented as new.
    """
    for name, value in conversion.state_dict.items():
        if name not in target:
            raise DeformableDETRConversionError(
                f"{source}: '{conversion.origin[name]}' maps to '{name}', which the MOTRv2 "
                "model does not have"
            )
        if tuple(value.shape) != tuple(target[name].shape):
            raise DeformableDETRConversionError(
                f"{source}: '{conversion.origin[name]}' -> '{name}' has shape "
                f"{tuple(value.shape)}, the model needs {tuple(target[name].shape)}"
            )
    new = [name for name in target if name not in conversion.state_dict]
    undocumented = [n for n in new if not any(re.search(p, n) for p in NEW_TARGET_KEYS)]
    if undocumented:
        raise DeformableDETRConversionError(
            f"{source}: no source key fills the MOTRv2 key '{undocumented[0]}' "
            f"({len(undocumented)} such keys; a truncated file or another architecture?)"
        )
    return new


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Safe-load the checkpoint; its ``args`` (an ``argparse.Namespace``) is allowed, no code."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = safe_load_checkpoint(str(path), map_location="cpu")
    except (FileNotFoundError, UnsafeCheckpointError):
        raise
    except Exception as err:  # torch's errors on bad bytes do not name the file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DeformableDETRConversionError(f"{path}: cannot be read ({first})") from err
    try:
        return unwrap_state_dict(checkpoint, source=str(path))
    except RuntimeError as err:
        raise DeformableDETRConversionError(str(err)) from err


def convert_deformable_detr_file(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    target: Mapping[str, torch.Tensor],
    num_classes: int = 1,
) -> tuple[DeformableDETRConversion, list[str]]:
    """Convert a Deformable DETR checkpoint file into a MOTRv2 ``load_from`` checkpoint.

    Writes ``{'state_dict': converted, 'meta': {...}}`` atomically; ``meta`` records the source
    file and sha256, the class rows kept, the dropped keys and the model keys left new.

    Args:
        src: The Deformable DETR checkpoint (``{'model': state_dict, ...}``).
        out: The file to write (parent folders are created; never ``src``).
        target: The MOTRv2 model's state dict to check against (:func:`check_against_model`).
        num_classes: The model's classes (class-head rows ``1 .. K``).

    Returns:
        The conversion and the model keys it leaves at their initialisation.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        DeformableDETRConversionError: It does not convert strictly, or ``out`` is ``src``.
        mmdistillmot.compat.UnsafeCheckpointError: ``src`` asks to unpickle unsafe globals.
    """
    src_path, out_path = Path(src).expanduser(), Path(out).expanduser()
    if not src_path.is_file():
        raise FileNotFoundError(f"{src_path}: Deformable DETR checkpoint does not exist.")
    if out_path.resolve() == src_path.resolve():
        raise DeformableDETRConversionError(f"{out_path}: refusing to write over the source")
    source = str(src_path)
    conversion = convert_deformable_detr_weights(_read_state_dict(src_path), num_classes, source)
    new = check_against_model(conversion, target, source)
    meta: dict[str, object] = {
        "source": str(src_path.resolve()),
        "source_sha256": file_sha256(source),
        "converter": __name__,
        "class_rows": list(conversion.class_rows),
        "dropped_keys": list(conversion.dropped_keys),
        "new_keys": new,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with open(partial, "wb") as file:
        torch.save({"state_dict": conversion.state_dict, "meta": meta}, file)
    os.replace(partial, out_path)
    return conversion, new


def summarize(conversion: DeformableDETRConversion, new: Sequence[str]) -> list[str]:
    """Lines for a tool to print: counts of converted, dropped and new keys."""
    return [
        f"converted {len(conversion.state_dict)} tensors (class rows {conversion.class_rows})",
        f"dropped {len(conversion.dropped_keys)} source keys (decoder aliases, 300-query heads)",
        f"left {len(new)} model keys at their initialisation (queries, QIM, denoiser, ...)",
    ]
