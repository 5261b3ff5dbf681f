"""Feature-distillation losses between a student tap and a teacher output.

Each loss takes ``(student, teacher)`` tensors of the same shape ``[B, ...]`` (a connector has
already brought them to one shape) and returns a scalar multiplied by ``loss_weight``. The
teacher tensor is a target: callers pass it without a graph (the teacher runs under
``no_grad``), or through a trainable connector when the adaptation runs on the teacher side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import nn

__all__ = ["CosineDistillLoss", "MSEDistillLoss", "L1DistillLoss"]


def _check_pair(owner: str, student: torch.Tensor, teacher: torch.Tensor) -> None:
    """Raise a clear error unless ``student`` and ``teacher`` have the same ``[B, ...]`` shape."""
    if student.shape != teacher.shape:
        raise ValueError(
            f"{owner}: student {tuple(student.shape)} and teacher {tuple(teacher.shape)} "
            "differ in shape; add a connector that maps one onto the other (e.g. "
            "Conv1x1Connector on the student side)."
        )
    if student.dim() < 2:
        raise ValueError(
            f"{owner}: expected [B, ...] tensors with at least 2 dims, got {tuple(student.shape)}."
        )


@MODELS.register_module()
class CosineDistillLoss(nn.Module):
    """Cosine embedding loss on per-sample flattened features: ``mean_b(1 - cos(s_b, t_b))``.

    This is ``torch.nn.CosineEmbeddingLoss`` with every target +1, the loss of the DINOv2 ->
    FairMOT paper: each sample's whole map (channels x positions) is one vector, so the loss
    matches the direction of the map and ignores its overall scale.

    Args:
        loss_weight: Multiplier of the loss.
        eps: Lower bound of the vector norms in the cosine (avoids 0/0 on an all-zero map).
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student: ``[B, ...]`` student features (e.g. ``[B, C, H, W]``).
            teacher: ``[B, ...]`` teacher features, same shape.

        Returns:
            Scalar tensor ``loss_weight * mean_b(1 - cos_b)``.
        """
        _check_pair(type(self).__name__, student, teacher)
        cos = F.cosine_similarity(
            student.flatten(1).float(), teacher.flatten(1).float(), dim=1, eps=self.eps
        )
        return self.loss_weight * (1.0 - cos).mean()


@MODELS.register_module()
class MSEDistillLoss(nn.Module):
    """Mean squared error over every element: ``mean((s - t)^2)``.

    Args:
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student: ``[B, ...]`` student features.
            teacher: ``[B, ...]`` teacher features, same shape.

        Returns:
            Scalar tensor ``loss_weight * mean((s - t)^2)``.
        """
        _check_pair(type(self).__name__, student, teacher)
        return self.loss_weight * F.mse_loss(student.float(), teacher.float())


@MODELS.register_module()
class L1DistillLoss(nn.Module):
    """Mean absolute error over every element: ``mean(|s - t|)``.

    Args:
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student: ``[B, ...]`` student features.
            teacher: ``[B, ...]`` teacher features, same shape.

        Returns:
            Scalar tensor ``loss_weight * mean(|s - t|)``.
        """
        _check_pair(type(self).__name__, student, teacher)
        return self.loss_weight * F.l1_loss(student.float(), teacher.float())
