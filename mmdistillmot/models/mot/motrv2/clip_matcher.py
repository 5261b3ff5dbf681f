"""ClipMatcher: MOTR's training targets and losses for one frame of a clip.

Identity is what makes a tracking loss different from a detection loss:

1. A carried track query keeps the ground-truth object it was assigned in an earlier frame (by
   object id). If that object is absent from this frame, the query's target is background, it
   keeps its id, and it takes part in no matching (MOTR's "track-disappear case").
2. Only the queries without an id (detect and proposal queries, and carried queries whose id
   QIM took away) are matched, by the Hungarian algorithm, and only to the objects that no
   carried track already follows. Costs: focal class cost x2, L1 of normalised
   ``(cx, cy, w, h)`` x5, -GIoU x2 (mmdet's ``HungarianAssigner``). A query matched in the last
   decoder layer inherits the object's id for later frames.
3. Losses per decoder layer (the last one plain, the others ``d{i}.``-prefixed auxiliary
   terms; each auxiliary layer re-matches its new queries as DETR does, carried tracks keep
   their object): sigmoid focal loss (alpha 0.25, gamma 2) over all queries, L1 and GIoU on the
   matched ones, and L1 and GIoU of the denoising queries against the boxes they were made
   from (``dn_`` terms). Every term is a sum divided by the number of ground-truth boxes in the
   whole clip, so the model sums frame losses without further normalisation.
4. The IoU of each matched query's last-layer box with its object is recorded for QIM; a query
   with no match this frame keeps the IoU it had (as MOTR's ``track_instances.iou``), so a
   well-placed track whose object is briefly absent keeps its id.
"""

from __future__ import annotations

import torch
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = ["ClipMatcher"]


def _default_assigner() -> dict:
    return dict(
        type="HungarianAssigner",
        match_costs=[
            dict(type="FocalLossCost", weight=2.0),
            dict(type="BBoxL1Cost", weight=5.0, box_format="xywh"),
            dict(type="IoUCost", iou_mode="giou", weight=2.0),
        ],
    )


