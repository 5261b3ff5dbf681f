"""Student-only checkpoints of a distiller, and loading them back.

A distiller's ``state_dict`` has four parts: ``student.*``, ``teacher.*``, and the trainable
distillation modules (``connectors.*``, ``distill_losses.*``). A checkpoint must hold the
student only, under the names the plain student config uses, so that
``load_from=<distilled.pth>`` works in the baseline config unchanged. The distillation modules
are needed to resume a distillation run but not by the student: they go to a separate
top-level entry, :data:`DISTILL_STATE_KEY`, which mmengine's loaders ignore. The teacher is
never saved; it is rebuilt from its config (and its local weight file).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "STUDENT_PREFIX",
    "TEACHER_PREFIX",
    "DISTILL_MODULE_PREFIXES",
    "DISTILL_STATE_KEY",
    "is_student_only",
    "to_student_checkpoint",
    "merge_distill_state",
]

STUDENT_PREFIX = "student."
TEACHER_PREFIX = "teacher."
#: Prefixes of the distiller's own trainable modules (kept for resuming, not for the student).
DISTILL_MODULE_PREFIXES: tuple[str, ...] = ("connectors.", "distill_losses.")
#: Top-level checkpoint entry holding the distillation modules' tensors.
DISTILL_STATE_KEY = "distill_state_dict"
_EMA_PREFIX = "module."


def is_student_only(state_dict: Mapping[str, Any]) -> bool:
    """Whether a state dict is in the plain student layout (no ``student.``/``teacher.`` keys).

    Args:
        state_dict: Name -> tensor.

    Returns:
        True when no key starts with ``student.`` or ``teacher.``.
    """
    return not any(k.startswith((STUDENT_PREFIX, TEACHER_PREFIX)) for k in state_dict)


def _split(
    state_dict: Mapping[str, torch.Tensor], prefix: str = ""
) -> tuple[OrderedDict[str, torch.Tensor], OrderedDict[str, torch.Tensor], int]:
    """Split a distiller state dict into (student, distillation modules, #teacher tensors)."""
    student: OrderedDict[str, torch.Tensor] = OrderedDict()
    distill: OrderedDict[str, torch.Tensor] = OrderedDict()
    dropped = 0
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            student[key] = value  # e.g. EMA's 'steps' counter: not a model tensor
            continue
        rest = key[len(prefix) :]
        if rest.startswith(STUDENT_PREFIX):
            student[prefix + rest[len(STUDENT_PREFIX) :]] = value
        elif rest.startswith(TEACHER_PREFIX):
            dropped += 1
        elif rest.startswith(DISTILL_MODULE_PREFIXES):
            distill[rest] = value
        else:
            raise KeyError(
                f"state dict key '{key}' belongs to neither the student, the teacher nor the "
                f"distillation modules {DISTILL_MODULE_PREFIXES}; is this a FeatureDistiller "
                "checkpoint?"
            )
    return student, distill, dropped


def to_student_checkpoint(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a distiller checkpoint in place so that it holds the student only.

    ``state_dict``: ``student.x`` -> ``x``; ``teacher.*`` dropped; ``connectors.*`` and
    ``distill_losses.*`` moved to ``checkpoint[DISTILL_STATE_KEY]``. An EMA copy
    (``ema_state_dict`` from mmengine's ``EMAHook``, keys ``module.<name>``) gets the same
    treatment; its distillation modules are dropped here (``DistillHook`` keeps them under
    ``ema_distill_state_dict`` before calling this, so that a resumed run gets back both the
    live and the averaged connectors). ``meta['distill']`` records what was removed. A
    checkpoint already in the student layout is returned unchanged.

    Args:
        checkpoint: A dict with ``state_dict`` (what mmengine's runner writes).

    Returns:
        The same dict, rewritten.

    Raises:
        KeyError: No ``state_dict``, or keys outside the distiller layout.
    """
    if "state_dict" not in checkpoint:
        raise KeyError(
            f"checkpoint has no 'state_dict' entry (entries: {sorted(checkpoint)[:10]})."
        )
    state_dict = checkpoint["state_dict"]
    if is_student_only(state_dict):
        return checkpoint
    student, distill, dropped = _split(state_dict)
    checkpoint["state_dict"] = student
    checkpoint[DISTILL_STATE_KEY] = distill
    ema = checkpoint.get("ema_state_dict")
    if isinstance(ema, Mapping) and not is_student_only(
        {k[len(_EMA_PREFIX) :]: v for k, v in ema.items() if k.startswith(_EMA_PREFIX)}
    ):
        ema_student, _, _ = _split(ema, prefix=_EMA_PREFIX)
        checkpoint["ema_state_dict"] = ema_student
    meta = checkpoint.setdefault("meta", {})
    if isinstance(meta, dict):
        meta["distill"] = dict(
            student_only=True,
            teacher_tensors_dropped=dropped,
            distill_module_tensors=len(distill),
        )
    return checkpoint


def merge_distill_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Put a student-only checkpoint's distillation modules back into its ``state_dict``.

    Used before loading a student-only checkpoint into a distiller (resume): the student keys
    stay plain (the distiller's load pre-hook adds ``student.``), the ``connectors.*`` /
    ``distill_losses.*`` tensors rejoin them.

    Args:
        checkpoint: A checkpoint dict, rewritten in place.

    Returns:
        The same dict.
    """
    distill = checkpoint.pop(DISTILL_STATE_KEY, None)
    if distill and "state_dict" in checkpoint and is_student_only(checkpoint["state_dict"]):
        merged = OrderedDict(checkpoint["state_dict"])
        merged.update(distill)
        checkpoint["state_dict"] = merged
    return checkpoint
