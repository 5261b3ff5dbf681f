"""FairMOT's HRNetV2 neck: upsample every branch to the finest one and concatenate."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

__all__ = ["HRNetUpsampleConcat"]


@MODELS.register_module()
class HRNetUpsampleConcat(BaseModule):
    """Bilinearly upsample all HRNet branches to the first one's size and concatenate them.

    For HRNetV2-W18 (branches of 18, 36, 72 and 144 channels at strides 4, 8, 16, 32) the
    output is the 270-channel stride-4 map that FairMOT's heads read and that the DINOv2
    distillation taps. There are no learnable parameters: the output is the module's forward
    return value (a plain tensor, not a tuple), so a forward hook on this module sees exactly
    the map the heads see.

    Args:
        in_channels (Sequence[int]): Channels of the branches, finest first.
            Defaults to ``(18, 36, 72, 144)``.
        align_corners (bool): ``align_corners`` of the bilinear upsampling. FairMOT uses the
            PyTorch default (False).
        init_cfg (dict, optional): Unused (nothing to initialise); kept for mmengine.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (18, 36, 72, 144),
        align_corners: bool = False,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = tuple(int(c) for c in in_channels)
        self.align_corners = align_corners

    @property
    def out_channels(self) -> int:
        """int: Channels of the concatenated map (270 for HRNetV2-W18)."""
        return sum(self.in_channels)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Upsample and concatenate.

        Args:
            inputs (Sequence[Tensor]): Branch maps ``[B, C_i, H_i, W_i]``, finest first
                (``H_0 = H / 4`` for HRNet).

        Returns:
            Tensor: ``[B, sum(C_i), H_0, W_0]``.

        Raises:
            ValueError: When the number or channels of the branches differ from
                ``in_channels``.
        """
        channels = tuple(int(x.shape[1]) for x in inputs)
        if channels != self.in_channels:
            raise ValueError(
                f"HRNetUpsampleConcat: expected branches with channels {self.in_channels}, got "
                f"{channels}"
            )
        size = inputs[0].shape[-2:]
        upsampled = [inputs[0]] + [
            F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners)
            for x in inputs[1:]
        ]
        return torch.cat(upsampled, dim=1)
