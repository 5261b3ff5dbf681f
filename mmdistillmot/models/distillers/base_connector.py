"""The connector contract: map one feature onto the shape of another.

A connector (the papers' "transform layer" or "adapter") is a small trainable module that
brings a feature ``[B, C_in, h, w]`` onto a reference's channels and grid ``[B, C_ref, H, W]``
so that a distillation loss can compare them. The distiller applies it to the student side
("adapt to the teacher") or to the teacher side ("adapt to the student"); it is trained with
the student and dropped from the deployed student checkpoint.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BaseConnector", "resize_to"]


def resize_to(feature: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinearly resize a map to the spatial grid of ``reference`` (no-op when equal).

    Args:
        feature: ``[B, C, h, w]``.
        reference: ``[B, C', H, W]``; only ``H, W`` are used.

    Returns:
        ``[B, C, H, W]``.
    """
    if feature.dim() != 4 or reference.dim() != 4:
        raise ValueError(
            f"resize_to expects [B, C, H, W] maps, got {tuple(feature.shape)} and "
            f"{tuple(reference.shape)}."
        )
    size = reference.shape[-2:]
    if feature.shape[-2:] == size:
        return feature
    # align_corners=False: pixel centres map to pixel centres between grids of different
    # strides (the student's 1/4 grid and the teacher's 1/14 grid cover the same image).
    return F.interpolate(feature, size=size, mode="bilinear", align_corners=False)


class BaseConnector(nn.Module, metaclass=ABCMeta):
    """Base class of connectors.

    Args:
        in_channels: Channels of the feature the connector is applied to.
        out_channels: Channels of the reference it is compared with.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(
                f"{type(self).__name__}: in_channels and out_channels must be positive, got "
                f"{in_channels} and {out_channels}."
            )
        self.in_channels = in_channels
        self.out_channels = out_channels

    def check_input(self, feature: torch.Tensor) -> None:
        """Raise a clear error unless ``feature`` is ``[B, in_channels, h, w]``."""
        if feature.dim() != 4 or feature.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: expected a [B, {self.in_channels}, h, w] map, got "
                f"{tuple(feature.shape)}; check in_channels in the connector's config."
            )

    @abstractmethod
    def forward(self, feature: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Map ``feature`` onto ``reference``'s grid and ``out_channels``.

        Args:
            feature: ``[B, in_channels, h, w]``.
            reference: ``[B, out_channels, H, W]`` (only its grid is used).

        Returns:
            ``[B, out_channels, H, W]``.
        """
