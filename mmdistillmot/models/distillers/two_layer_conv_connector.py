"""Two-layer transform: 1x1 conv + BN + ReLU, 3x3 conv + BN + ReLU, and a bilinear resize."""

from __future__ import annotations

from typing import Literal

import torch
from mmdet.registry import MODELS
from torch import nn

from mmdistillmot.models.distillers.base_connector import BaseConnector, resize_to

__all__ = ["TwoLayerConvConnector"]


@MODELS.register_module()
class TwoLayerConvConnector(BaseConnector):
    """The paper's two-layer transform, with the resize before or after the convolutions.

    ``conv1x1 -> BN -> ReLU -> conv3x3 -> BN -> ReLU``, as in the DINOv2 -> FairMOT ablation.
    The final ReLU makes the output non-negative while DINOv2 tokens are signed; that is the
    paper's design and part of what its ablation measures, so it is kept.

    Args:
        in_channels: Channels of the input feature.
        out_channels: Channels of the reference.
        hidden_channels: Channels after the first layer. The paper gives no width; 256 (the
            default) keeps the 3x3 conv, which runs on the student's 1/4 grid with
            ``resize='after'``, at a third of what the teacher's width would cost: 73 instead
            of 219 GMAC per 1088x608 frame for DINOv2-B's 768 channels.
        resize: ``'after'`` runs the convs on the input grid then resizes (student side: the
            paper resizes the adapted student map to the teacher grid), ``'before'`` resizes
            first (teacher side: the convs then see the student's grid).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 256,
        resize: Literal["after", "before"] = "after",
    ) -> None:
        super().__init__(in_channels, out_channels)
        if resize not in ("after", "before"):
            raise ValueError(
                f"TwoLayerConvConnector: resize must be 'after' or 'before', got {resize!r}."
            )
        hidden = hidden_channels
        self.resize = resize
        # conv bias is redundant before BatchNorm
        self.layer1 = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(hidden, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, feature: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Apply both layers and resize onto ``reference``'s grid.

        Args:
            feature: ``[B, in_channels, h, w]``.
            reference: ``[B, out_channels, H, W]`` (only ``H, W`` are used).

        Returns:
            ``[B, out_channels, H, W]``, non-negative.
        """
        self.check_input(feature)
        if self.resize == "before":
            return self.layer2(self.layer1(resize_to(feature, reference)))
        return resize_to(self.layer2(self.layer1(feature)), reference)
