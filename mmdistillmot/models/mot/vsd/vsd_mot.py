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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from mmdistillmot.models.distillers.feature_distiller import FeatureDistiller
from mmdistillmot.models.mot.vsd.frame_tap_recorder import FrameTapRecorder

__all__ = ["VSDMOT"]

#: Name of the distillation loss (logged as ``distill.loss_dcsd``) and of the student tap.
LOSS_NAME = "dcsd"
TAP_NAME = "semantic"


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
        init_cfg: OptMultiConfig = None,
    ) -> None:
        taps = {TAP_NAME: semantic_module}
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
