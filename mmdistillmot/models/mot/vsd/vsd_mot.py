"""VSD-MOT: MOTRv2 + VSD student (+ DSWR) distilled from a frozen CLIP image encoder.

Built on the distillation core (:class:`~mmdistillmot.models.distillers.FeatureDistiller`):

* ``student`` is a MOTRv2 whose ``query_refiner`` is a
  :class:`~mmdistillmot.models.mot.vsd.vsd_query_refiner.VSDQueryRefiner` (the VSD student
  and, optionally, DSWR); it is the whole deployed model.
* ``teacher`` is a :class:`~mmdistillmot.models.teachers.clip_teacher.CLIPTeacher` fed with
  the raw frames recovered from the student's batch (its own CLIP preprocessing).
* the student tap ``semantic`` records the VSD student's output ``S`` ``[1, n_t, 256]`` of
  every frame ``t`` of the clip; ``distill_loss`` (``DCSDLoss``) compares it with the CLIP
  feature of the same frame, and the clip's distillation loss is the mean over its frames
  (MOTRv2's own losses are sums over frames divided by the clip's number of boxes).
* total loss ``alpha * L_distill + (1 - alpha) * L_mot`` (equation 15), logged as
  ``distill.loss_dcsd`` and ``student.*``. The paper's text says alpha 0.5 is best and its
  Table VII marks 0.4 (and lists 0.2 / 0.4 / 0.6): 0.5 is the default, configs give both.

Checkpoints hold the MOTRv2 student only (student + DSWR included, teacher never; the
teacher projection and the loss weights of DCSD are kept aside for resuming), see
:mod:`~mmdistillmot.models.distillers.student_checkpoint`.

The teacher is built when it is first needed, i.e. at the first training step
(:class:`DeferredTeacher`): testing, tracking or benchmarking a VSD-MOT checkpoint
(``tools/test.py``, ``robustness_sweep.py``) never builds the 38 M-parameter CLIP tower and
needs no CLIP weight file. Training still fails at its first step if the file is missing.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any, Literal

import torch
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from torch import nn

from mmdistillmot.models.distillers.feature_distiller import FeatureDistiller
from mmdistillmot.models.mot.vsd.frame_tap_recorder import FrameTapRecorder

__all__ = ["DeferredTeacher", "VSDMOT"]

#: Name of the distillation loss (logged as ``distill.loss_dcsd``) and of the student tap.
LOSS_NAME = "dcsd"
TAP_NAME = "semantic"


def _config_channel_order(cfg: Mapping[str, Any]) -> Literal["bgr", "rgb"]:
    """``channel_order`` of a teacher config, or its class's default when the config omits it."""
    order = cfg.get("channel_order")
    if order is None:
        teacher_type = cfg.get("type")
        cls = MODELS.get(teacher_type) if isinstance(teacher_type, str) else teacher_type
        param = inspect.signature(cls).parameters.get("channel_order") if cls else None
        order = param.default if param is not None else "rgb"
    return "bgr" if order == "bgr" else "rgb"


class DeferredTeacher(nn.Module):
    """A teacher built from its config at its first call (training), never at test time.

    Stands where the distiller keeps its teacher: :class:`FeatureDistiller` builds, freezes
    and taps the object it is given, and only ``loss`` calls it. Before the first call it
    holds no parameters; the call builds the configured teacher (reading its weight file),
    freezes it, moves it to the input's device and delegates from then on.

    Args:
        teacher: Config of the real teacher (e.g. ``CLIPTeacher``).
    """

    def __init__(self, teacher: ConfigType) -> None:
        super().__init__()
        self.teacher_cfg = copy.deepcopy(teacher)
        #: Channel order of the frames the teacher wants (read by the distiller).
        self.channel_order: Literal["bgr", "rgb"] = _config_channel_order(self.teacher_cfg)
        self.module: nn.Module | None = None

    @property
    def built(self) -> bool:
        """Whether the real teacher exists yet."""
        return self.module is not None

    def build(self, device: torch.device | str | None = None) -> nn.Module:
        """Build (once), freeze and return the real teacher.

        Args:
            device: Where to put it (default: CPU).

        Returns:
            The teacher module, frozen and in eval mode.
        """
        if self.module is None:
            module = MODELS.build(copy.deepcopy(self.teacher_cfg))
            module.requires_grad_(False)
            module.train(False)
            self.module = module.to(device) if device is not None else module
        return self.module

    def forward(self, frames: torch.Tensor) -> Any:
        """The real teacher's output on raw frames (built on the first call).

        Args:
            frames: ``[N, 3, H, W]`` raw frames, 0-255, in :attr:`channel_order`.

        Returns:
            What the teacher returns (CLIP: ``[N, D]``).
        """
        return self.build(frames.device)(frames)


