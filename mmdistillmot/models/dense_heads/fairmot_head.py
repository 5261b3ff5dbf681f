"""FairMOT's joint detection and embedding head (CenterNet branches + 128-d identity map)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import BaseBoxes
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.structures import BaseDataElement, InstanceData
from torch import Tensor, nn

from mmdistillmot.models.dense_heads.centernet_targets import (
    CenterNetImageTargets,
    CenterNetTargets,
    build_centernet_targets,
    collate_centernet_targets,
)
from mmdistillmot.models.dense_heads.fairmot_losses import (
    centernet_focal_loss,
    gather_at_indices,
    gathered_l1_loss,
    identity_embedding_scale,
    identity_loss,
)

__all__ = ["FairMOTHead"]


def _branch(in_channels: int, feat_channels: int, out_channels: int) -> nn.Sequential:
    """Conv3x3 -> ReLU -> Conv1x1, FairMOT's shape for every head."""
    return nn.Sequential(
        nn.Conv2d(in_channels, feat_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(feat_channels, out_channels, kernel_size=1),
    )


@MODELS.register_module()
class FairMOTHead(BaseDenseHead):
    """Heads ``hm`` / ``wh`` (ltrb) / ``reg`` (offset) / ``id`` on a stride-4 feature map.

    Training (:meth:`loss_by_feat`): CenterNet targets (:mod:`.centernet_targets`; those the
    pipeline's ``BuildFairMOTTargets`` put in the data samples when present, else built here
    from ``gt_instances``, with identical values), focal loss on
    the heatmap, L1 on ltrb and offset read at the object centres, cross entropy of the
    identity classifier on the scaled, normalised embedding at the centres, and FairMOT's
    uncertainty weighting with the learnable ``s_det`` and ``s_id`` (parameters of this head,
    so the optimizer updates them, as it does the identity classifier).

    The returned dict holds differentiable terms whose keys contain ``loss`` and whose sum is
    exactly FairMOT's total ``0.5 * (exp(-s_det) * det + exp(-s_id) * id + s_det + s_id)`` with
    ``det = hm + 0.1 wh + reg``::

        loss_hm = 0.5 * exp(-s_det) * w_hm * hm     loss_id = 0.5 * exp(-s_id) * id
        loss_wh = 0.5 * exp(-s_det) * w_wh * wh     loss_uncertainty = 0.5 * (s_det + s_id)
        loss_reg = 0.5 * exp(-s_det) * w_reg * reg

    so mmengine's ``loss`` (the sum of the ``loss`` keys) is the uncertainty-weighted total, and
    a wrapper that rescales every ``loss`` term (distillation) stays exact. The unweighted
    values are logged beside them under keys without ``loss`` (not summed): ``hm_focal``,
    ``wh_l1``, ``reg_l1``, ``id_ce``, ``s_det``, ``s_id``.

    Inference (:meth:`predict_by_feat`): sigmoid heatmap, 3x3 max-pool peak suppression, top-K
    peaks, score threshold, boxes from the offset-corrected centre and ltrb distances, and the
    L2-normalised embedding at each peak.

    Args:
        num_identities (int, optional): Identity classes ``nID`` of the training data (at least
            the largest identity number + 1; FairMOT: sum over datasets of (max id + 1), + 1).
            Required for training; ``None`` builds an inference-only head.
        in_channels (int): Channels of the input map. Defaults to 270 (HRNetV2-W18 concat).
        feat_channels (int): Hidden channels of each branch. Defaults to 256.
        num_classes (int): Heatmap channels. Defaults to 1 (pedestrian).
        embed_dims (int): Embedding size. Defaults to 128.
        stride (int): Input pixels per output cell. Defaults to 4.
        heatmap_bias (float): Initial bias of the last heatmap conv. Defaults to -2.19.
        loss_weights (dict, optional): Weights ``hm``, ``wh``, ``reg`` of the detection loss.
            Defaults to ``dict(hm=1.0, wh=0.1, reg=1.0)``.
        s_det_init (float): Initial ``s_det``. Defaults to -1.85.
        s_id_init (float): Initial ``s_id``. Defaults to -1.05.
        min_overlap (float): ``min_overlap`` of the Gaussian radius. Defaults to 0.7.
        max_objects (int): Objects per image with targets. Defaults to 500.
        train_cfg (dict, optional): Unused; accepted for mmdet's interface.
        test_cfg (dict, optional): ``topk`` (500), ``score_thr`` (0.01) and
            ``local_maximum_kernel`` (3).
        init_cfg (dict, optional): mmengine init config; FairMOT's own init is applied by
            :meth:`init_weights`.
    """

    def __init__(
        self,
        num_identities: int | None = None,
        in_channels: int = 270,
        feat_channels: int = 256,
        num_classes: int = 1,
        embed_dims: int = 128,
        stride: int = 4,
        heatmap_bias: float = -2.19,
        loss_weights: dict | None = None,
        s_det_init: float = -1.85,
        s_id_init: float = -1.05,
        min_overlap: float = 0.7,
        max_objects: int = 500,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_identities = num_identities
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.stride = stride
        self.heatmap_bias = heatmap_bias
        weights = dict(hm=1.0, wh=0.1, reg=1.0)
        if loss_weights is not None:
            unknown = set(loss_weights) - set(weights)
            if unknown:
                raise KeyError(
                    f"FairMOTHead: unknown keys {sorted(unknown)} in loss_weights (allowed: "
                    f"{sorted(weights)})"
                )
            weights.update(loss_weights)
        self.loss_weights = weights
        self.min_overlap = min_overlap
        self.max_objects = max_objects
        self.train_cfg = train_cfg
        self.test_cfg = dict(topk=500, score_thr=0.01, local_maximum_kernel=3)
        self.test_cfg.update(test_cfg or {})

        self.heatmap_head = _branch(in_channels, feat_channels, num_classes)
        self.wh_head = _branch(in_channels, feat_channels, 4)
        self.offset_head = _branch(in_channels, feat_channels, 2)
        self.id_head = _branch(in_channels, feat_channels, embed_dims)
        # Task log-variances of the uncertainty weighting; learned with the network.
        self.s_det = nn.Parameter(torch.tensor([s_det_init]))
        self.s_id = nn.Parameter(torch.tensor([s_id_init]))
        self.classifier: nn.Linear | None = None
        self.emb_scale: float | None = None
        if num_identities is not None:
            self.emb_scale = identity_embedding_scale(num_identities)
            self.classifier = nn.Linear(embed_dims, num_identities)
        self._init_branches()

    def _init_branches(self) -> None:
        """FairMOT's init: convs N(0, 0.001) with zero bias; heatmap bias ``heatmap_bias``."""
        for branch in (self.heatmap_head, self.wh_head, self.offset_head, self.id_head):
            for module in branch.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.normal_(module.weight, std=0.001)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
        last = self.heatmap_head[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias, self.heatmap_bias)

    def init_weights(self) -> None:
        """Re-apply FairMOT's initialisation (the runner calls this after building)."""
        super().init_weights()
        self._init_branches()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the four branches.

        Args:
            x (Tensor): ``[B, in_channels, H, W]`` feature map (stride ``stride``).

        Returns:
            tuple[Tensor, Tensor, Tensor, Tensor]: Heatmap logits ``[B, num_classes, H, W]``,
            ltrb distances ``[B, 4, H, W]`` (grid units), offsets ``[B, 2, H, W]`` and raw
            (unnormalised) embeddings ``[B, embed_dims, H, W]``.
        """
        return self.heatmap_head(x), self.wh_head(x), self.offset_head(x), self.id_head(x)

    def get_targets(
        self, batch_gt_instances: InstanceList, feat_shape: tuple[int, int]
    ) -> CenterNetTargets:
        """Build the CenterNet targets of a batch.

        Args:
            batch_gt_instances (list[InstanceData]): Per image ``bboxes [N, 4]`` (input pixels),
                ``labels [N]`` and optionally ``instances_ids [N]`` (-1 = none).
            feat_shape (tuple[int, int]): ``(H, W)`` of the output maps.

        Returns:
            CenterNetTargets: The targets.
        """
        bboxes, labels, identities = [], [], []
        for gt in batch_gt_instances:
            boxes = gt.bboxes.tensor if isinstance(gt.bboxes, BaseBoxes) else gt.bboxes
            bboxes.append(boxes)
            labels.append(gt.labels)
            identities.append(gt.instances_ids if "instances_ids" in gt else None)
        return build_centernet_targets(
            bboxes,
            labels,
            identities,
            feat_shape,
            stride=self.stride,
            num_classes=self.num_classes,
            min_overlap=self.min_overlap,
            max_objects=self.max_objects,
        )

    def prebuilt_targets(
        self,
        batch_targets: Sequence[BaseDataElement],
        feat_shape: tuple[int, int],
        device: torch.device,
    ) -> CenterNetTargets:
        """Batch the targets ``BuildFairMOTTargets`` built in the pipeline.

        Args:
            batch_targets (Sequence[BaseDataElement]): Per image the data sample's
                ``centernet_targets`` (``heatmap [num_classes, H, W]``, ``indices [n]``,
                ``mask [n]``, ``ltrb [n, 4]``, ``offset [n, 2]``, ``identities [n]``; the
                settings as metainfo).
            feat_shape (tuple[int, int]): ``(H, W)`` of the output maps.
            device (torch.device): Where the batch goes.

        Returns:
            CenterNetTargets: The targets, as :meth:`get_targets` would build them.

        Raises:
            ValueError: The targets were built with other settings than the head's, or for
                another grid.
        """
        own = dict(
            stride=self.stride,
            num_classes=self.num_classes,
            min_overlap=float(self.min_overlap),
            max_objects=self.max_objects,
        )
        images = []
        for b, element in enumerate(batch_targets):
            settings = {key: element.metainfo.get(key) for key in own}
            if settings != own:
                raise ValueError(
                    f"FairMOTHead: the pipeline's BuildFairMOTTargets used {settings} but the "
                    f"head has {own}; give the transform the head's settings"
                )
            expected = (self.num_classes, *feat_shape)
            if tuple(element.heatmap.shape) != expected:
                raise ValueError(
                    f"FairMOTHead: image {b}'s pipeline targets are for a heatmap of shape "
                    f"{tuple(element.heatmap.shape)}, the head outputs {expected}; set "
                    "BuildFairMOTTargets' pad_size_divisor to the data preprocessor's (and give "
                    "every image of a batch the same size, e.g. with Letterbox)"
                )
            images.append(
                CenterNetImageTargets(
                    heatmap=element.heatmap.cpu().numpy(),
                    indices=element.indices.cpu().numpy(),
                    mask=element.mask.cpu().numpy(),
                    ltrb=element.ltrb.cpu().numpy(),
                    offset=element.offset.cpu().numpy(),
                    identities=element.identities.cpu().numpy(),
                )
            )
        return collate_centernet_targets(images, device)

    def loss(self, x: Tensor, batch_data_samples: SampleList) -> dict[str, Tensor]:
        """Forward and losses, with the pipeline's targets when every sample has them.

        Args:
            x (Tensor): ``[B, in_channels, H, W]`` feature map.
            batch_data_samples (list[DetDataSample]): Per image ``gt_instances`` and
                ``metainfo``, and ``centernet_targets`` when the pipeline has
                ``BuildFairMOTTargets``.

        Returns:
            dict[str, Tensor]: See :meth:`loss_by_feat`.

        Raises:
            ValueError: Only some samples of the batch have pipeline targets.
        """
        heatmap, wh, offset, id_map = self(x)
        gt_instances, gt_instances_ignore, img_metas = unpack_gt_instances(batch_data_samples)
        prebuilt = [sample.get("centernet_targets") for sample in batch_data_samples]
        present = [element is not None for element in prebuilt]
        if any(present) and not all(present):
            raise ValueError(
                "FairMOTHead: only some samples of the batch have 'centernet_targets'; every "
                "dataset of the batch needs BuildFairMOTTargets in its pipeline, or none"
            )
        return self.loss_by_feat(
            heatmap,
            wh,
            offset,
            id_map,
            gt_instances,
            img_metas,
            gt_instances_ignore,
            batch_centernet_targets=prebuilt if all(present) and prebuilt else None,
        )

    def loss_by_feat(
        self,
        heatmap: Tensor,
        wh: Tensor,
        offset: Tensor,
        id_map: Tensor,
        batch_gt_instances: InstanceList,
        batch_img_metas: list[dict],
        batch_gt_instances_ignore: OptInstanceList = None,
        batch_centernet_targets: Sequence[BaseDataElement] | None = None,
    ) -> dict[str, Tensor]:
        """Compute FairMOT's losses from the head outputs.

        Args:
            heatmap (Tensor): ``[B, num_classes, H, W]`` logits.
            wh (Tensor): ``[B, 4, H, W]`` ltrb predictions.
            offset (Tensor): ``[B, 2, H, W]`` offset predictions.
            id_map (Tensor): ``[B, embed_dims, H, W]`` embeddings.
            batch_gt_instances (list[InstanceData]): Ground truth per image (see
                :meth:`get_targets`).
            batch_img_metas (list[dict]): Meta information per image (unused).
            batch_gt_instances_ignore (list[InstanceData], optional): Unused (FairMOT has no
                ignore regions).
            batch_centernet_targets (Sequence[BaseDataElement], optional): Targets built by the
                pipeline (:meth:`prebuilt_targets`); None builds them from
                ``batch_gt_instances`` here.

        Returns:
            dict[str, Tensor]: See the class docstring.

        Raises:
            RuntimeError: When the head was built without ``num_identities``.
            ValueError: When an identity number is ``>= num_identities``, or pipeline targets
                do not fit the head.
        """
        if self.classifier is None or self.emb_scale is None:
            raise RuntimeError(
                "FairMOTHead: built without num_identities, so it cannot be trained; set "
                "model.bbox_head.num_identities (e.g. --cfg-options "
                "model.bbox_head.num_identities=N) to the identities of the training data: "
                "'num_instances' of a mot2coco annotation file, or the nID JDEMixDataset logs"
            )
        feat_shape = (heatmap.shape[-2], heatmap.shape[-1])
        if batch_centernet_targets is not None:
            targets = self.prebuilt_targets(batch_centernet_targets, feat_shape, heatmap.device)
        else:
            targets = self.get_targets(batch_gt_instances, feat_shape)
        max_id = int(targets.identities.max()) if targets.identities.numel() else -1
        if max_id >= self.classifier.out_features:
            raise ValueError(
                f"FairMOTHead: identity {max_id} in the batch but num_identities is "
                f"{self.classifier.out_features}; set model.bbox_head.num_identities to at least "
                f"the largest identity + 1 of the training set"
            )
        hm_loss = centernet_focal_loss(heatmap, targets.heatmap)
        wh_loss = gathered_l1_loss(wh, targets.indices, targets.mask, targets.ltrb)
        reg_loss = gathered_l1_loss(offset, targets.indices, targets.mask, targets.offset)
        id_loss = identity_loss(
            id_map,
            targets.indices,
            targets.mask,
            targets.identities,
            self.classifier,
            self.emb_scale,
        )
        det_scale = 0.5 * torch.exp(-self.s_det).squeeze()
        id_scale = 0.5 * torch.exp(-self.s_id).squeeze()
        return dict(
            loss_hm=det_scale * self.loss_weights["hm"] * hm_loss,
            loss_wh=det_scale * self.loss_weights["wh"] * wh_loss,
            loss_reg=det_scale * self.loss_weights["reg"] * reg_loss,
            loss_id=id_scale * id_loss,
            loss_uncertainty=0.5 * (self.s_det + self.s_id).squeeze(),
            hm_focal=hm_loss.detach(),
            wh_l1=wh_loss.detach(),
            reg_l1=reg_loss.detach(),
            id_ce=id_loss.detach(),
            s_det=self.s_det.detach().squeeze(),
            s_id=self.s_id.detach().squeeze(),
        )

    def predict_by_feat(
        self,
        heatmap: Tensor,
        wh: Tensor,
        offset: Tensor,
        id_map: Tensor,
        batch_img_metas: Sequence[dict],
        rescale: bool = True,
    ) -> InstanceList:
        """Decode detections and their embeddings.

        Args:
            heatmap (Tensor): ``[B, num_classes, H, W]`` logits.
            wh (Tensor): ``[B, 4, H, W]`` ltrb distances (grid units).
            offset (Tensor): ``[B, 2, H, W]`` sub-pixel offsets.
            id_map (Tensor): ``[B, embed_dims, H, W]`` embeddings.
            batch_img_metas (Sequence[dict]): Per image meta; with ``rescale`` it needs
                ``scale_factor`` ``(w_scale, h_scale)`` and optionally ``letterbox_offset``
                ``(dx, dy)`` (the left/top padding of :class:`Letterbox`, 0 if absent).
            rescale (bool): Boxes in original image pixels (True) or in network-input pixels.

        Returns:
            list[InstanceData]: Per image ``bboxes [N, 4]`` (xyxy), ``scores [N]``,
            ``labels [N]`` and ``embeddings [N, embed_dims]`` (unit norm), sorted by score.
        """
        batch, num_classes, height, width = heatmap.shape
        kernel = int(self.test_cfg["local_maximum_kernel"])
        scores_map = heatmap.sigmoid()
        local_max = F.max_pool2d(scores_map, kernel, stride=1, padding=(kernel - 1) // 2)
        # A peak keeps its score only where it equals the maximum of its neighbourhood.
        scores_map = scores_map * (local_max == scores_map).to(scores_map.dtype)
        topk = min(int(self.test_cfg["topk"]), num_classes * height * width)
        scores, flat = scores_map.reshape(batch, -1).topk(topk, dim=1)
        labels = torch.div(flat, height * width, rounding_mode="floor")
        spatial = flat % (height * width)
        ys = torch.div(spatial, width, rounding_mode="floor").to(wh.dtype)
        xs = (spatial % width).to(wh.dtype)
        off = gather_at_indices(offset, spatial)
        ltrb = gather_at_indices(wh, spatial)
        embeds = gather_at_indices(F.normalize(id_map, dim=1), spatial)
        cx = xs + off[..., 0]
        cy = ys + off[..., 1]
        boxes = torch.stack(
            [cx - ltrb[..., 0], cy - ltrb[..., 1], cx + ltrb[..., 2], cy + ltrb[..., 3]], dim=-1
        ) * float(self.stride)

        results = []
        for b in range(batch):
            keep = scores[b] > float(self.test_cfg["score_thr"])
            bboxes = boxes[b][keep]
            if rescale:
                meta = batch_img_metas[b]
                dx, dy = meta.get("letterbox_offset", (0.0, 0.0))
                bboxes = bboxes - bboxes.new_tensor([dx, dy, dx, dy])
                scale = meta.get("scale_factor", (1.0, 1.0))
                bboxes = bboxes / bboxes.new_tensor([scale[0], scale[1], scale[0], scale[1]])
            results.append(
                InstanceData(
                    bboxes=bboxes,
                    scores=scores[b][keep],
                    labels=labels[b][keep],
                    embeddings=embeds[b][keep],
                )
            )
        return results
