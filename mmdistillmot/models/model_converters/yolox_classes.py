"""Keep some classes of an mmdet YOLOX checkpoint: its class predictors' rows, nothing else.

YOLOX scores a prior for class ``c`` as ``sigmoid(cls_c) x sigmoid(objectness)``; each class
has its own row of every level's 1x1 class predictor (``bbox_head.multi_level_conv_cls.k``,
weight ``[num_classes, C, 1, 1]``, bias ``[num_classes]``) and no other tensor depends on the
number of classes. Keeping the rows of the chosen classes therefore gives a YOLOX with
``num_classes = len(keep)`` whose scores for those classes are exactly the original model's:
e.g. COCO's ``person`` row (index 0) for a one-class pedestrian detector fine-tuned by
TDT (configs/tdt/tdt_yolox-nano_embed_synthetic.py). Loading the 80-class checkpoint into a
one-class model instead would skip the class predictors (shape mismatch) and leave them
random.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistillmot.compat import safe_load_checkpoint
from mmdistillmot.models.teachers.weights import file_sha256

__all__ = [
    "KeptClasses",
    "YOLOX_CLASS_PREDICTOR",
    "keep_yolox_classes",
    "keep_yolox_classes_file",
]

#: The keys of YOLOX's per-level class predictors (any prefix, e.g. ``detector.``).
YOLOX_CLASS_PREDICTOR = re.compile(
    r"(?:^|\.)bbox_head\.multi_level_conv_cls\.\d+\.(?:weight|bias)$"
)


@dataclass(frozen=True)
class KeptClasses:
    """What :func:`keep_yolox_classes_file` wrote.

    Attributes:
        path: The written checkpoint (absolute).
        sha256: Its sha256.
        source: The source checkpoint (absolute).
        source_sha256: Its sha256.
        classes: The kept class names, in the new order.
        indices: Their rows in the source predictors.
        sliced_keys: The class-predictor tensors that were sliced.
    """

    path: Path
    sha256: str
    source: Path
    source_sha256: str
    classes: tuple[str, ...]
    indices: tuple[int, ...]
    sliced_keys: tuple[str, ...]


def keep_yolox_classes(
    state_dict: Mapping[str, Tensor], indices: Sequence[int], num_classes: int
) -> tuple[dict[str, Tensor], list[str]]:
    """Keep rows ``indices`` of every YOLOX class predictor; copy every other tensor.

    Args:
        state_dict: An mmdet YOLOX state dict; its class predictors have ``num_classes`` rows
            (weight [num_classes, C, 1, 1], bias [num_classes]).
        indices: The rows to keep, in the order the new classes take.
        num_classes: The source's number of classes (every predictor is checked against it).

    Returns:
        The new state dict (predictors [len(indices), C, 1, 1] / [len(indices)]) and the keys
        that were sliced.

    Raises:
        ValueError: No class predictor in ``state_dict``, one whose first dim is not
            ``num_classes``, or an index outside ``[0, num_classes)`` or repeated.
    """
    if not indices or len(set(indices)) != len(indices):
        raise ValueError(f"class indices must be distinct and not empty, got {list(indices)}")
    bad = [i for i in indices if not 0 <= i < num_classes]
    if bad:
        raise ValueError(f"class indices {bad} outside [0, {num_classes})")
    rows = torch.as_tensor(list(indices), dtype=torch.long)
    out: dict[str, Tensor] = {}
    sliced: list[str] = []
    for key, value in state_dict.items():
        if YOLOX_CLASS_PREDICTOR.search(key):
            if value.dim() < 1 or value.size(0) != num_classes:
                raise ValueError(
                    f"{key} has shape {tuple(value.shape)}; a class predictor of "
                    f"{num_classes} classes has {num_classes} rows"
                )
            out[key] = value.index_select(0, rows).clone()
            sliced.append(key)
        else:
            out[key] = value
    if not sliced:
        raise ValueError(
            "no YOLOX class predictor (bbox_head.multi_level_conv_cls.K.weight / .bias) in the "
            "state dict: not an mmdet YOLOX checkpoint"
        )
    return out, sliced


def keep_yolox_classes_file(
    src: str | os.PathLike[str], out: str | os.PathLike[str], keep: Sequence[str]
) -> KeptClasses:
    """Write a copy of the YOLOX checkpoint ``src`` that keeps only the classes ``keep``.

    The classes are looked up by name in ``meta['dataset_meta']['classes']`` (as the YOLOX
    ONNX converter writes it); ``meta`` keeps everything else and gains ``dataset_meta`` of
    the kept classes (and their palette), ``kept_classes`` ({name: source row}) and the
    source file and sha256 (``classes_from``).

    Args:
        src: The source checkpoint (``{'state_dict': ..., 'meta': {'dataset_meta': ...}}``).
        out: The checkpoint to write (parent folders created; never ``src``).
        keep: Class names to keep, in the new order (e.g. ``['person']``).

    Returns:
        What was written (:class:`KeptClasses`).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: ``out`` is ``src``, ``src`` has no class names, a name is not among them,
            or the state dict has no fitting class predictor.
    """
    src_path, out_path = Path(src).expanduser(), Path(out).expanduser()
    if not src_path.is_file():
        raise FileNotFoundError(f"{src_path}: checkpoint does not exist.")
    if out_path.resolve() == src_path.resolve():
        raise ValueError(f"{out_path}: refusing to write over the source; choose another path.")
    checkpoint = safe_load_checkpoint(str(src_path), map_location="cpu")
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise ValueError(f"{src_path}: not an mmdet checkpoint (no 'state_dict')")
    meta: dict[str, Any] = dict(checkpoint.get("meta") or {})
    dataset_meta = dict(meta.get("dataset_meta") or {})
    classes = tuple(dataset_meta.get("classes") or ())
    if not classes:
        raise ValueError(f"{src_path}: meta['dataset_meta']['classes'] is missing or empty")
    missing = [name for name in keep if name not in classes]
    if missing:
        raise ValueError(
            f"{src_path}: classes {missing} not in its {len(classes)} classes "
            f"({', '.join(classes[:5])}, ...)"
        )
    indices = [classes.index(name) for name in keep]
    state_dict, sliced = keep_yolox_classes(checkpoint["state_dict"], indices, len(classes))
    kept_meta = dict(dataset_meta, classes=tuple(keep))
    palette = dataset_meta.get("palette")
    if palette is not None and len(palette) == len(classes):
        kept_meta["palette"] = [palette[i] for i in indices]
    source_sha256 = file_sha256(str(src_path))
    meta.update(
        dataset_meta=kept_meta,
        kept_classes={name: index for name, index in zip(keep, indices, strict=True)},
        classes_from={"source": str(src_path.resolve()), "source_sha256": source_sha256},
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with open(partial, "wb") as file:  # a file object: the bytes do not depend on OUT's name
        torch.save({"state_dict": state_dict, "meta": meta}, file)
    os.replace(partial, out_path)
    return KeptClasses(
        path=out_path.resolve(),
        sha256=file_sha256(str(out_path)),
        source=src_path.resolve(),
        source_sha256=source_sha256,
        classes=tuple(keep),
        indices=tuple(indices),
        sliced_keys=tuple(sliced),
    )
