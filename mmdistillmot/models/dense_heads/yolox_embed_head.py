"""YOLOX head with an embedding branch supervised by teacher embeddings (TDT on YOLOX).

TDT (Sec. 3.2-3.4) adds, beside a one-stage detector's class and box branches, an embedder that
predicts a ``D_s``-dim embedding for every prior; during training a prior assigned to a
ground-truth box that carries a teacher embedding regresses the first ``D_s`` dims of it (Eq. 1:
squared error summed over dims, averaged over an image's assigned priors, then over the
images). The paper does this on RetinaNet (:class:`RetinaEmbedHead`) and says the method works
on any detector; :class:`YOLOXEmbedHead` is the same recipe on mmdet's :class:`YOLOXHead`.

Layout. YOLOX does not share its branches between levels: each level has its own
``stacked_convs`` class convs and box convs, then 1x1 predictors. The embedder follows that
layout: per level, ``embed_stacked_convs`` ConvModules (conv 3x3 -> BN -> Swish, depthwise when
the head is) of ``embed_feat_channels``, then a 1x1 conv to ``D_s``, all fed by the same level
feature as the class and box branches. Per-level convs give per-level BatchNorms for free
(each level's running statistics are its own, so eval-mode embeddings match the train-mode
ones the loss saw: the reason :class:`RetinaEmbedHead` has per-level norms behind its shared
convs), and the detector's own branches are left exactly as YOLOX builds them, so a YOLOX
checkpoint (e.g. the converted COCO YOLOX-Nano) loads into everything but the new embedder.

Assignment. YOLOX assigns with SimOTA inside ``_get_targets_single`` and keeps no per-prior gt
index; the head reuses YOLOXHead's target and loss code unchanged and records, per image, the
``pos_assigned_gt_inds`` of the sampling result YOLOX itself used (a PseudoSampler that keeps
its last result), so the embedding loss trains exactly YOLOX's positives.

Inference. Each box kept by YOLOX's post-processing (score = max class score x objectness >=
``score_thr``, NMS, optionally ``max_per_img``) gets the L2-normalised embedding of the prior it
was decoded from, as ``pred_instances.embeddings`` [K, D_s] (what :class:`TDT` reads).

:class:`FrozenStatsBatchNorm2d` (``FrozenStatsBN``) is the norm to fine-tune a detector whose
BatchNorms were folded (the converted YOLOX-Nano): a BatchNorm that always normalises by its
running statistics, as in eval mode, whatever the module's mode, while its affine weight and
bias stay trainable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.dense_heads import YOLOXHead
from mmdet.models.task_modules.samplers import PseudoSampler, SamplingResult
from mmdet.registry import MODELS
from mmdet.utils import InstanceList, OptConfigType, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.model import normal_init
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdistillmot.models.dense_heads.teacher_embedding_loss import per_image_embedding_loss

__all__ = ["FrozenStatsBatchNorm2d", "YOLOXEmbedHead"]


@MODELS.register_module("FrozenStatsBN")
class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that always uses, and never updates, its running statistics.

    In eval mode a BatchNorm computes ``(x - running_mean) / sqrt(running_var + eps) * weight
    + bias``; this layer does so in train mode too, so a network converted with folded BNs
    (neutral statistics: mean 0, var ``1 - eps``) computes the same function while it is
    fine-tuned, and its statistics cannot drift to those of small fine-tuning batches. Unlike
    mmdet's ``FrozenBN`` the affine ``weight`` and ``bias`` are parameters and train (the
    folded convolution bias lives in ``bias``). Same state-dict keys as ``nn.BatchNorm2d``
    (``num_batches_tracked`` included), so BN checkpoints load unchanged; an ``nn.BatchNorm2d``
    subclass, so optimizer rules for norms (``norm_decay_mult``) apply. Config:
    ``norm_cfg=dict(type='FrozenStatsBN', eps=1e-3)`` (other BatchNorm2d arguments accepted).
    ``sync_bn`` conversion (``nn.SyncBatchNorm.convert_sync_batchnorm``) would replace it by a
    normal SyncBatchNorm: do not combine the two.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (nn.BatchNorm2d's name)
        """Normalise by the running statistics.

        Args:
            input: Features [B, C, H, W].

        Returns:
            The normalised features [B, C, H, W].
        """
        self._check_input_dim(input)
        return F.batch_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            momentum=0.0,
            eps=self.eps,
        )


class _RecordingPseudoSampler(PseudoSampler):
    """mmdet's PseudoSampler that also keeps the last sampling result it returned."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last: SamplingResult | None = None

    def sample(
        self,
        assign_result: Any,
        pred_instances: InstanceData,
        gt_instances: InstanceData,
        *args: Any,
        **kwargs: Any,
    ) -> SamplingResult:
        """PseudoSampler's result (positives = assigned priors), kept in ``self.last``."""
        self.last = super().sample(assign_result, pred_instances, gt_instances, *args, **kwargs)
        return self.last


