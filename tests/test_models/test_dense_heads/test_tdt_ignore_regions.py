"""TDT ignores CrowdHuman's ignore regions (iscrowd boxes) instead of training them as background.

mmdet's CocoDataset turns ``iscrowd=1`` annotations into ignored instances, PackDetInputs puts
them into ``data_samples.ignored_instances`` and the anchor head hands them to the assigner,
which ignores an anchor whose IoF (intersection over the anchor's area) with an ignore box
exceeds ``ignore_iof_thr``. An ignored anchor is neither positive nor negative: label weight 0.
"""

from __future__ import annotations

import numpy as np
import torch
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData
from test_tdt_box_loss_scale import build_head

META = dict(img_shape=(128, 128), pad_shape=(128, 128), batch_input_shape=(128, 128))
REAL_BOX = [4.0, 6.0, 22.0, 58.0]  # a tall person at the left
IGNORE_BOX = [64.0, 0.0, 128.0, 128.0]  # an ignore region: the right half, far from it


def targets(head: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(anchors [A, 4], labels [A], label_weights [A]) of one image with the two boxes."""
    sizes = [torch.Size((128 // s, 128 // s)) for s in (8, 16, 32, 64, 128)]
    anchors, valid = head.get_anchors(sizes, [META], device="cpu")
    gt = InstanceData(
        bboxes=torch.tensor([REAL_BOX]), labels=torch.tensor([0]), teacher_embeds=torch.zeros(1, 4)
    )
    ignore = InstanceData(bboxes=torch.tensor([IGNORE_BOX]), labels=torch.tensor([0]))
    labels, label_weights, *_ = head.get_targets(
        anchors, valid, [gt], [META], batch_gt_instances_ignore=[ignore]
    )
    return (
        torch.cat(anchors[0]),
        torch.cat([lvl.reshape(-1) for lvl in labels]),
        torch.cat([lvl.reshape(-1) for lvl in label_weights]),
    )


def overlaps(anchors: torch.Tensor, box: list[float]) -> torch.Tensor:
    """[A] bool: the anchor intersects the box."""
    x1, y1, x2, y2 = box
    return (anchors[:, 0] < x2) & (anchors[:, 2] > x1) & (anchors[:, 1] < y2) & (anchors[:, 3] > y1)


def test_anchors_inside_an_ignore_region_are_neither_positive_nor_negative() -> None:
    head = build_head()  # the TDT base config as it is
    anchors, labels, weights = targets(head)
    x1, y1, x2, y2 = IGNORE_BOX
    inside = (
        (anchors[:, 0] >= x1)
        & (anchors[:, 1] >= y1)
        & (anchors[:, 2] <= x2)
        & (anchors[:, 3] <= y2)
    )
    assert inside.sum() > 20
    assert torch.all(weights[inside] == 0)
    # the real box's anchors stay positive, and anchors touching neither box stay negatives
    positive = labels == 0
    assert positive.any() and torch.all(weights[positive] == 1)
    clear = ~overlaps(anchors, REAL_BOX) & ~overlaps(anchors, IGNORE_BOX)
    assert clear.sum() > 20
    assert torch.all(labels[clear] == 1) and torch.all(weights[clear] == 1)


def test_without_ignoring_the_same_anchors_were_negatives() -> None:
    """The old setting (ignore_iof_thr=-1) trained the ignore region as background."""
    ignoring_anchors, ignoring_labels, _ = targets(build_head())
    anchors, labels, weights = targets(build_head(ignore_iof_thr=-1))
    x1, y1, x2, y2 = IGNORE_BOX
    inside = (
        (anchors[:, 0] >= x1)
        & (anchors[:, 1] >= y1)
        & (anchors[:, 2] <= x2)
        & (anchors[:, 3] <= y2)
    )
    background = 1  # num_classes
    assert torch.all(labels[inside] == background) and torch.all(weights[inside] == 1)
    # ignoring changes nothing about the real box's positives
    torch.testing.assert_close(ignoring_anchors, anchors)
    assert torch.equal(ignoring_labels == 0, labels == 0)


def test_an_ignored_box_from_the_teacher_embedding_pipeline_reaches_the_assigner() -> None:
    """A crowd box packed by KeepTeacherEmbedsAligned reaches the assigner.

    It is packed into ignored_instances (no embedding) and the head's loss ignores its anchors.
    """
    wrapper = TRANSFORMS.build(
        dict(type="KeepTeacherEmbedsAligned", transforms=[dict(type="PackDetInputs")])
    )
    results = dict(
        img=np.zeros((128, 128, 3), np.uint8),
        img_shape=(128, 128),
        ori_shape=(128, 128),
        gt_bboxes=HorizontalBoxes(torch.tensor([REAL_BOX, IGNORE_BOX])),
        gt_bboxes_labels=np.array([0, 0]),
        gt_ignore_flags=np.array([False, True]),
        gt_teacher_embeds=np.ones((2, 4), np.float32),
        gt_has_teacher_embed=np.array([True, False]),
    )
    sample = wrapper(results)["data_samples"]
    sample.set_metainfo(dict(pad_shape=(128, 128), batch_input_shape=(128, 128)))
    gts, ignores, metas = unpack_gt_instances([sample])
    torch.testing.assert_close(ignores[0].bboxes.tensor, torch.tensor([IGNORE_BOX]))
    assert gts[0].has_teacher_embed.tolist() == [True]
    torch.manual_seed(0)
    feats = tuple(torch.randn(1, 8, 128 // s, 128 // s) for s in (8, 16, 32, 64, 128))
    ignoring, not_ignoring = build_head().eval(), build_head(ignore_iof_thr=-1).eval()
    not_ignoring.load_state_dict(ignoring.state_dict())
    with_ignore = ignoring.loss(feats, [sample])
    without = not_ignoring.loss(feats, [sample])
    # same positives (same box and embedding losses), fewer negatives in the class loss
    torch.testing.assert_close(sum(with_ignore["loss_bbox"]), sum(without["loss_bbox"]))
    torch.testing.assert_close(with_ignore["loss_embed"], without["loss_embed"])
    assert sum(with_ignore["loss_cls"]) < sum(without["loss_cls"])