@MODELS.register_module()
class VSDMOT(FeatureDistiller):
    """MOTRv2 with CLIP semantic distillation into its query refiner.

    Args:
        student: MOTRv2 config whose ``query_refiner`` holds the VSD student.
        teacher: Teacher config (``CLIPTeacher``); its output is ``[N_frames, D]``.
        distill_loss: Loss config called as ``loss(S [B, n, C], T [B, D])`` (``DCSDLoss``).
        alpha: Weight of the distillation loss (equation 15), in [0, 1].
        semantic_module: Dotted path of the student submodule whose output is ``S``.
        input_channel_order: Channel order of the frames the data pipeline loaded.
        defer_teacher: Build the teacher at the first training step (True, so that testing
            needs neither the teacher nor its weight file) or at construction (False).
        init_cfg: Initialisation config.
    """

    def __init__(
        self,
        student: ConfigType,
        teacher: ConfigType,
        distill_loss: ConfigType,
        alpha: float = 0.5,
        semantic_module: str = "query_refiner.student",
        input_channel_order: Literal["bgr", "rgb"] = "bgr",
        defer_teacher: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        taps = {TAP_NAME: semantic_module}
        if defer_teacher:
            teacher = dict(type=DeferredTeacher, teacher=teacher)
        super().__init__(
            student=student,
            teacher=teacher,
            student_taps=taps,
            distill_losses={LOSS_NAME: dict(loss=distill_loss, student=TAP_NAME)},
            alpha=alpha,
            input_channel_order=input_channel_order,
            init_cfg=init_cfg,
        )
        # The student runs once per frame of a clip: keep every call, not just one.
        self.student_recorder.remove()
        self.student_recorder: FrameTapRecorder = FrameTapRecorder(
            self.student, taps, owner="student"
        )

    def compute_distill_losses(
        self, teacher_output: Any, teacher_feats: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """DCSD per frame (student output of frame t against the CLIP feature of frame t).

        Must run after the student's forward inside ``student_recorder.recording()``.

        Args:
            teacher_output: ``[B * T, D]`` CLIP features of the batch's frames, frame-major
                within each clip (the order of ``raw_frames_for_teacher``).
            teacher_feats: Teacher taps (unused).

        Returns:
            ``{'dcsd': loss}``, the mean of the per-frame losses (unweighted by alpha). Also
            updates :attr:`last_distill_values`.
        """
        losses: dict[str, torch.Tensor] = {}
        for name, spec in self.specs.items():
            per_frame = self.student_recorder.get_all(spec.student)  # T x [B, n_t, C]
            teacher = self._teacher_tensor(name, spec, teacher_output, teacher_feats).detach()
            batch = per_frame[0].shape[0]
            if teacher.shape[0] != batch * len(per_frame):
                raise ValueError(
                    f"VSDMOT: the student ran on {len(per_frame)} frames x batch {batch}, the "
                    f"teacher gave {teacher.shape[0]} features; they must pair one to one."
                )
            teacher = teacher.to(per_frame[0].device).view(batch, len(per_frame), -1)
            frame_losses = [
                self.distill_losses[name](student, teacher[:, t])
                for t, student in enumerate(per_frame)
            ]
            losses[name] = torch.stack(frame_losses).mean()
        self.last_similarity = {}
        self.last_distill_values = {k: float(v.detach()) for k, v in losses.items()}
        return losses