@MODELS.register_module()
class YOLOXEmbedHead(YOLOXHead):
    """YOLOXHead + a per-level embedding branch trained from teacher embeddings (TDT Eq. 1).

    See the module docstring for the layout (one embedder per level, like YOLOX's own
    branches), how the SimOTA assignment reaches the embedding loss and how embeddings follow
    the boxes through post-processing.

    Args:
        num_classes: Number of object classes (1 for pedestrians).
        in_channels: Channels of each input level (the neck's outputs).
        embed_dim: ``D_s``, the student embedding size.
        embed_feat_channels: Channels of the embedder's stacked convs.
        embed_stacked_convs: Number of stacked convs of the embedder per level (default: the
            head's ``stacked_convs``, as the class and box branches).
        embed_use_depthwise: Depthwise-separable embedder convs (default: the head's
            ``use_depthwise``, as the class and box branches). False gives plain 3x3 convs,
            ``embed_feat_channels / 9`` times the weights of a depthwise-separable conv: room
            for the identity detail that YOLOX-Nano's depthwise branches do not need.
        loss_embed_weight: ``alpha_e`` of TDT's Eq. 2 (10 in the paper).
        embed_norm_cfg: Norm of the embedder's convs (default: YOLOX's BatchNorm,
            ``dict(type='BN', momentum=0.03, eps=0.001)``). Separate from ``norm_cfg`` so that
            the detector's branches can use ``FrozenStatsBN`` (a converted, BN-folded
            checkpoint) while the new embedder learns its statistics.
        **kwargs: Passed to :class:`mmdet.models.dense_heads.YOLOXHead` (feat_channels,
            stacked_convs, strides, use_depthwise, norm_cfg, act_cfg, losses, train_cfg,
            test_cfg, init_cfg ...).

    Ground truth: ``gt_instances.teacher_embeds`` [N, D_t] (float, ``D_t >= D_s``; added by
    ``LoadTeacherEmbeddings``) and optionally ``gt_instances.has_teacher_embed`` [N] (bool) for
    boxes without an embedding.

    Attributes:
        last_assigned_gt_inds: After :meth:`loss_by_feat`, per image the gt index [P] that
            YOLOX's SimOTA assigned to each of the image's P priors (-1: negative), in the
            flattened prior order (levels by stride, each row-major).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        embed_dim: int = 128,
        embed_feat_channels: int = 128,
        embed_stacked_convs: int | None = None,
        embed_use_depthwise: bool | None = None,
        loss_embed_weight: float = 10.0,
        embed_norm_cfg: OptConfigType = None,
        **kwargs: Any,
    ) -> None:
        self.embed_dim = embed_dim
        self.embed_feat_channels = embed_feat_channels
        self.embed_stacked_convs = embed_stacked_convs
        self.embed_use_depthwise = embed_use_depthwise
        self.embed_norm_cfg = embed_norm_cfg or dict(type="BN", momentum=0.03, eps=0.001)
        self.loss_embed_weight = loss_embed_weight
        self.last_assigned_gt_inds: list[Tensor] | None = None
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        if embed_stacked_convs is None:
            self.embed_stacked_convs = self.stacked_convs
        if self.train_cfg:
            # YOLOX hard-codes a PseudoSampler; this one also keeps its result (gt indices)
            self.sampler = _RecordingPseudoSampler()

    def _init_layers(self) -> None:
        """YOLOX's per-level branches, then one embedder per level (convs + 1x1 predictor)."""
        super()._init_layers()
        num_convs = self.embed_stacked_convs
        if num_convs is None:
            num_convs = self.stacked_convs
        depthwise = self.use_depthwise
        if self.embed_use_depthwise is not None:
            depthwise = self.embed_use_depthwise
        conv_type = DepthwiseSeparableConvModule if depthwise else ConvModule
        self.multi_level_embed_convs = nn.ModuleList()
        self.multi_level_conv_embed = nn.ModuleList()
        for _ in self.strides:
            convs = [
                conv_type(
                    self.in_channels if i == 0 else self.embed_feat_channels,
                    self.embed_feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.embed_norm_cfg,
                    act_cfg=self.act_cfg,
                    bias=self.conv_bias,
                )
                for i in range(num_convs)
            ]
            self.multi_level_embed_convs.append(nn.Sequential(*convs))
            channels = self.embed_feat_channels if num_convs else self.in_channels
            self.multi_level_conv_embed.append(nn.Conv2d(channels, self.embed_dim, 1))

    def init_weights(self) -> None:
        """YOLOX's initialisation, then the embedding predictors near zero (std 0.01, bias 0).

        The targets are pieces of unit-norm teacher embeddings (squared norm <= 1); with
        YOLOX's Kaiming init a 1x1 predictor starts with outputs of squared norm ~0.3 per dim,
        a first embedding loss in the hundreds (x10) whose gradients swamp the detector's in
        the shared backbone and neck. Near-zero predictions start it at ``10 |t|^2`` instead.
        """
        super().init_weights()
        for predictor in self.multi_level_conv_embed:
            normal_init(predictor, mean=0.0, std=0.01, bias=0.0)

    def forward(
        self, x: Sequence[Tensor]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """Predict every level.

        Args:
            x: Per level features [B, C_in, H_l, W_l], one per stride.

        Returns:
            Per level ``cls_scores`` [B, num_classes, H_l, W_l], ``bbox_preds``
            [B, 4, H_l, W_l], ``objectnesses`` [B, 1, H_l, W_l] (YOLOX's) and ``embed_preds``
            [B, D_s, H_l, W_l].

        Raises:
            ValueError: The number of levels is not the number of strides.
        """
        if len(x) != len(self.strides):
            raise ValueError(
                f"YOLOXEmbedHead got {len(x)} feature levels but has {len(self.strides)} "
                f"strides {tuple(self.strides)} (one branch per level)."
            )
        cls_scores, bbox_preds, objectnesses = super().forward(tuple(x))
        embed_preds = [
            predictor(convs(feat))
            for feat, convs, predictor in zip(
                x, self.multi_level_embed_convs, self.multi_level_conv_embed, strict=True
            )
        ]
        return list(cls_scores), list(bbox_preds), list(objectnesses), embed_preds

    def _flatten_levels(self, maps: Sequence[Tensor], channels: int) -> Tensor:
        """Per level [B, C, H, W] -> [B, P, C], P = sum of H * W (YOLOX's prior order)."""
        batch = maps[0].size(0)
        return torch.cat([m.permute(0, 2, 3, 1).reshape(batch, -1, channels) for m in maps], 1)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def _get_targets_single(
        self,
        priors: Tensor,
        cls_preds: Tensor,
        decoded_bboxes: Tensor,
        objectness: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
        gt_instances_ignore: InstanceData | None = None,
    ) -> tuple:
        """YOLOX's targets for one image, recording each prior's assigned gt index.

        YOLOXHead's code runs unchanged (an image without boxes returns before assigning:
        every prior is then negative). The index, [P] with -1 for negatives, is appended to
        ``self.last_assigned_gt_inds`` when :meth:`loss_by_feat` collects it.
        """
        recorder = self.sampler if isinstance(self.sampler, _RecordingPseudoSampler) else None
        if recorder is not None:
            recorder.last = None
        targets = super()._get_targets_single(
            priors,
            cls_preds,
            decoded_bboxes,
            objectness,
            gt_instances,
            img_meta,
            gt_instances_ignore,
        )
        assigned = torch.full((priors.size(0),), -1, dtype=torch.long, device=priors.device)
        result = recorder.last if recorder is not None else None
        if result is not None:
            assigned[result.pos_inds] = result.pos_assigned_gt_inds
        if self.last_assigned_gt_inds is not None:
            self.last_assigned_gt_inds.append(assigned)
        return targets

    def loss_by_feat(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        objectnesses: Sequence[Tensor],
        embed_preds: Sequence[Tensor],
        batch_gt_instances: Sequence[InstanceData],
        batch_img_metas: Sequence[dict],
        batch_gt_instances_ignore: OptInstanceList = None,
    ) -> dict[str, Tensor]:
        """YOLOX's losses, unchanged, plus the embedding loss of Eq. 1 on YOLOX's positives.

        Args:
            cls_scores: Per level [B, num_classes, H, W].
            bbox_preds: Per level [B, 4, H, W].
            objectnesses: Per level [B, 1, H, W].
            embed_preds: Per level [B, D_s, H, W].
            batch_gt_instances: Per image ``bboxes`` [N, 4], ``labels`` [N],
                ``teacher_embeds`` [N, D_t] and optionally ``has_teacher_embed`` [N].
            batch_img_metas: Per image meta information.
            batch_gt_instances_ignore: Passed to YOLOX (its SimOTA assigner ignores them).

        Returns:
            YOLOX's ``loss_cls``, ``loss_bbox``, ``loss_obj`` (and ``loss_l1`` when
            ``use_l1``), each a scalar, and ``loss_embed``, a scalar.

        Raises:
            KeyError: An image's ``gt_instances`` has no ``teacher_embeds``.
            ValueError: The teacher embeddings have fewer dims than ``embed_dim``.
        """
        for gt_instances in batch_gt_instances:
            self._check_teacher_embeds(gt_instances)
        self.last_assigned_gt_inds = []
        losses = super().loss_by_feat(
            cls_scores,
            bbox_preds,
            objectnesses,
            batch_gt_instances,
            batch_img_metas,
            batch_gt_instances_ignore,
        )
        if len(self.last_assigned_gt_inds) != len(batch_gt_instances):
            raise RuntimeError(
                f"YOLOXEmbedHead recorded {len(self.last_assigned_gt_inds)} assignments for "
                f"{len(batch_gt_instances)} images (YOLOXHead's targets changed?)."
            )
        assigned = torch.stack(self.last_assigned_gt_inds)
        losses["loss_embed"] = self.loss_embed_by_feat(embed_preds, assigned, batch_gt_instances)
        return losses

    def _check_teacher_embeds(self, gt_instances: InstanceData) -> None:
        if "teacher_embeds" not in gt_instances:
            raise KeyError(
                "YOLOXEmbedHead needs gt_instances.teacher_embeds; add the "
                "LoadTeacherEmbeddings transform (and KeepTeacherEmbedsAligned around the "
                "transforms after it) to the training pipeline."
            )
        dims = gt_instances.teacher_embeds.size(-1)
        if dims < self.embed_dim:
            raise ValueError(
                f"teacher embeddings have {dims} dims, fewer than the student's "
                f"embed_dim={self.embed_dim}"
            )

    def loss_embed_by_feat(
        self,
        embed_preds: Sequence[Tensor],
        assigned_gt_inds: Tensor,
        batch_gt_instances: Sequence[InstanceData],
    ) -> Tensor:
        """Eq. 1 averaged per image over its assigned priors, then over the images.

        Only priors assigned to a box with a teacher embedding count; images without one (no
        boxes, or none with an embedding) are left out of the mean over images.

        Args:
            embed_preds: Per level [B, D_s, H, W].
            assigned_gt_inds: [B, P] gt index per prior (-1: none), P = sum of H * W in
                YOLOX's prior order.
            batch_gt_instances: Per image ``teacher_embeds`` [N, D_t] (+ ``has_teacher_embed``
                [N]).

        Returns:
            ``loss_embed_weight * mean_images(mean_priors(sum_dims((f - f_hat)^2)))``, a scalar
            (0 with a graph to every embedder when nothing has a target, so DDP sees the
            parameters used).
        """
        flat_preds = self._flatten_levels(embed_preds, self.embed_dim)
        if assigned_gt_inds.shape != flat_preds.shape[:2]:
            raise ValueError(
                f"assigned_gt_inds has shape {tuple(assigned_gt_inds.shape)}, the embeddings "
                f"{tuple(flat_preds.shape[:2])} (images, priors)"
            )
        for gt_instances in batch_gt_instances:
            self._check_teacher_embeds(gt_instances)
        loss = per_image_embedding_loss(
            flat_preds, assigned_gt_inds, batch_gt_instances, self.embed_dim
        )
        return self.loss_embed_weight * loss

    # ----------------------------------------------------------------- inference
    def predict_by_feat(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        objectnesses: Sequence[Tensor],
        embed_preds: Sequence[Tensor],
        batch_img_metas: Sequence[dict] | None = None,
        cfg: ConfigDict | None = None,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> InstanceList:
        """Decode YOLOX's boxes and scores and one L2-normalised embedding per kept box.

        YOLOX's rule: score = max class score x objectness, kept if ``>= score_thr``; boxes
        decoded by YOLOXHead's ``_bbox_decode``, then its ``_bbox_post_process`` (rescale,
        NMS), which carries every field of the instances, embeddings included. Then, if
        ``cfg.max_per_img`` is set (> 0; YOLOX itself has no such cap), the highest-scoring
        ``max_per_img`` boxes are kept.

        Args:
            cls_scores: Per level [B, num_classes, H, W].
            bbox_preds: Per level [B, 4, H, W].
            objectnesses: Per level [B, 1, H, W].
            embed_preds: Per level [B, D_s, H, W].
            batch_img_metas: Per image meta information (``scale_factor`` for ``rescale``).
            cfg: Test config (``score_thr``, ``nms``, optional ``max_per_img``);
                ``self.test_cfg`` if None.
            rescale: Map boxes back to the original image size.
            with_nms: Apply NMS.

        Returns:
            Per image InstanceData with ``bboxes`` [K, 4], ``scores`` [K], ``labels`` [K] and
            ``embeddings`` [K, D_s] (unit norm).
        """
        if batch_img_metas is None:
            raise ValueError("YOLOXEmbedHead.predict_by_feat needs batch_img_metas")
        if not len(cls_scores) == len(bbox_preds) == len(objectnesses) == len(embed_preds):
            raise ValueError("cls_scores, bbox_preds, objectnesses, embed_preds: one per level")
        cfg = self.test_cfg if cfg is None else cfg
        featmap_sizes = [score.shape[2:] for score in cls_scores]
        priors = torch.cat(
            self.prior_generator.grid_priors(
                featmap_sizes,
                dtype=cls_scores[0].dtype,
                device=cls_scores[0].device,
                with_stride=True,
            )
        )
        flat_cls = self._flatten_levels(cls_scores, self.cls_out_channels).sigmoid()
        flat_obj = self._flatten_levels(objectnesses, 1).squeeze(-1).sigmoid()
        flat_bboxes = self._bbox_decode(priors, self._flatten_levels(bbox_preds, 4))
        flat_embeds = F.normalize(self._flatten_levels(embed_preds, self.embed_dim), dim=-1)
        max_per_img = cfg.get("max_per_img", -1) or -1
        results_list = []
        for image_id, img_meta in enumerate(batch_img_metas):
            max_scores, labels = torch.max(flat_cls[image_id], 1)
            scores = flat_obj[image_id] * max_scores
            keep = scores >= cfg.score_thr
            results = InstanceData(
                bboxes=flat_bboxes[image_id][keep],
                scores=scores[keep],
                labels=labels[keep],
                embeddings=flat_embeds[image_id][keep],
            )
            results = self._bbox_post_process(
                results=results, cfg=cfg, rescale=rescale, with_nms=with_nms, img_meta=img_meta
            )
            if 0 < max_per_img < len(results):
                results = results[results.scores.topk(max_per_img).indices]
            results_list.append(results)
        return results_list
