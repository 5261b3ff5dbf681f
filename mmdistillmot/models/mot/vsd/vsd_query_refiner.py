"""The VSD-MOT inference modules, plugged into MOTRv2's ``query_refiner`` hook.

Per frame, on the real queries' vectors ``X`` ``[B, N, 256]`` (detect, proposal and track
queries; never the training-only denoising queries)::

    semantic = VSDStudent(X)                        # the distilled CLIP semantics
    refined  = DSWR(semantic, X, frame)             # with DSWR (Table V, No. 4 / 8)
             = semantic                             # without it (No. 2-3 / 6-7)

Where ``X`` comes from is MOTRv2's ``query_refiner_position``:

* ``'pre_decoder'`` (default, the paper's Fig. 2 and 4): ``X`` are the query vectors going
  into the decoder (content of the proposal and track queries); the refined vectors replace
  them as the decoder's input, so the semantic features reach its self- and cross-attention.
  The tracks' stored content stays unrefined: each frame refines the content QIM carried.
* ``'post_decoder'``: ``X`` is the last decoder layer's output; the refined vectors replace
  it for the last class/box heads and for the queries carried to the next frame.

The teacher and the distillation loss are not here: they are training-only and live in
:class:`~mmdistillmot.models.mot.vsd.vsd_mot.VSDMOT`, which taps ``student``.

Without DSWR the paper does not say how the semantic features meet the queries. The student's
output already contains the queries through its residual projection (equation 3), so here it
replaces them; DSWR then mixes it back with the plain queries by frame quality.
"""

from __future__ import annotations

from typing import Literal

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
        fusion: :class:`~mmdistillmot.models.mot.vsd.dswr.DSWR` config, or ``None`` to use the
            student's output as the refined queries.
        log_fusion: Also return the mean frame quality, the mean semantic weight and DSWR's
            ``W`` (logged, not summed: their keys contain no ``loss``).
    """

    def __init__(
        self, student: ConfigType, fusion: OptConfigType = None, log_fusion: bool = True
    ) -> None:
        super().__init__()
        self.student = MODELS.build(student)
        self.fusion = MODELS.build(fusion) if fusion is not None else None
        self.log_fusion = log_fusion

    @property
    def channel_order(self) -> Literal["rgb", "bgr"]:
        """Channel order of the raw frame this refiner wants (DSWR's; RGB without DSWR)."""
        return self.fusion.channel_order if self.fusion is not None else "rgb"

    def forward(
        self, query_feats: torch.Tensor, frame: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Refine one frame's queries.

        Args:
            query_feats: ``[B, N, C]`` the real queries (decoder input or last layer output).
            frame: ``[B, 3, H, W]`` the frame, 0-255, in :attr:`channel_order`.

        Returns:
            The refined ``[B, N, C]`` queries, and logging values (``vsd_frame_quality``,
            ``vsd_semantic_weight``, ``vsd_dswr_W``; empty without DSWR or with
            ``log_fusion=False``).
        """
        semantic = self.student(query_feats)
        if self.fusion is None:
            return semantic, {}
        fused, details = self.fusion(semantic, query_feats, frame, return_details=True)
        logs: dict[str, torch.Tensor] = {}
        if self.log_fusion:
            logs = {
                "vsd_frame_quality": details["quality"].detach().mean(),
                "vsd_semantic_weight": details["weight"].detach().mean(),
                "vsd_dswr_W": details["slope"].detach(),
            }
        return fused, logs
