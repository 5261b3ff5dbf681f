"""Losses of mmdistillmot (registered in mmdet's MODELS)."""

from mmdistillmot.models.losses.dcsd_loss import DCSDLoss
from mmdistillmot.models.losses.feature_distill_losses import (
    CosineDistillLoss,
    L1DistillLoss,
    MSEDistillLoss,
)

__all__ = ["CosineDistillLoss", "DCSDLoss", "L1DistillLoss", "MSEDistillLoss"]
