"""TDT's Eq. 1, shared by the embedding heads (RetinaEmbedHead, YOLOXEmbedHead)."""

from __future__ import annotations

import torch
from mmdet.utils import InstanceList
from torch import Tensor

__all__ = ["per_image_embedding_loss"]


def per_image_embedding_loss(
    flat_preds: Tensor, assigned: Tensor, batch_gt_instances: InstanceList, embed_dim: int
) -> Tensor:
    """Eq. 1 averaged per image over its assigned anchors / priors, then over the images.

    Only anchors assigned to a box with a teacher embedding count (``has_teacher_embed``, when
    present); images without such an anchor are left out of the mean over images. The caller
    has checked that every image has ``teacher_embeds`` with at least ``embed_dim`` dims.

    Args:
        flat_preds: [B, P, D_s] predicted embeddings, in the anchor order of ``assigned``.
        assigned: [B, P] gt index per anchor, -1 where none.
        batch_gt_instances: Per image ``teacher_embeds`` [N, D_t] (+ ``has_teacher_embed`` [N]).
        embed_dim: ``D_s``; the target is the first ``D_s`` dims of the teacher embedding.

    Returns:
        ``mean_images(mean_anchors(sum_dims((f - f_hat)^2)))`` (unweighted), or
        ``flat_preds.sum() * 0`` (0 with a graph, so DDP sees every parameter used) when no
        anchor has a target.
    """
    per_image: list[Tensor] = []
    for image_id, gt_instances in enumerate(batch_gt_instances):
        gt_index = assigned[image_id]
        positive = (gt_index >= 0).nonzero(as_tuple=True)[0]
        if "has_teacher_embed" in gt_instances and positive.numel():
            # indexed with assigned anchors only: an image without boxes (e.g. after a
            # RandomCrop on crowded data) has an empty has_teacher_embed
            has_embed = gt_instances.has_teacher_embed.to(torch.bool)
            positive = positive[has_embed[gt_index[positive]]]
        if positive.numel() == 0:
            continue
        target = gt_instances.teacher_embeds[gt_index[positive], :embed_dim]
        residual = flat_preds[image_id][positive] - target.to(flat_preds.dtype)
        per_image.append(residual.pow(2).sum(dim=1).mean())
    if not per_image:
        return flat_preds.sum() * 0.0
    return torch.stack(per_image).mean()
