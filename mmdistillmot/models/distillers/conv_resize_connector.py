"""1x1 convolution, then bilinear resize onto the reference grid (the paper's best adapter)."""

from __future__ import annotations

import torch
from mmdet.registry import MODELS
from torch import nn

from mmdistillmot.models.distillers.base_connector import BaseConnector, resize_to

__all__ = ["ConvResizeConnector"]


@MODELS.register_module()
class ConvResizeConnector(BaseConnector):
    """A single-layer transform: ``resize(conv1x1(x))`` onto the reference grid.

    In the DINOv2 -> FairMOT paper this is the best transform layer, applied on the student
    side ("adapt to the teacher"): the 270-channel 1/4-resolution FairMOT map goes through a
    1x1 conv to the teacher's C channels (384/768/1024/1536) and is resized to the teacher's
    1/14 patch grid, so the loss runs on the coarse grid.

    Args:
        in_channels: Channels of the input feature (270 for FairMOT's neck).
        out_channels: Channels of the reference (the teacher's embedding size).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, feature: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Apply the 1x1 conv, then resize onto ``reference``'s grid.

        Args:
            feature: ``[B, in_channels, h, w]``.
            reference: ``[B, out_channels, H, W]`` (only ``H, W`` are used).

        Returns:
            ``[B, out_channels, H, W]``.
        """
        self.check_input(feature)
        return resize_to(self.conv(feature), reference)
