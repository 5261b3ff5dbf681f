"""RetinaNet head with an embedding branch supervised by teacher embeddings (TDT, Sec. 3.2-3.4).

The head adds, parallel to RetinaNet's class and box subnets, an embedder of two 3x3 convs with
a BatchNorm in between, predicting a ``D_s``-dim embedding for every anchor. The convs are
shared by all FPN levels, the normalisation is not: each level has its own BatchNorm (as the
TF RetinaNet family normalises its shared subnets), because P3..P7 have different feature
statistics and one BatchNorm's running statistics would be a blend of them, so eval-mode
embeddings would differ from the train-mode ones the loss saw. During training an
anchor assigned to a ground-truth box that carries a teacher embedding regresses the first
``D_s`` dims of that embedding with a squared-error loss summed over dims, averaged over an
image's assigned anchors, then over the images (Eq. 1). At inference each kept box gets the
L2-normalised embedding of the anchor it was decoded from.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.models.dense_heads import RetinaHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.utils import (
    filter_scores_and_topk,
    images_to_levels,
    multi_apply,
    select_single_mlvl,
)
from mmdet.registry import MODELS
from mmdet.structures.bbox import cat_boxes, get_box_tensor
from mmdet.utils import InstanceList, OptConfigType, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdistillmot.models.dense_heads.teacher_embedding_loss import per_image_embedding_loss

__all__ = ["RetinaEmbedHead"]


@MODELS.register_module()
class RetinaEmbedHead(RetinaHead):
    """RetinaHead + a per-anchor embedding branch trained from teacher embeddings.

    Args:
        num_classes: Number of object classes (1 for pedestrians).
        in_channels: Channels of each FPN level.
        embed_dim: ``D_s``, the student embedding size (TDT ablates 64/128/256/512).
        embed_feat_channels: Channels between the two embedder convs (256 in the paper).
        loss_embed_weight: ``alpha_e`` of Eq. 2 (10 in the paper).
        embed_norm_cfg: Norm between the embedder convs (BatchNorm in the paper), one per
            FPN level.
        **kwargs: Passed to :class:`mmdet.models.dense_heads.RetinaHead` (stacked_convs,
            feat_channels, anchor_generator, loss_cls, loss_bbox, train_cfg, test_cfg, ...).

    Ground truth: ``gt_instances.teacher_embeds`` [N, D_t] (float, ``D_t >= D_s``) and optionally
    ``gt_instances.has_teacher_embed`` [N] (bool) for boxes that have no embedding.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        embed_dim: int = 128,
        embed_feat_channels: int = 256,
        loss_embed_weight: float = 10.0,
        embed_norm_cfg: OptConfigType = None,
        **kwargs: Any,
    ) -> None:
        self.embed_dim = embed_dim
        self.embed_feat_channels = embed_feat_channels
        self.embed_norm_cfg = embed_norm_cfg or dict(type="BN", requires_grad=True)
        self.loss_embed_weight = loss_embed_weight
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)

    def _init_layers(self) -> None:
        """Build RetinaNet's subnets and the embedder (conv3x3 -> BN_level -> ReLU -> conv3x3)."""
        super()._init_layers()
        self.embed_conv = nn.Conv2d(
            self.in_channels, self.embed_feat_channels, 3, padding=1, bias=False
        )
        # one norm per FPN level behind the shared conv (see the module docstring)
        self.embed_norms = nn.ModuleList(
            build_norm_layer(self.embed_norm_cfg, self.embed_feat_channels)[1]
            for _ in self.prior_generator.strides
        )
        self.embed_relu = nn.ReLU(inplace=True)
        self.retina_embed = nn.Conv2d(
            self.embed_feat_channels, self.num_base_priors * self.embed_dim, 3, padding=1
        )

    def forward(self, x: tuple[Tensor, ...]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Predict every FPN level (each with its own embedder norm).

        Args:
            x: Per level features [B, C_in, H_l, W_l], as many levels as anchor strides.

        Returns:
            Per level cls_scores, bbox_preds and embed_preds (see :meth:`forward_single`).
        """
        if len(x) != len(self.embed_norms):
            raise ValueError(
                f"RetinaEmbedHead got {len(x)} feature levels but has {len(self.embed_norms)} "
                "anchor strides (one embedder norm per level)."
            )
        return multi_apply(self.forward_single, x, list(range(len(x))))

    def forward_single(self, x: Tensor, level: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """Predict one FPN level.

        Args:
            x: Features of one level, [B, C_in, H, W].
            level: Index of the level (selects the embedder's norm).

        Returns:
            cls_score [B, A * num_classes, H, W], bbox_pred [B, A * 4, H, W] and
            embed_pred [B, A * D_s, H, W] (A = anchors per position).
        """
        cls_score, bbox_pred = super().forward_single(x)
        hidden = self.embed_relu(self.embed_norms[level](self.embed_conv(x)))
        return cls_score, bbox_pred, self.retina_embed(hidden)

    # ------------------------------------------------------------------ training
    def _get_targets_single(
        self,
        flat_anchors: Tensor,
        valid_flags: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
        gt_instances_ignore: InstanceData | None = None,
        unmap_outputs: bool = True,
    ) -> tuple:
        """RetinaNet's targets plus, per anchor, the index of its assigned gt box (-1: none).

        mmdet's ``get_targets`` passes extra return values through ``images_to_levels``, so the
        index arrives per level as [B, A_l].
        """
        targets = super()._get_targets_single(
            flat_anchors, valid_flags, gt_instances, img_meta, gt_instances_ignore, unmap_outputs
        )
        sampling_result = targets[6]
        # the sampler indexes the anchors inside the image; map them back to all anchors
        inside = anchor_inside_flags(
            flat_anchors,
            valid_flags,
            img_meta["img_shape"][:2],
            self.train_cfg["allowed_border"],
        )
        inside_index = inside.nonzero(as_tuple=False).squeeze(1)
        assigned = flat_anchors.new_full((flat_anchors.size(0),), -1, dtype=torch.long)
        assigned[inside_index[sampling_result.pos_inds]] = sampling_result.pos_assigned_gt_inds
        return (*targets, assigned)

    def loss_by_feat(
        self,
        cls_scores: list[Tensor],
        bbox_preds: list[Tensor],
        embed_preds: list[Tensor],
        batch_gt_instances: InstanceList,
        batch_img_metas: list[dict],
        batch_gt_instances_ignore: OptInstanceList = None,
    ) -> dict[str, Any]:
        """Focal + box losses as RetinaNet, plus the embedding loss of Eq. 1.

        Args:
            cls_scores: Per level [B, A * num_classes, H, W].
            bbox_preds: Per level [B, A * 4, H, W].
            embed_preds: Per level [B, A * D_s, H, W].
            batch_gt_instances: Per image, ``bboxes`` [N, 4], ``labels`` [N],
                ``teacher_embeds`` [N, D_t] and optionally ``has_teacher_embed`` [N].
            batch_img_metas: Per image meta information.
            batch_gt_instances_ignore: Boxes ignored during training.

        Returns:
            ``loss_cls`` and ``loss_bbox`` (lists over levels) and ``loss_embed`` (a scalar).
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=device
        )
        (
            labels_list,
            label_weights_list,
            bbox_targets_list,
            bbox_weights_list,
            avg_factor,
            assigned_gt_list,
        ) = self.get_targets(
            anchor_list,
            valid_flag_list,
            batch_gt_instances,
            batch_img_metas,
            batch_gt_instances_ignore=batch_gt_instances_ignore,
        )
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        all_anchor_list = images_to_levels(
            [cat_boxes(anchors) for anchors in anchor_list], num_level_anchors
        )
        losses_cls, losses_bbox = multi_apply(
            self.loss_by_feat_single,
            cls_scores,
            bbox_preds,
            all_anchor_list,
            labels_list,
            label_weights_list,
            bbox_targets_list,
            bbox_weights_list,
            avg_factor=avg_factor,
        )
        loss_embed = self.loss_embed_by_feat(embed_preds, assigned_gt_list, batch_gt_instances)
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox, loss_embed=loss_embed)

    def loss_embed_by_feat(
        self,
        embed_preds: list[Tensor],
        assigned_gt_list: list[Tensor],
        batch_gt_instances: InstanceList,
    ) -> Tensor:
        """Eq. 1 averaged per image over its assigned anchors, then over the images.

        TDT Sec. 3.4: "the embedding loss of an image is averaged ... over all the assigned
        anchors"; an image with many people thus weighs as much as one with few. Only anchors
        assigned to a box with a teacher embedding count, and images without such an anchor
        (no boxes, or none with an embedding) are left out of the mean over images.

        Args:
            embed_preds: Per level [B, A * D_s, H, W].
            assigned_gt_list: Per level [B, H * W * A] gt index per anchor, -1 where none.
            batch_gt_instances: Per image ``teacher_embeds`` [N, D_t] (+ ``has_teacher_embed``).

        Returns:
            ``alpha_e * mean_images(mean_anchors(sum_dims((f - f_hat)^2)))``, a scalar (0 with
            a graph when no anchor has a target, so DDP sees every parameter used).
        """
        batch = embed_preds[0].size(0)
        # [B, H*W*A, D_s] per level, in the anchor order of the targets, then all levels
        flat_preds = torch.cat(
            [p.permute(0, 2, 3, 1).reshape(batch, -1, self.embed_dim) for p in embed_preds], 1
        )
        assigned = torch.cat(assigned_gt_list, dim=1)
        for gt_instances in batch_gt_instances:
            if "teacher_embeds" not in gt_instances:
                raise KeyError(
                    "RetinaEmbedHead needs gt_instances.teacher_embeds; add the "
                    "LoadTeacherEmbeddings transform to the training pipeline."
                )
            teacher = gt_instances.teacher_embeds
            if teacher.size(1) < self.embed_dim:
                raise ValueError(
                    f"teacher embeddings have {teacher.size(1)} dims, fewer than the student's "
                    f"embed_dim={self.embed_dim}"
                )
        loss = per_image_embedding_loss(flat_preds, assigned, batch_gt_instances, self.embed_dim)
        return self.loss_embed_weight * loss

    # ----------------------------------------------------------------- inference
    def predict_by_feat(
        self,
        cls_scores: list[Tensor],
        bbox_preds: list[Tensor],
        embed_preds: list[Tensor],
        batch_img_metas: list[dict] | None = None,
        cfg: ConfigDict | None = None,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> InstanceList:
        """Decode boxes, scores and one L2-normalised embedding per kept box.

        Args:
            cls_scores: Per level [B, A * num_classes, H, W].
            bbox_preds: Per level [B, A * 4, H, W].
            embed_preds: Per level [B, A * D_s, H, W].
            batch_img_metas: Per image meta information.
            cfg: Test config (score_thr, nms_pre, nms, max_per_img); ``self.test_cfg`` if None.
            rescale: Map boxes back to the original image size.
            with_nms: Apply NMS.

        Returns:
            Per image InstanceData with ``bboxes`` [K, 4], ``scores`` [K], ``labels`` [K] and
            ``embeddings`` [K, D_s] (unit norm).
        """
        assert batch_img_metas is not None
        featmap_sizes = [score.shape[-2:] for score in cls_scores]
        mlvl_priors = self.prior_generator.grid_priors(
            featmap_sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device
        )
        cfg = self.test_cfg if cfg is None else cfg
        results_list = []
        for image_id, img_meta in enumerate(batch_img_metas):
            results_list.append(
                self._predict_embed_single(
                    select_single_mlvl(cls_scores, image_id, detach=True),
                    select_single_mlvl(bbox_preds, image_id, detach=True),
                    select_single_mlvl(embed_preds, image_id, detach=True),
                    mlvl_priors,
                    img_meta,
                    cfg,
                    rescale,
                    with_nms,
                )
            )
        return results_list

    def _predict_embed_single(
        self,
        cls_score_list: list[Tensor],
        bbox_pred_list: list[Tensor],
        embed_pred_list: list[Tensor],
        mlvl_priors: list[Tensor],
        img_meta: dict,
        cfg: ConfigDict,
        rescale: bool,
        with_nms: bool,
    ) -> InstanceData:
        """One image: per-level score filter and top-k, decode, then mmdet's NMS post-process."""
        nms_pre = cfg.get("nms_pre", -1)
        score_thr = cfg.get("score_thr", 0)
        mlvl_bbox, mlvl_priors_kept, mlvl_embed, mlvl_scores, mlvl_labels = [], [], [], [], []
        for cls_score, bbox_pred, embed_pred, priors in zip(
            cls_score_list, bbox_pred_list, embed_pred_list, mlvl_priors, strict=True
        ):
            scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, self.bbox_coder.encode_size)
            embed_pred = embed_pred.permute(1, 2, 0).reshape(-1, self.embed_dim)
            scores, labels, _, kept = filter_scores_and_topk(
                scores,
                score_thr,
                nms_pre,
                dict(bbox_pred=bbox_pred, priors=priors, embed=embed_pred),
            )
            mlvl_bbox.append(kept["bbox_pred"])
            mlvl_priors_kept.append(kept["priors"])
            mlvl_embed.append(kept["embed"])
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
        priors = cat_boxes(mlvl_priors_kept)
        bboxes = self.bbox_coder.decode(
            priors, torch.cat(mlvl_bbox), max_shape=img_meta["img_shape"]
        )
        results = InstanceData()
        results.bboxes = get_box_tensor(bboxes)
        results.scores = torch.cat(mlvl_scores)
        results.labels = torch.cat(mlvl_labels)
        results.embeddings = F.normalize(torch.cat(mlvl_embed), dim=1)
        return self._bbox_post_process(
            results=results, cfg=cfg, rescale=rescale, with_nms=with_nms, img_meta=img_meta
        )
