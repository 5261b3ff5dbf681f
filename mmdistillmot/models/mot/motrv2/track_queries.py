"""The per-query record that MOTRv2 carries from frame to frame.

Queries are kept in an mmengine ``InstanceData`` (boolean indexing and ``InstanceData.cat`` do
the bookkeeping). Every record holds the same fields, so records of new queries and carried
tracks can be concatenated:

========================  ==========  ======================================================
field                     shape       meaning
========================  ==========  ======================================================
``content``               ``[N, C]``  content query fed to the decoder
``ref_boxes``             ``[N, 4]``  normalised ``(cx, cy, w, h)`` reference box
``obj_ids``               ``[N]``     GT instance id (training) / track id (inference), -1 none
``matched_gt``            ``[N]``     index of the matched GT in the current frame, -1 none
``iou``                   ``[N]``     IoU of the prediction with its matched GT (training)
``miss_counts``           ``[N]``     consecutive frames under the keep threshold (inference)
``scores``                ``[N]``     last predicted foreground probability
``pred_boxes``            ``[N, 4]``  last predicted normalised box
``output_embed``          ``[N, C]``  last decoder output (after the optional query refiner)
========================  ==========  ======================================================
"""

from __future__ import annotations

import torch
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = ["TRACK_QUERY_FIELDS", "make_track_queries"]

TRACK_QUERY_FIELDS = (
    "content",
    "ref_boxes",
    "obj_ids",
    "matched_gt",
    "iou",
    "miss_counts",
    "scores",
    "pred_boxes",
    "output_embed",
)


def make_track_queries(content: Tensor, ref_boxes: Tensor) -> InstanceData:
    """Create records for fresh queries (no identity, no prediction yet).

    Args:
        content (Tensor): Content queries ``[N, C]``.
        ref_boxes (Tensor): Normalised ``(cx, cy, w, h)`` reference boxes ``[N, 4]``.

    Returns:
        InstanceData: Records with every field of :data:`TRACK_QUERY_FIELDS`; ids and matches
        set to -1, counters and scores to 0, predictions to zeros.

    Raises:
        ValueError: If the two inputs disagree in length or ``ref_boxes`` is not ``[N, 4]``.
    """
    if content.dim() != 2 or ref_boxes.dim() != 2 or ref_boxes.size(1) != 4:
        raise ValueError(
            f"expected content [N, C] and ref_boxes [N, 4], got {tuple(content.shape)} and "
            f"{tuple(ref_boxes.shape)}"
        )
    if content.size(0) != ref_boxes.size(0):
        raise ValueError(f"{content.size(0)} content queries for {ref_boxes.size(0)} boxes")
    num, device = content.size(0), content.device
    records = InstanceData()
    records.content = content
    records.ref_boxes = ref_boxes
    records.obj_ids = torch.full((num,), -1, dtype=torch.long, device=device)
    records.matched_gt = torch.full((num,), -1, dtype=torch.long, device=device)
    records.iou = torch.zeros(num, device=device)
    records.miss_counts = torch.zeros(num, dtype=torch.long, device=device)
    records.scores = torch.zeros(num, device=device)
    records.pred_boxes = torch.zeros(num, 4, device=device)
    records.output_embed = torch.zeros_like(content)
    return records
