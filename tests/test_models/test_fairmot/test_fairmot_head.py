"""FairMOTHead: initialisation, loss bookkeeping, gradients and decoding of perfect maps."""

from __future__ import annotations

import math

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdistillmot.models.dense_heads.centernet_targets import build_centernet_targets
from mmdistillmot.models.dense_heads.fairmot_head import FairMOTHead
from mmdistillmot.models.dense_heads.fairmot_losses import (
    centernet_focal_loss,
    gathered_l1_loss,
    identity_loss,
)


def _sample(boxes: list[list[float]], ids: list[int], **meta) -> DetDataSample:
    sample = DetDataSample(metainfo=dict(img_shape=(32, 32), scale_factor=(1.0, 1.0), **meta))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes), labels=torch.zeros(len(boxes), dtype=torch.long),
        instances_ids=torch.tensor(ids),
    )  # fmt: skip
    return sample


def test_fairmot_initialisation() -> None:
    head = FairMOTHead(num_identities=5, in_channels=8, feat_channels=16)
    head.init_weights()
    assert torch.all(head.heatmap_head[-1].bias == -2.19)
    for branch in (head.wh_head, head.offset_head, head.id_head):
        assert torch.all(branch[-1].bias == 0) and torch.all(branch[0].bias == 0)
    weights = torch.cat([head.id_head[0].weight.flatten(), head.wh_head[0].weight.flatten()])
    assert float(weights.std()) == pytest.approx(0.001, rel=0.1)
    assert float(head.s_det) == pytest.approx(-1.85) and float(head.s_id) == pytest.approx(-1.05)
    names = {name for name, _ in head.named_parameters()}
    assert {"s_det", "s_id", "classifier.weight", "classifier.bias"} <= names


