"""RetinaEmbedHead: TDT's embedding branch, its Eq. 1 loss and embedding decoding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead


def make_head(embed_dim: int = 4) -> RetinaEmbedHead:
    return RetinaEmbedHead(
        num_classes=1,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        embed_dim=embed_dim,
        embed_feat_channels=8,
        anchor_generator=dict(
            type="AnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=1,
            ratios=[0.5],
            strides=[8, 16],
        ),
        bbox_coder=dict(
            type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4
        ),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=1.5, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="SmoothL1Loss", beta=0.1, loss_weight=5.0),
        train_cfg=ConfigDict(
            assigner=dict(
                type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                ignore_iof_thr=-1,
            ),
            sampler=dict(type="PseudoSampler"),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        ),
        test_cfg=ConfigDict(
            nms_pre=100, min_bbox_size=0, score_thr=0.05,
            nms=dict(type="nms", iou_threshold=0.5), max_per_img=100,
        ),
    )  # fmt: skip


def test_forward_shapes() -> None:
    head = make_head(embed_dim=4)
    feats = (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))
    cls_scores, bbox_preds, embed_preds = head(feats)
    # one anchor per position (1 scale x 1 ratio), 4-dim embedding
    assert [e.shape for e in embed_preds] == [(2, 4, 8, 8), (2, 4, 4, 4)]
    assert cls_scores[0].shape == (2, 1, 8, 8) and bbox_preds[1].shape == (2, 4, 4, 4)


def test_embed_loss_matches_equation_1_by_hand() -> None:
    head = make_head(embed_dim=2)
    # one image, one level of 2x1 positions with one anchor each: anchors 0 and 1
    embed_pred = torch.tensor([[[[1.0], [3.0]], [[2.0], [0.0]]]])  # [B=1, D=2, H=2, W=1]
    # anchor 0 -> gt 1, anchor 1 -> unassigned
    assigned = [torch.tensor([[1, -1]])]
    gt = InstanceData(
        bboxes=torch.zeros(2, 4),
        teacher_embeds=torch.tensor([[9.0, 9.0, 9.0], [0.5, 4.0, 7.0]]),  # D_t = 3 >= D_s = 2
    )
    loss = head.loss_embed_by_feat([embed_pred], assigned, [gt])
    # anchor 0 predicts (1, 2); target = first 2 dims of gt 1 = (0.5, 4): (0.5)^2 + (-2)^2
    assert loss.item() == pytest.approx(10.0 * (0.25 + 4.0))


def test_embed_loss_skips_boxes_without_teacher_embedding() -> None:
    head = make_head(embed_dim=2)
    embed_pred = torch.tensor([[[[1.0], [3.0]], [[2.0], [0.0]]]])
    assigned = [torch.tensor([[0, 1]])]
    gt = InstanceData(
        bboxes=torch.zeros(2, 4),
        teacher_embeds=torch.tensor([[1.0, 2.0], [100.0, 100.0]]),
        has_teacher_embed=torch.tensor([True, False]),
    )
    # only anchor 0 counts, and it is exact
    assert head.loss_embed_by_feat([embed_pred], assigned, [gt]).item() == 0.0


def test_loss_by_feat_trains_the_embedding_branch() -> None:
    torch.manual_seed(0)
    head = make_head(embed_dim=4)
    feats = (torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4))
    gt = InstanceData(
        bboxes=torch.tensor([[20.0, 10.0, 36.0, 42.0]]),
        labels=torch.tensor([0]),
        teacher_embeds=torch.tensor([[1.0, -1.0, 0.5, 0.0, 3.0]]),
    )
    meta = dict(img_shape=(64, 64), pad_shape=(64, 64), batch_input_shape=(64, 64))
    outs = head(feats)
    losses = head.loss_by_feat(*outs, [gt], [meta])
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_embed"}
    assert losses["loss_embed"].item() > 0
    losses["loss_embed"].backward()
    assert head.retina_embed.weight.grad is not None
    assert head.retina_embed.weight.grad.abs().sum() > 0
    # the classifier gets no gradient from the embedding loss
    assert head.retina_cls.weight.grad is None


def test_missing_teacher_embeds_is_a_clear_error() -> None:
    head = make_head()
    feats = (torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4))
    gt = InstanceData(bboxes=torch.tensor([[20.0, 10.0, 36.0, 42.0]]), labels=torch.tensor([0]))
    meta = dict(img_shape=(64, 64), pad_shape=(64, 64), batch_input_shape=(64, 64))
    with pytest.raises(KeyError, match="LoadTeacherEmbeddings"):
        head.loss_by_feat(*head(feats), [gt], [meta])


def test_predicted_box_carries_its_anchor_embedding_normalised() -> None:
    head = make_head(embed_dim=3)
    cls_scores = [torch.full((1, 1, 8, 8), -10.0), torch.full((1, 1, 4, 4), -10.0)]
    cls_scores[0][0, 0, 2, 5] = 5.0  # one confident anchor at level 0, row 2, col 5
    bbox_preds = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4)]
    embed_preds = [torch.randn(1, 3, 8, 8), torch.randn(1, 3, 4, 4)]
    embed_preds[0][0, :, 2, 5] = torch.tensor([3.0, 0.0, 4.0])
    meta = dict(img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1.0, 1.0))
    (result,) = head.predict_by_feat(cls_scores, bbox_preds, embed_preds, [meta])
    assert len(result) == 1
    torch.testing.assert_close(result.embeddings[0], torch.tensor([0.6, 0.0, 0.8]))
    # zero deltas decode to the anchor itself; mmdet's anchors (center_offset=0) sit at
    # (col * stride, row * stride) = (5 * 8, 2 * 8)
    cx = (result.bboxes[0, 0] + result.bboxes[0, 2]) / 2
    cy = (result.bboxes[0, 1] + result.bboxes[0, 3]) / 2
    assert (cx.item(), cy.item()) == pytest.approx((40.0, 16.0))
    assert F.normalize(result.embeddings, dim=1).allclose(result.embeddings)


def test_image_without_boxes_but_with_embedding_flags_has_finite_losses() -> None:
    """RandomCrop on crowded data can leave an image with no box; KeepTeacherEmbedsAligned
    still adds an (empty) has_teacher_embed. Indexing it with unassigned anchors raised
    IndexError (a device-side assert on CUDA)."""
    torch.manual_seed(0)
    head = make_head(embed_dim=4)
    feats = (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))
    empty = InstanceData(
        bboxes=torch.zeros(0, 4),
        labels=torch.zeros(0, dtype=torch.long),
        teacher_embeds=torch.zeros(0, 5),
        has_teacher_embed=torch.zeros(0, dtype=torch.bool),
    )
    target = torch.tensor([[1.0, -1.0, 0.5, 0.0, 3.0]])
    one_box = InstanceData(
        bboxes=torch.tensor([[20.0, 10.0, 36.0, 42.0]]),
        labels=torch.tensor([0]),
        teacher_embeds=target,
        has_teacher_embed=torch.tensor([True]),
    )
    meta = dict(img_shape=(64, 64), pad_shape=(64, 64), batch_input_shape=(64, 64))
    outs = head(feats)
    losses = head.loss_by_feat(*outs, [empty, one_box], [meta, meta])
    assert all(torch.isfinite(torch.stack(losses["loss_cls"])).tolist())
    # the embedding loss comes from the second image's assigned anchors alone
    alone = head.loss_by_feat(*(tuple(o[1:] for o in level) for level in outs), [one_box], [meta])
    torch.testing.assert_close(losses["loss_embed"], alone["loss_embed"])
    # only empty images: a zero loss that still reaches the embedder (DDP sees it used)
    only_empty = head.loss_by_feat(*(tuple(o[:1] for o in level) for level in outs), [empty], [meta])
    assert only_empty["loss_embed"].item() == 0.0
    assert only_empty["loss_embed"].requires_grad


def test_eval_mode_embeddings_match_train_mode_per_level() -> None:
    """Levels with different feature statistics: one shared BatchNorm blends their running
    statistics (eval-mode embeddings were 94 % off the train-mode ones); per-level norms
    converge to each level's own statistics."""
    torch.manual_seed(0)
    head = make_head(embed_dim=4)

    def level_inputs() -> tuple[torch.Tensor, torch.Tensor]:
        # P3-like: small values around 0; P4-like: 5x larger around 3
        return torch.randn(8, 8, 32, 32), 3.0 + 5.0 * torch.randn(8, 8, 16, 16)

    head.train()
    with torch.no_grad():
        for _ in range(60):
            head(level_inputs())
        feats = level_inputs()
        train_embeds = head(feats)[2]
        head.eval()
        eval_embeds = head(feats)[2]
    for level, (train_out, eval_out) in enumerate(zip(train_embeds, eval_embeds, strict=True)):
        relative = ((eval_out - train_out).norm() / train_out.norm()).item()
        assert relative < 0.05, f"level {level}: eval differs from train by {relative:.1%}"


def test_head_refuses_a_level_count_other_than_its_strides() -> None:
    head = make_head()
    with pytest.raises(ValueError, match="2 anchor strides"):
        head((torch.randn(1, 8, 8, 8),))
