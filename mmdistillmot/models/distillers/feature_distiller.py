"""Online feature distillation around any mmdet model: student + frozen teacher + losses.

One training step (see ``docs`` / the architecture notes)::

    batch -> student data_preprocessor -> student forward (loss mode) -> student losses
                                        +-> taps: outputs of named student submodules (hooks)
          -> raw frames (the student's normalisation inverted) -> teacher (no_grad, eval)
          -> connectors (trainable transform layers) -> distillation losses
    total = (1 - alpha) * student_loss + alpha * distill_loss

The vocabulary follows mmrazor's (recorders, connectors, loss-forward mappings), written anew:
no method of the student is replaced, the teacher gets its own normalisation from the raw
frames, and checkpoints keep the student only (see :mod:`.student_checkpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from torch import nn

from mmdistillmot.models.distillers.raw_frames import recover_raw_frames
from mmdistillmot.models.distillers.student_checkpoint import (
    DISTILL_MODULE_PREFIXES,
    STUDENT_PREFIX,
    TEACHER_PREFIX,
)
from mmdistillmot.models.distillers.tap_recorder import TapRecorder

__all__ = ["FeatureDistiller", "DistillLossSpec"]

LossDict = dict[str, torch.Tensor | list[torch.Tensor]]
_OWN_CHILDREN = ("student.", "teacher.", "data_preprocessor.", *DISTILL_MODULE_PREFIXES)


@dataclass(frozen=True)
class DistillLossSpec:
    """Which tensors one distillation loss compares.

    Attributes:
        student: Name of a student tap.
        teacher: Item of the teacher's output: ``None`` (the output is one tensor), a dict key
            or a sequence index.
        teacher_tap: Name of a teacher tap to use instead of the teacher's output.
        student_connector: Connector applied to the student tensor (reference: the teacher's).
        teacher_connector: Connector applied to the teacher tensor (reference: the student's).
    """

    student: str
    teacher: str | int | None = None
    teacher_tap: str | None = None
    student_connector: str | None = None
    teacher_connector: str | None = None


def _loss_key(name: str) -> str:
    """Logged key of distillation loss ``name``: it must contain 'loss' to be summed."""
    return f"distill.{name}" if "loss" in name else f"distill.loss_{name}"


def _scale(value: torch.Tensor | list[torch.Tensor], factor: float) -> Any:
    if isinstance(value, list | tuple):
        return [v * factor for v in value]
    return value * factor


@MODELS.register_module()
class FeatureDistiller(BaseModel):
    """Distil a frozen teacher's features into any mmdet model (detector or MOT model).

    The student is any model whose ``forward(inputs, data_samples, mode='loss')`` returns a
    loss dict (mmdet detectors, MOT models trained like detectors). Its
    ``data_preprocessor`` becomes the distiller's, unchanged; predict and tensor modes call
    the student directly, so the inference path is the student's own.

    Loss dict: every student entry is logged as ``student.<key>``, every distillation loss as
    ``distill.loss_<name>``. mmengine's ``parse_losses`` sums the entries whose key contains
    ``'loss'``; the student's are multiplied by ``1 - alpha`` and the distillation ones by
    ``alpha``, so the optimised total is exactly ``(1 - alpha) * L_student + alpha * L_distill``
    (``L_student`` being what the plain student would optimise). Non-loss student entries
    (accuracies) are passed through unscaled. With ``alpha == 0`` or distillation switched off
    (:class:`~mmdistillmot.engine.hooks.DistillHook` ``stop_epoch``) the teacher is not run.

    Distributed training: the teacher's parameters have ``requires_grad=False``, so DDP does
    not wait for their gradients and ``find_unused_parameters`` can stay False. Set it True
    only when distillation stops before the end of training (the connectors then receive no
    gradient; DistillHook warns about it).

    Args:
        student: Config of the student (any registered mmdet model, with its
            ``data_preprocessor``).
        teacher: Config of the teacher: any registered module called on raw frames
            ``[N, 3, H, W]`` (0-255, channel order ``teacher.channel_order``), typically a
            :class:`~mmdistillmot.models.teachers.BaseTeacher`. It is frozen and kept in eval.
        student_taps: Tap name -> dotted path of a student submodule (``'neck'``) or
            ``dict(module=..., index=..., source='output'|'input', call=...)``.
        distill_losses: Loss name -> ``dict(loss=<loss cfg>, student=<tap>, teacher=<output
            item or None>, teacher_tap=None, student_connector=None, teacher_connector=None)``.
        connectors: Connector name -> connector config (trainable, trained with the student).
        teacher_taps: Taps on the teacher's submodules, same format as ``student_taps``.
        alpha: Weight of the distillation loss, in [0, 1].
        input_channel_order: Channel order of the frames the data pipeline loaded (mmcv's
            ``LoadImageFromFile`` gives ``'bgr'``); with the preprocessor's flags it tells
            which order the recovered raw frames are in.
        init_cfg: Initialisation config of the distiller (rarely needed).
    """

    def __init__(
        self,
        student: ConfigType,
        teacher: ConfigType,
        student_taps: Mapping[str, str | Mapping[str, Any]],
        distill_losses: Mapping[str, Mapping[str, Any]],
        connectors: Mapping[str, ConfigType] | None = None,
        teacher_taps: Mapping[str, str | Mapping[str, Any]] | None = None,
        alpha: float = 0.5,
        input_channel_order: Literal["bgr", "rgb"] = "bgr",
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(data_preprocessor=None, init_cfg=init_cfg)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"FeatureDistiller: alpha must be in [0, 1], got {alpha}.")
        if input_channel_order not in ("bgr", "rgb"):
            raise ValueError(
                "FeatureDistiller: input_channel_order must be 'bgr' or 'rgb', got "
                f"{input_channel_order!r}."
            )
        self.student = MODELS.build(student)
        # The student's own preprocessor, shared (not copied): train/val/test batches are
        # prepared exactly as for the plain student.
        self.data_preprocessor = self.student.data_preprocessor
        self.teacher = MODELS.build(teacher)
        self._freeze_teacher()
        self.connectors = nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in (connectors or {}).items()}
        )
        self.specs: dict[str, DistillLossSpec] = {}
        losses: dict[str, nn.Module] = {}
        for name, entry in distill_losses.items():
            losses[name], self.specs[name] = self._parse_loss_entry(name, entry)
        if not losses:
            raise ValueError("FeatureDistiller: distill_losses is empty.")
        self.distill_losses = nn.ModuleDict(losses)
        self.input_channel_order: Literal["bgr", "rgb"] = input_channel_order
        self.base_alpha = float(alpha)
        self.alpha = float(alpha)
        self.distill_enabled = True
        # Detached 0-d tensors of the last training step, turned into floats only when read
        # (DistillHook reads them at the logger's interval): a float() per step would force a
        # device-to-host sync per loss.
        self._last_similarity: dict[str, torch.Tensor] = {}
        self._last_distill_values: dict[str, torch.Tensor] = {}
        self.student_recorder = TapRecorder(self.student, student_taps, owner="student")
        self.teacher_recorder = TapRecorder(self.teacher, teacher_taps or {}, owner="teacher")
        self._check_references(student_taps, teacher_taps or {})
        self.register_load_state_dict_pre_hook(self._accept_student_layout)
        self.register_load_state_dict_post_hook(self._teacher_keys_not_missing)
        self._register_state_dict_hook(self._drop_teacher_state)
        self._load_prefix = ""

    @property
    def last_similarity(self) -> dict[str, float]:
        """Mean per-sample cosine similarity of each compared pair at the last training step.

        Reading it synchronises with the device (one ``float`` per pair).
        """
        return {name: float(value) for name, value in self._last_similarity.items()}

    @last_similarity.setter
    def last_similarity(self, values: Mapping[str, float | torch.Tensor]) -> None:
        self._last_similarity = {k: torch.as_tensor(v).detach() for k, v in values.items()}

    @property
    def last_distill_values(self) -> dict[str, float]:
        """Unweighted value of each distillation loss at the last training step (a sync)."""
        return {name: float(value) for name, value in self._last_distill_values.items()}

    @last_distill_values.setter
    def last_distill_values(self, values: Mapping[str, float | torch.Tensor]) -> None:
        self._last_distill_values = {k: torch.as_tensor(v).detach() for k, v in values.items()}

    # ------------------------------------------------------------------ config parsing
    def _parse_loss_entry(
        self, name: str, entry: Mapping[str, Any]
    ) -> tuple[nn.Module, DistillLossSpec]:
        if not name.isidentifier():
            raise ValueError(f"FeatureDistiller: loss name {name!r} must be an identifier.")
        if not isinstance(entry, Mapping) or "loss" not in entry or "student" not in entry:
            raise ValueError(
                f"FeatureDistiller: distill_losses['{name}'] must be dict(loss=<loss cfg>, "
                f"student=<tap name>, teacher=..., ...), got {entry!r}."
            )
        fields = {k: v for k, v in entry.items() if k != "loss"}
        allowed = set(DistillLossSpec.__dataclass_fields__)
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(
                f"FeatureDistiller: distill_losses['{name}'] has unknown fields "
                f"{sorted(unknown)} (allowed: loss, {', '.join(sorted(allowed))})."
            )
        spec = DistillLossSpec(**fields)
        for side in ("student_connector", "teacher_connector"):
            connector = getattr(spec, side)
            if connector is not None and connector not in self.connectors:
                raise ValueError(
                    f"FeatureDistiller: distill_losses['{name}'].{side} = {connector!r} is not "
                    f"a connector (connectors: {sorted(self.connectors)})."
                )
        return MODELS.build(entry["loss"]), spec

    def _check_references(
        self, student_taps: Mapping[str, Any], teacher_taps: Mapping[str, Any]
    ) -> None:
        for name, spec in self.specs.items():
            if spec.student not in student_taps:
                raise ValueError(
                    f"FeatureDistiller: distill_losses['{name}'].student = {spec.student!r} is "
                    f"not a student tap (student_taps: {sorted(student_taps)})."
                )
            if spec.teacher_tap is not None and spec.teacher_tap not in teacher_taps:
                raise ValueError(
                    f"FeatureDistiller: distill_losses['{name}'].teacher_tap = "
                    f"{spec.teacher_tap!r} is not a teacher tap (teacher_taps: "
                    f"{sorted(teacher_taps)})."
                )

    # ------------------------------------------------------------------ teacher state
    def _freeze_teacher(self) -> None:
        """Freeze the teacher and switch it to eval (idempotent; any module may be a teacher)."""
        self.teacher.requires_grad_(False)
        self.teacher.train(False)

    def train(self, mode: bool = True) -> FeatureDistiller:
        """Set train/eval mode on the student and connectors; the teacher stays in eval.

        Args:
            mode: Training mode for everything but the teacher.

        Returns:
            self.
        """
        super().train(mode)
        self.teacher.train(False)
        return self

    @property
    def distill_active(self) -> bool:
        """Whether the teacher runs and the distillation losses count in this step."""
        return self.distill_enabled and self.alpha > 0.0

    # ------------------------------------------------------------------ forward modes
    def forward(self, inputs: torch.Tensor, data_samples: Any = None, mode: str = "tensor") -> Any:
        """Dispatch like an mmdet model: ``'loss'`` distils, other modes are the student's.

        Args:
            inputs: The preprocessed batch, ``[B, 3, H, W]`` (or ``[B, T, 3, H, W]`` clips).
            data_samples: The batch's data samples.
            mode: ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            The loss dict in ``'loss'`` mode, else exactly what the student returns.
        """
        if mode == "loss":
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)

    def loss(self, inputs: torch.Tensor, data_samples: Any) -> LossDict:
        """Student losses and distillation losses, weighted by ``alpha``.

        Args:
            inputs: The preprocessed batch, ``[B, 3, H, W]`` (or ``[B, T, 3, H, W]``).
            data_samples: The batch's data samples.

        Returns:
            ``student.<key>`` entries (losses x ``(1 - alpha)``) and ``distill.loss_<name>``
            entries (losses x ``alpha``).
        """
        if not self.distill_active:
            student_losses = self.student(inputs, data_samples, mode="loss")
            self.last_similarity, self.last_distill_values = {}, {}
            return {f"student.{k}": v for k, v in student_losses.items()}

        # Teacher first: its activations are freed before the student's graph is built, so
        # the peak memory is max(teacher, student) rather than their sum.
        raw = self.raw_frames_for_teacher(inputs)
        with self.teacher_recorder.recording(), torch.no_grad():
            teacher_output = self.teacher(raw)
            teacher_feats = {n: self.teacher_recorder.get(n) for n in self.teacher_recorder.specs}
        self.teacher_recorder.clear()
        with self.student_recorder.recording():
            student_losses = self.student(inputs, data_samples, mode="loss")
        distill = self.compute_distill_losses(teacher_output, teacher_feats)
        self.student_recorder.clear()

        losses: LossDict = {}
        for key, value in student_losses.items():
            weighted = _scale(value, 1.0 - self.alpha) if "loss" in key else value
            losses[f"student.{key}"] = weighted
        for name, value in distill.items():
            losses[_loss_key(name)] = value * self.alpha
        return losses

    def predict(self, inputs: torch.Tensor, data_samples: Any) -> Any:
        """The student's predictions (the teacher plays no part at inference).

        Args:
            inputs: The preprocessed batch, [B, 3, H, W] (detectors) or [B, T, 3, H, W] (videos).
            data_samples: The batch's data samples.

        Returns:
            What ``student.predict`` returns.
        """
        return self.student(inputs, data_samples, mode="predict")

    def _forward(self, inputs: torch.Tensor, data_samples: Any = None) -> Any:
        """The student's raw network outputs (``'tensor'`` mode)."""
        return self.student(inputs, data_samples, mode="tensor")

    # ------------------------------------------------------------------ distillation
    def raw_frames_for_teacher(self, inputs: torch.Tensor) -> torch.Tensor:
        """The raw frames behind the student's batch, in the teacher's channel order.

        Args:
            inputs: The preprocessed batch, ``[B, 3, H, W]`` or ``[B, T, 3, H, W]``.

        Returns:
            ``[N, 3, H, W]`` float frames on the 0-255 scale, ``N = B`` (or ``B * T`` for
            clips, frame-major within each clip).
        """
        target: Literal["bgr", "rgb"] = (
            "bgr" if getattr(self.teacher, "channel_order", "rgb") == "bgr" else "rgb"
        )
        frames = recover_raw_frames(
            inputs, self.data_preprocessor, self.input_channel_order, target
        )
        return frames.flatten(0, -4) if frames.dim() > 4 else frames

    def _teacher_tensor(
        self, name: str, spec: DistillLossSpec, output: Any, feats: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        if spec.teacher_tap is not None:
            return feats[spec.teacher_tap]
        if spec.teacher is None:
            value = output
        else:
            try:
                value = output[spec.teacher]
            except (KeyError, IndexError, TypeError) as err:
                raise KeyError(
                    f"FeatureDistiller: distill_losses['{name}'].teacher = {spec.teacher!r} is "
                    f"not an item of the teacher's output ({type(output).__name__})."
                ) from err
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"FeatureDistiller: the teacher's output for distill_losses['{name}'] is a "
                f"{type(value).__name__}; set `teacher` to pick one tensor of it."
            )
        return value

    def compute_distill_losses(
        self, teacher_output: Any, teacher_feats: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Compare every configured (student tap, teacher tensor) pair.

        Must run after the student's forward inside ``student_recorder.recording()``.

        Args:
            teacher_output: What the teacher returned (a tensor, dict or sequence).
            teacher_feats: The teacher taps' tensors.

        Returns:
            Loss name -> unweighted (by alpha) scalar loss. Also updates
            :attr:`last_similarity` and :attr:`last_distill_values`.
        """
        losses: dict[str, torch.Tensor] = {}
        similarity: dict[str, torch.Tensor] = {}
        for name, spec in self.specs.items():
            student = self.student_recorder.get(spec.student)
            teacher = self._teacher_tensor(name, spec, teacher_output, teacher_feats).detach()
            teacher = teacher.to(student.device)
            student_in, teacher_in = student, teacher
            if spec.student_connector is not None:
                student = self.connectors[spec.student_connector](student_in, teacher_in)
            if spec.teacher_connector is not None:
                teacher = self.connectors[spec.teacher_connector](teacher_in, student_in)
            losses[name] = self.distill_losses[name](student, teacher)
            if student.shape == teacher.shape:
                with torch.no_grad():
                    cos = F.cosine_similarity(
                        student.detach().flatten(1).float(),
                        teacher.detach().flatten(1).float(),
                        dim=1,
                    )
                similarity[name] = cos.mean()
        self._last_similarity = similarity
        self._last_distill_values = {k: v.detach() for k, v in losses.items()}
        return losses

    # ------------------------------------------------------------------ checkpoints
    def _accept_student_layout(
        self,
        module: nn.Module,
        state_dict: dict[str, torch.Tensor],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Load pre-hook: accept student-only checkpoints and keep the config's teacher.

        A student-only checkpoint (what DistillHook writes, or a plain baseline checkpoint)
        has the student's own key names; they get the ``student.`` prefix back. The teacher is
        never loaded from a checkpoint (it comes from its config and weight file): its entries
        are dropped here and :meth:`_teacher_keys_not_missing` keeps the load from calling
        them missing, so nothing is copied onto the live teacher. Connector/loss tensors
        absent from the checkpoint (starting a distillation from a baseline) keep their
        initial values.
        """
        self._load_prefix = prefix
        own = [k for k in state_dict if k.startswith(prefix)]
        rests = [k[len(prefix) :] for k in own]
        if rests and not any(r.startswith((STUDENT_PREFIX, TEACHER_PREFIX)) for r in rests):
            for key, rest in zip(own, rests):
                if not rest.startswith(_OWN_CHILDREN):
                    state_dict[prefix + STUDENT_PREFIX + rest] = state_dict.pop(key)
        for key in [k for k in state_dict if k.startswith(prefix + TEACHER_PREFIX)]:
            del state_dict[key]
        current = {
            k: v for k, v in self.state_dict().items() if k.startswith(DISTILL_MODULE_PREFIXES)
        }
        absent = [k for k in current if prefix + k not in state_dict]
        if absent and len(absent) == len(current):
            for key in absent:
                state_dict[prefix + key] = current[key]
            MMLogger.get_current_instance().info(
                "FeatureDistiller: the checkpoint has no connector/loss tensors (a student "
                "checkpoint); they keep their initial values."
            )

    def _teacher_keys_not_missing(self, module: nn.Module, incompatible_keys: Any) -> None:
        """Load post-hook: the teacher's keys, absent by design, are not missing keys."""
        teacher_prefix = self._load_prefix + TEACHER_PREFIX
        missing = incompatible_keys.missing_keys
        missing[:] = [key for key in missing if not key.startswith(teacher_prefix)]

    @staticmethod
    def _drop_teacher_state(
        module: nn.Module, state_dict: dict[str, torch.Tensor], prefix: str, local_metadata: Any
    ) -> None:
        """State-dict hook: the frozen teacher is not part of the distiller's state.

        Checkpoints then never hold (nor copy to the CPU) the teacher's tensors; it is rebuilt
        from its config and weight file.
        """
        for key in [k for k in state_dict if k.startswith(prefix + TEACHER_PREFIX)]:
            del state_dict[key]