def test_loss_terms_sum_to_the_uncertainty_total_and_reach_all_parameters() -> None:
    torch.manual_seed(0)
    head = FairMOTHead(num_identities=5, in_channels=8, feat_channels=16, embed_dims=4)
    feats = torch.randn(2, 8, 8, 8)
    samples = [_sample([[6.0, 10.0, 22.0, 26.0]], [1]), _sample([[0.0, 0.0, 12.0, 20.0]], [3])]
    losses = head.loss(feats, samples)

    # Recompute every term from the head's raw outputs with the loss functions.
    hm, wh, reg, emb = head(feats)
    targets = build_centernet_targets(
        [s.gt_instances.bboxes for s in samples], [s.gt_instances.labels for s in samples],
        [s.gt_instances.instances_ids for s in samples], (8, 8),
    )  # fmt: skip
    hm_l = centernet_focal_loss(hm, targets.heatmap)
    wh_l = gathered_l1_loss(wh, targets.indices, targets.mask, targets.ltrb)
    reg_l = gathered_l1_loss(reg, targets.indices, targets.mask, targets.offset)
    id_l = identity_loss(
        emb, targets.indices, targets.mask, targets.identities, head.classifier, head.emb_scale
    )
    det = hm_l + 0.1 * wh_l + reg_l
    total = 0.5 * (math.exp(1.85) * float(det) + math.exp(1.05) * float(id_l) - 1.85 - 1.05)
    summed = sum(v for k, v in losses.items() if "loss" in k)
    assert float(summed) == pytest.approx(total, rel=1e-5)
    assert float(losses["hm_focal"]) == pytest.approx(float(hm_l))
    assert float(losses["id_ce"]) == pytest.approx(float(id_l))
    assert not losses["hm_focal"].requires_grad  # logged, not summed into the gradient twice

    summed.backward()
    for name in ("s_det", "s_id", "classifier.weight", "heatmap_head.0.weight", "id_head.2.bias"):
        grad = dict(head.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    # d total / d s_det = 0.5 * (1 - exp(-s_det) * det)
    assert float(head.s_det.grad) == pytest.approx(0.5 * (1 - math.exp(1.85) * float(det)), 1e-4)


def test_identity_beyond_num_identities_is_a_clear_error() -> None:
    head = FairMOTHead(num_identities=3, in_channels=8, feat_channels=8)
    with pytest.raises(ValueError, match="num_identities"):
        head.loss(torch.randn(1, 8, 8, 8), [_sample([[0.0, 0.0, 12.0, 20.0]], [3])])
    inference_only = FairMOTHead(num_identities=None, in_channels=8, feat_channels=8)
    with pytest.raises(RuntimeError, match="model.bbox_head.num_identities"):
        inference_only.loss(torch.randn(1, 8, 8, 8), [_sample([[0.0, 0.0, 12.0, 20.0]], [0])])


def test_decoding_recovers_boxes_from_perfect_maps() -> None:
    head = FairMOTHead(
        num_identities=None, in_channels=8, feat_channels=8, embed_dims=3,
        test_cfg=dict(score_thr=0.3, topk=10),
    )  # fmt: skip
    heatmap = torch.full((1, 1, 8, 16), -10.0)
    wh = torch.zeros(1, 4, 8, 16)
    offset = torch.zeros(1, 2, 8, 16)
    emb = torch.zeros(1, 3, 8, 16)
    # Object A: centre cell (x=3, y=4) + offset (0.25, 0.5), ltrb (2, 3, 1, 4) cells.
    heatmap[0, 0, 4, 3] = 3.0
    heatmap[0, 0, 4, 4] = 2.0  # a weaker neighbour: suppressed by the 3x3 peak test
    wh[0, :, 4, 3] = torch.tensor([2.0, 3.0, 1.0, 4.0])
    offset[0, :, 4, 3] = torch.tensor([0.25, 0.5])
    emb[0, :, 4, 3] = torch.tensor([0.0, 3.0, 4.0])
    # Object B: centre (x=12, y=1), no offset, ltrb (1, 1, 1, 1).
    heatmap[0, 0, 1, 12] = 1.0
    wh[0, :, 1, 12] = 1.0
    emb[0, :, 1, 12] = torch.tensor([2.0, 0.0, 0.0])
    meta = dict(scale_factor=(0.5, 0.5), letterbox_offset=(4.0, 2.0))
    result = head.predict_by_feat(heatmap, wh, offset, emb, [meta], rescale=False)[0]

    # Input pixels: stride 4 * (cx - l, cy - t, cx + r, cy + b).
    expected = torch.tensor(
        [[4 * (3.25 - 2), 4 * (4.5 - 3), 4 * (3.25 + 1), 4 * (4.5 + 4)], [44.0, 0.0, 52.0, 8.0]]
    )
    torch.testing.assert_close(result.bboxes, expected)
    torch.testing.assert_close(result.scores, torch.sigmoid(torch.tensor([3.0, 1.0])))
    torch.testing.assert_close(result.embeddings, torch.tensor([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0]]))
    assert result.labels.tolist() == [0, 0]

    # Back to the original image: minus the letterbox offset, divided by the scale factor.
    rescaled = head.predict_by_feat(heatmap, wh, offset, emb, [meta], rescale=True)[0]
    torch.testing.assert_close(
        rescaled.bboxes, (expected - torch.tensor([4.0, 2.0, 4.0, 2.0])) / 0.5
    )


def test_decoding_respects_topk() -> None:
    head = FairMOTHead(
        num_identities=None, in_channels=8, feat_channels=8, test_cfg=dict(topk=2, score_thr=0.0)
    )
    heatmap = torch.full((1, 1, 8, 8), -10.0)
    heatmap[0, 0, 1, 1], heatmap[0, 0, 5, 5], heatmap[0, 0, 1, 6] = 1.0, 2.0, 3.0
    maps = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 2, 8, 8), torch.ones(1, 128, 8, 8)]
    result = head.predict_by_feat(heatmap, *maps, [dict()], rescale=False)[0]
    assert len(result) == 2
    torch.testing.assert_close(result.scores, torch.sigmoid(torch.tensor([3.0, 2.0])))
