"""Normalise batches of Re-ID crops (mmdet's ReIDDataPreprocessor needs mmpretrain)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmdet.registry import MODELS
from mmengine.model import BaseDataPreprocessor

__all__ = ["ReIDBatchPreprocessor"]


@MODELS.register_module()
class ReIDBatchPreprocessor(BaseDataPreprocessor):
    """Stack Re-ID crops, flip BGR to RGB and normalise.

    ``PackReIDInputs`` gives each sample as ``[K, 3, H, W]`` (K crops of one triplet group, or
    K = 1); the samples of a batch are concatenated into ``[sum K, 3, H, W]``. The data samples
    are passed through unchanged (each holds the K labels of its crops).

    Args:
        mean: Per-channel mean in RGB order, 0-255 scale.
        std: Per-channel std in RGB order.
        to_rgb: Flip the channel order (mmcv loads BGR).
    """

    def __init__(
        self,
        mean: Sequence[float] = (123.675, 116.28, 103.53),
        std: Sequence[float] = (58.395, 57.12, 57.375),
        to_rgb: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), False)
        self.to_rgb = to_rgb

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        """Return ``dict(inputs=[N, 3, H, W] float, data_samples=...)``."""
        data = self.cast_data(data)
        inputs = data["inputs"]
        crops = [x if x.dim() == 4 else x.unsqueeze(0) for x in inputs]
        batch = torch.cat(crops).float()
        if self.to_rgb:
            batch = batch.flip(1)
        batch = (batch - self.mean) / self.std
        return dict(inputs=batch, data_samples=data.get("data_samples"))
