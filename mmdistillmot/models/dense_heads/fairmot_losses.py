"""FairMOT's loss terms: CenterNet focal loss, gathered L1, identity cross entropy, uncertainty.

Written as plain functions so that each can be checked against a hand computation; the
:class:`~mmdistillmot.models.dense_heads.FairMOTHead` combines them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "centernet_focal_loss",
    "gather_at_indices",
    "gathered_l1_loss",
    "identity_embedding_scale",
    "identity_loss",
]


def gather_at_indices(feat: Tensor, indices: Tensor) -> Tensor:
    """Read a dense map at flat spatial indices.

    Args:
        feat (Tensor): ``[B, C, H, W]`` map.
        indices (Tensor): ``[B, K]`` long flat indices ``y * W + x``.

    Returns:
        Tensor: ``[B, K, C]`` values at those positions.
    """
    batch, channels = feat.shape[:2]
    flat = feat.reshape(batch, channels, -1)
    gathered = flat.gather(2, indices.unsqueeze(1).expand(-1, channels, -1))
    return gathered.permute(0, 2, 1)


def centernet_focal_loss(
    logits: Tensor,
    target: Tensor,
    alpha: float = 2.0,
    beta: float = 4.0,
    clamp_eps: float = 1e-4,
) -> Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss on a Gaussian heatmap.

    With ``p = clamp(sigmoid(logits), eps, 1 - eps)`` and ``y`` the target:
    positives (``y == 1``) cost ``-(1 - p)^alpha log(p)``, all other pixels cost
    ``-(1 - y)^beta p^alpha log(1 - p)``; the sum is divided by the number of positives of the
    batch (not divided when there is none, as in CenterNet).

    Args:
        logits (Tensor): ``[B, C, H, W]`` heatmap logits.
        target (Tensor): ``[B, C, H, W]`` target heatmap in ``[0, 1]``.
        alpha (float): Focusing exponent. Defaults to 2.
        beta (float): Exponent of the penalty reduction around centres. Defaults to 4.
        clamp_eps (float): The probability is clamped to ``[eps, 1 - eps]``. Defaults to 1e-4.

    Returns:
        Tensor: Scalar loss.
    """
    prob = torch.sigmoid(logits).clamp(clamp_eps, 1 - clamp_eps)
    positive = target.eq(1).to(prob.dtype)
    negative = 1.0 - positive
    pos_loss = (torch.log(prob) * (1 - prob).pow(alpha) * positive).sum()
    neg_weight = (1 - target).pow(beta) * negative
    neg_loss = (torch.log(1 - prob) * prob.pow(alpha) * neg_weight).sum()
    num_pos = positive.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos


def gathered_l1_loss(pred: Tensor, indices: Tensor, mask: Tensor, target: Tensor) -> Tensor:
    """L1 between a dense prediction read at object centres and per-object targets.

    Follows FairMOT's ``RegL1Loss``: the object mask is broadcast over the ``C`` channels before
    summing, so the sum of absolute errors is divided by ``num_objects * C + 1e-4`` (the mean
    absolute error per coordinate).

    Args:
        pred (Tensor): ``[B, C, H, W]`` dense prediction.
        indices (Tensor): ``[B, K]`` flat centre indices.
        mask (Tensor): ``[B, K]`` bool, True for real objects.
        target (Tensor): ``[B, K, C]`` per-object targets.

    Returns:
        Tensor: Scalar loss (0 with a graph when there are no objects).
    """
    gathered = gather_at_indices(pred, indices)
    weight = mask.unsqueeze(-1).expand_as(gathered).to(gathered.dtype)
    abs_err = (gathered * weight - target * weight).abs().sum()
    return abs_err / (weight.sum() + 1e-4)


def identity_embedding_scale(num_identities: int) -> float:
    """FairMOT's scale of the normalised embedding before the classifier: sqrt(2) ln(nID - 1).

    Args:
        num_identities (int): Number of identity classes ``nID`` (must be > 2).

    Returns:
        float: The scale.

    Raises:
        ValueError: When ``num_identities <= 2`` (the logarithm would be <= 0).
    """
    if num_identities <= 2:
        raise ValueError(
            f"identity_embedding_scale: num_identities must be > 2 for sqrt(2)*ln(nID-1) > 0, "
            f"got {num_identities}"
        )
    return math.sqrt(2) * math.log(num_identities - 1)


def identity_loss(
    id_map: Tensor,
    indices: Tensor,
    mask: Tensor,
    identities: Tensor,
    classifier: nn.Module,
    emb_scale: float,
) -> Tensor:
    """Identity classification loss on embeddings read at ground-truth centres.

    The 128-d embedding at each object centre is L2-normalised, multiplied by ``emb_scale``,
    classified by ``classifier`` (``Linear(D, nID)``) and scored with cross entropy averaged
    over the objects that have an identity (-1 is ignored).

    Args:
        id_map (Tensor): ``[B, D, H, W]`` embedding map.
        indices (Tensor): ``[B, K]`` flat centre indices.
        mask (Tensor): ``[B, K]`` bool, True for real objects.
        identities (Tensor): ``[B, K]`` long identity numbers, -1 for none.
        classifier (nn.Module): Maps ``[N, D]`` to ``[N, nID]`` logits.
        emb_scale (float): Scale applied after normalisation.

    Returns:
        Tensor: Scalar loss; 0 (keeping the graph) when no object has an identity.
    """
    embeddings = gather_at_indices(id_map, indices)[mask]
    targets = identities[mask]
    logits = classifier(emb_scale * F.normalize(embeddings, dim=1))
    if not bool((targets >= 0).any()):
        # Cross entropy over zero targets is NaN; a zero that still reaches the classifier
        # keeps every parameter in the graph (no unused-parameter errors under DDP).
        return logits.sum() * 0.0
    return F.cross_entropy(logits, targets, ignore_index=-1)