@MODELS.register_module()
class ClipMatcher(BaseModule):
    """Per-frame target assignment with identity memory, and MOTR's losses.

    Args:
        num_classes (int): Foreground classes. Defaults to 1 (pedestrian).
        assigner (dict, optional): Hungarian assigner for new queries; defaults to costs
            class 2, L1 5, GIoU 2.
        loss_cls (dict, optional): Defaults to ``FocalLoss(alpha=0.25, gamma=2, weight 2)``.
        loss_bbox (dict, optional): Defaults to ``L1Loss(weight 5)``.
        loss_iou (dict, optional): Defaults to ``GIoULoss(weight 2)``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        num_classes: int = 1,
        assigner: dict | None = None,
        loss_cls: dict | None = None,
        loss_bbox: dict | None = None,
        loss_iou: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.assigner = TASK_UTILS.build(assigner or _default_assigner())
        self.loss_cls = MODELS.build(
            loss_cls
            or dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)
        )
        self.loss_bbox = MODELS.build(loss_bbox or dict(type="L1Loss", loss_weight=5.0))
        self.loss_iou = MODELS.build(loss_iou or dict(type="GIoULoss", loss_weight=2.0))

    @staticmethod
    def match_carried(obj_ids: Tensor, gt_ids: Tensor) -> Tensor:
        """Find each carried query's ground truth by object id.

        Args:
            obj_ids (Tensor): ``[N]`` object id of each query, -1 for new queries.
            gt_ids (Tensor): ``[M]`` object ids of this frame's ground truth.

        Returns:
            Tensor: ``[N]`` long, the index into the ground truth, -1 for new queries and for
            carried queries whose object is absent from this frame.
        """
        if gt_ids.numel() == 0:
            return torch.full_like(obj_ids, -1)
        same = (obj_ids[:, None] == gt_ids[None, :]) & (obj_ids[:, None] >= 0)  # [N, M]
        found = same.any(dim=1)
        return torch.where(found, same.float().argmax(dim=1), torch.full_like(obj_ids, -1))

    def match_new(
        self,
        logits: Tensor,
        boxes: Tensor,
        carried_gt: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
        obj_ids: Tensor | None = None,
    ) -> Tensor:
        """Hungarian-match the queries without an id to the objects no carried query follows.

        Args:
            logits (Tensor): ``[N, K]`` class logits of all queries (one decoder layer).
            boxes (Tensor): ``[N, 4]`` normalised ``(cx, cy, w, h)`` predictions.
            carried_gt (Tensor): ``[N]`` result of :meth:`match_carried`; the objects it names
                are excluded.
            gt_boxes (Tensor): ``[M, 4]`` normalised ``(cx, cy, w, h)`` ground truth.
            gt_labels (Tensor): ``[M]`` class labels.
            obj_ids (Tensor, optional): ``[N]`` object ids of the queries; only those with -1
                are matched here (a carried query whose object is absent keeps its id and
                stays unmatched). None: the queries with ``carried_gt < 0`` are matched.

        Returns:
            Tensor: ``[N]`` long; for every query its ground-truth index: the carried match, or
            the Hungarian match for a query without an id, -1 if unmatched.
        """
        matched = carried_gt.clone()
        free_queries = obj_ids < 0 if obj_ids is not None else carried_gt < 0
        new_queries = torch.nonzero(free_queries).squeeze(1)
        claimed = torch.zeros(gt_boxes.size(0), dtype=torch.bool, device=gt_boxes.device)
        claimed[carried_gt[carried_gt >= 0]] = True
        free_gt = torch.nonzero(~claimed).squeeze(1)
        if new_queries.numel() == 0 or free_gt.numel() == 0:
            return matched
        preds = InstanceData(
            scores=logits[new_queries].detach(),
            bboxes=bbox_cxcywh_to_xyxy(boxes[new_queries].detach()),
        )
        gts = InstanceData(bboxes=bbox_cxcywh_to_xyxy(gt_boxes[free_gt]), labels=gt_labels[free_gt])
        # Boxes are already normalised, so the L1 cost's image-size division is by 1.
        result = self.assigner.assign(preds, gts, img_meta=dict(img_shape=(1, 1)))
        hit = result.gt_inds > 0
        matched[new_queries[hit]] = free_gt[result.gt_inds[hit] - 1]
        return matched

    def layer_losses(
        self,
        logits: Tensor,
        boxes: Tensor,
        matched: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
        num_gt_clip: float | Tensor,
    ) -> dict[str, Tensor]:
        """Focal, L1 and GIoU losses of one decoder layer for given matches.

        Args:
            logits (Tensor): ``[N, K]`` class logits.
            boxes (Tensor): ``[N, 4]`` normalised ``(cx, cy, w, h)`` predictions.
            matched (Tensor): ``[N]`` ground-truth index per query, -1 for background.
            gt_boxes (Tensor): ``[M, 4]`` normalised ``(cx, cy, w, h)`` ground truth.
            gt_labels (Tensor): ``[M]`` labels.
            num_gt_clip (float | Tensor): Normaliser, ground-truth boxes in the clip.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou`` (scalars).
        """
        pos = matched >= 0
        labels = torch.full_like(matched, self.num_classes)
        labels[pos] = gt_labels[matched[pos]]
        losses = dict(loss_cls=self.loss_cls(logits, labels, avg_factor=num_gt_clip))
        losses.update(self.box_losses(boxes[pos], gt_boxes[matched[pos]], num_gt_clip))
        return losses

    def box_losses(
        self, boxes: Tensor, targets: Tensor, num_gt_clip: float | Tensor
    ) -> dict[str, Tensor]:
        """L1 (on ``cx, cy, w, h``) and GIoU (on corners) between paired boxes.

        Args:
            boxes (Tensor): ``[P, 4]`` normalised ``(cx, cy, w, h)`` predictions.
            targets (Tensor): ``[P, 4]`` their targets, same format.
            num_gt_clip (float | Tensor): Normaliser.

        Returns:
            dict[str, Tensor]: ``loss_bbox`` and ``loss_iou``; zeros that keep the graph when
            ``P == 0``.
        """
        if boxes.numel() == 0:
            zero = boxes.sum() * 0
            return dict(loss_bbox=zero, loss_iou=zero)
        return dict(
            loss_bbox=self.loss_bbox(boxes, targets, avg_factor=num_gt_clip),
            loss_iou=self.loss_iou(
                bbox_cxcywh_to_xyxy(boxes), bbox_cxcywh_to_xyxy(targets), avg_factor=num_gt_clip
            ),
        )

    def forward(
        self,
        tracks: InstanceData,
        layer_logits: Tensor,
        layer_boxes: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
        gt_ids: Tensor,
        num_gt_clip: float | Tensor,
        denoise_boxes: Tensor | None = None,
    ) -> tuple[dict[str, Tensor], InstanceData]:
        """Assign targets for one frame and compute its losses.

        Args:
            tracks (InstanceData): Records of the ``N`` real queries (new first, then carried),
                with ``obj_ids`` of carried tracks.
            layer_logits (Tensor): ``[L, N, K]`` class logits of every decoder layer.
            layer_boxes (Tensor): ``[L, N, 4]`` normalised ``(cx, cy, w, h)`` boxes per layer.
            gt_boxes (Tensor): ``[M, 4]`` normalised ``(cx, cy, w, h)`` ground truth.
            gt_labels (Tensor): ``[M]`` labels.
            gt_ids (Tensor): ``[M]`` object (instance) ids, unique within the frame.
            num_gt_clip (float | Tensor): Ground-truth boxes in the whole clip (>= 1).
            denoise_boxes (Tensor, optional): ``[L', M, 4]`` predictions of the denoising
                queries, made from ``gt_boxes`` in order, for the first ``L' <= L`` decoder
                layers (layers past ``L'`` get no ``dn_`` terms).

        Returns:
            tuple[dict[str, Tensor], InstanceData]: The frame's losses, and ``tracks`` (a new
            object) with ``obj_ids``, ``matched_gt`` and ``iou`` set from the last layer
            (``iou`` kept from the input where a query is unmatched).
        """
        num_layers = layer_logits.size(0)
        carried_gt = self.match_carried(tracks.obj_ids, gt_ids)
        losses: dict[str, Tensor] = {}
        last_matched = carried_gt
        for layer in range(num_layers):
            matched = self.match_new(
                layer_logits[layer],
                layer_boxes[layer],
                carried_gt,
                gt_boxes,
                gt_labels,
                obj_ids=tracks.obj_ids,
            )
            prefix = "" if layer == num_layers - 1 else f"d{layer}."
            layer_losses = self.layer_losses(
                layer_logits[layer], layer_boxes[layer], matched, gt_boxes, gt_labels, num_gt_clip
            )
            losses.update({prefix + key: value for key, value in layer_losses.items()})
            if denoise_boxes is not None and layer < denoise_boxes.size(0):
                dn_losses = self.box_losses(denoise_boxes[layer], gt_boxes, num_gt_clip)
                losses.update({f"{prefix}dn_{key}": value for key, value in dn_losses.items()})
            last_matched = matched

        tracks = tracks.clone()
        pos = last_matched >= 0
        obj_ids = tracks.obj_ids.clone()
        obj_ids[pos] = gt_ids[last_matched[pos]]
        iou = tracks.iou.clone()  # unmatched queries keep theirs (MOTR's track_instances.iou)
        if pos.any():
            iou[pos] = bbox_overlaps(
                bbox_cxcywh_to_xyxy(layer_boxes[-1][pos].detach()),
                bbox_cxcywh_to_xyxy(gt_boxes[last_matched[pos]]),
                is_aligned=True,
            )
        tracks.obj_ids = obj_ids
        tracks.matched_gt = last_matched
        tracks.iou = iou
        return losses, tracks
