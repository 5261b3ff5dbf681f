"""Bilinear resize onto the reference grid, then a 1x1 convolution ("adapt to the student")."""

from __future__ import annotations

import torch
from mmdet.registry import MODELS
from torch import nn

from mmdistillmot.models.distillers.base_connector import BaseConnector, resize_to

__all__ = ["ResizeConvConnector"]


@MODELS.register_module()
class ResizeConvConnector(BaseConnector):
    """A single-layer transform: ``conv1x1(resize(x))`` onto the reference grid.

    The paper's "teacher -> student" variant: the teacher's patch map ``[B, C, H/14, W/14]`` is
    upsampled to the student's 1/4 grid and a 1x1 conv maps C -> 270 channels, so the loss runs
    on the student's fine grid.

    Bilinear interpolation is linear per channel with weights summing to one, and a 1x1 conv
    is an affine map per pixel, so the two commute exactly: ``conv(resize(x)) ==
    resize(conv(x))``. The conv therefore runs first, on the small grid (C x fewer pixels),
    and the result is the same up to float rounding (a test checks it).

    Args:
        in_channels: Channels of the input feature (the teacher's embedding size).
        out_channels: Channels of the reference (270 for FairMOT's neck).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, feature: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Resize onto ``reference``'s grid and apply the 1x1 conv.

        Args:
            feature: ``[B, in_channels, h, w]``.
            reference: ``[B, out_channels, H, W]`` (only ``H, W`` are used).

        Returns:
            ``[B, out_channels, H, W]``.
        """
        self.check_input(feature)
        return resize_to(self.conv(feature), reference)
