"""The VSD-MOT inference modules, plugged into MOTRv2's ``query_refiner`` hook.

Per frame, on the last decoder layer's query vectors ``hs`` ``[B, N, 256]`` (Fig. 2)::

    semantic = VSDStudent(hs)                       # the distilled CLIP semantics
    refined  = DSWR(semantic, hs, frame)            # with DSWR (Table V, No. 4 / 8)
             = semantic                             # without it (No. 2-3 / 6-7)

The refined vectors replace ``hs`` for the last class/box heads and for the queries carried
to the next frame. The teacher and the distillation loss are not here: they are training-only
and live in :class:`~mmdistillmot.models.mot.vsd.vsd_mot.VSDMOT`, which taps ``student``.

Without DSWR the paper does not say how the semantic features meet the queries. The student's
output already contains the queries through its residual projection (equation 3), so here it
replaces them; DSWR then mixes it back with the plain queries by frame quality.
"""

from __future__ import annotations

import torch
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType
from torch import nn

__all__ = ["VSDQueryRefiner"]


@MODELS.register_module()
class VSDQueryRefiner(nn.Module):
    """VSD student (+ optional DSWR) applied to a frame's query vectors.

    Args:
        student: :class:`~mmdistillmot.models.mot.vsd.vsd_student.VSDStudent` config.
        fusion: :class:`~mmdistillmot.models.necks.dswr.DSWR` config, or ``None`` to use the
            student's output as the refined queries.
        log_fusion: Also return the mean frame quality and semantic weight (logged, not
            summed: their keys contain no ``loss``).
    """

    def __init__(
        self, student: ConfigType, fusion: OptConfigType = None, log_fusion: bool = True
    ) -> None:
        super().__init__()
        self.student = MODELS.build(student)
        self.fusion = MODELS.build(fusion) if fusion is not None else None
        self.log_fusion = log_fusion

    def forward(
        self, query_feats: torch.Tensor, frame: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Refine one frame's queries.

        Args:
            query_feats: ``[B, N, C]`` last decoder layer output of the real queries.
            frame: ``[B, 3, H, W]`` the frame, 0-255, in the preprocessor's channel order.

        Returns:
            The refined ``[B, N, C]`` queries, and logging values (``vsd_frame_quality``,
            ``vsd_semantic_weight``; empty without DSWR or with ``log_fusion=False``).
        """
        semantic = self.student(query_feats)
        if self.fusion is None:
            return semantic, {}
        quality = self.fusion.frame_quality(frame)
        weight = self.fusion.semantic_weight(quality)
        fused = self.fusion.fuse(semantic, query_feats, weight)
        logs: dict[str, torch.Tensor] = {}
        if self.log_fusion:
            logs = {
                "vsd_frame_quality": quality.detach().mean(),
                "vsd_semantic_weight": weight.detach().mean(),
            }
        return fused, logs
