"""RetinaEmbedHead: TDT's embedding branch, its Eq. 1 loss and embedding decoding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torchvision.ops import box_iou

from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead


def make_head(
    embed_dim: int = 4, scales_per_octave: int = 1, ratios: tuple[float, ...] = (0.5,)
) -> RetinaEmbedHead:
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
            scales_per_octave=scales_per_octave,
            ratios=list(ratios),
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
    """An image without boxes but with an (empty) has_teacher_embed has finite losses.

    RandomCrop on crowded data can leave an image with no box; KeepTeacherEmbedsAligned
    still adds an (empty) has_teacher_embed. Indexing it with unassigned anchors raised
    IndexError (a device-side assert on CUDA).
    """
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
    first_image = (tuple(o[:1] for o in level) for level in outs)
    only_empty = head.loss_by_feat(*first_image, [empty], [meta])
    assert only_empty["loss_embed"].item() == 0.0
    assert only_empty["loss_embed"].requires_grad


def test_eval_mode_embeddings_match_train_mode_per_level() -> None:
    """Eval-mode embeddings match the train-mode ones on levels of different statistics.

    One shared BatchNorm blends the levels' running statistics (eval-mode embeddings were 94 %
    off the train-mode ones); per-level norms converge to each level's own statistics.
    """
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


# ----------------------------------------------- 9 anchors per position, two images
# 3 scales x 3 ratios (RetinaNet's anchors). Worked by hand, independent of the head's reshaping:
# the conv output [B, A * D, H, W] holds anchor a's dim d at channel a * D + d, and mmdet's
# anchors of a level are ordered position-major, flat index (h * W + w) * A + a; anchor a is
# ratio a // 3 and scale a % 3 (AnchorGenerator's scale_major), all levels in turn.
RATIOS = (0.5, 1.0, 2.0)
STRIDES = (8, 16)
NUM_ANCHORS = 9


def make_head9(embed_dim: int) -> RetinaEmbedHead:
    return make_head(embed_dim=embed_dim, scales_per_octave=3, ratios=RATIOS)


def anchor_by_hand(stride: int, h: int, w: int, a: int) -> list[float]:
    """Anchor ``a`` at row ``h``, column ``w`` of a level: xyxy around (w, h) * stride."""
    ratio, scale = RATIOS[a // 3], 4 * 2 ** ((a % 3) / 3)  # octave_base_scale 4
    width = stride * scale / math.sqrt(ratio)
    height = stride * scale * math.sqrt(ratio)
    cx, cy = w * stride, h * stride  # center_offset 0
    return [cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2]


def test_head_has_nine_anchors_per_position_in_its_channels() -> None:
    head = make_head9(embed_dim=3)
    cls_scores, bbox_preds, embed_preds = head((torch.randn(2, 8, 4, 6), torch.randn(2, 8, 2, 3)))
    assert head.num_base_priors == NUM_ANCHORS
    assert [tuple(e.shape) for e in embed_preds] == [(2, 27, 4, 6), (2, 27, 2, 3)]
    assert cls_scores[0].shape == (2, 9, 4, 6) and bbox_preds[1].shape == (2, 36, 2, 3)
    # the convention this section relies on, checked against mmdet's AnchorGenerator
    priors = head.prior_generator.grid_priors([(4, 6), (2, 3)], device="cpu")
    for level, (height, width) in enumerate([(4, 6), (2, 3)]):
        for h, w, a in [(0, 0, 0), (1, 4, 7), (3, 5, 8), (1, 2, 4)]:
            if h < height and w < width:
                index = (h * width + w) * NUM_ANCHORS + a
                expected = torch.tensor(anchor_by_hand(STRIDES[level], h, w, a))
                torch.testing.assert_close(priors[level][index], expected)


def test_embed_loss_by_hand_with_nine_anchors_and_two_images() -> None:
    """Eq. 1 with 9 anchors x 2 dims, two FPN levels, two images, by hand.

    The mean is per image over its assigned anchors (TDT Sec. 3.4), then over the images; the
    mean over all the assigned anchors of the batch (3 here) would differ.
    """
    head = make_head9(embed_dim=2)
    # every value 50 except the assigned anchors' own channels (a * D + d)
    levels = [torch.full((2, 18, 2, 2), 50.0), torch.full((2, 18, 1, 1), 50.0)]
    assigned = [torch.full((2, 2 * 2 * 9), -1), torch.full((2, 1 * 1 * 9), -1)]
    # image 0, level 0, row 0, col 1, anchor 4 -> gt 0: predicts (1, 2), target (1, 4): 4
    levels[0][0, 8, 0, 1], levels[0][0, 9, 0, 1] = 1.0, 2.0
    assigned[0][0, (0 * 2 + 1) * 9 + 4] = 0
    # image 0, level 1, row 0, col 0, anchor 8 -> gt 1: predicts (3, 0), target (0, 0): 9
    levels[1][0, 16, 0, 0], levels[1][0, 17, 0, 0] = 3.0, 0.0
    assigned[1][0, 8] = 1
    # image 1, level 0, row 1, col 1, anchor 0 -> gt 0: predicts (-1, 1), target (0, 2): 2
    levels[0][1, 0, 1, 1], levels[0][1, 1, 1, 1] = -1.0, 1.0
    assigned[0][1, (1 * 2 + 1) * 9 + 0] = 0
    # image 1, level 0, row 1, col 0, anchor 3 -> gt 1, which has no teacher embedding
    assigned[0][1, (1 * 2 + 0) * 9 + 3] = 1
    gts = [
        InstanceData(
            bboxes=torch.zeros(2, 4), teacher_embeds=torch.tensor([[1.0, 4.0, 7.0], [0, 0, 9]])
        ),
        InstanceData(
            bboxes=torch.zeros(2, 4),
            teacher_embeds=torch.tensor([[0.0, 2.0, 5.0], [100.0, 100.0, 100.0]]),
            has_teacher_embed=torch.tensor([True, False]),
        ),
    ]
    loss = head.loss_embed_by_feat(levels, assigned, gts)
    # per image first (TDT Sec. 3.4): image 0 (4 + 9) / 2 = 6.5, image 1 2 / 1 = 2, then the
    # mean over images: 10 x (6.5 + 2) / 2 = 42.5; a mean over the batch's anchors would be 50
    assert loss.item() == pytest.approx(10.0 * (6.5 + 2.0) / 2)


def test_loss_by_feat_with_nine_anchors_and_two_images_matches_plain_torch() -> None:
    """loss_embed of the whole path equals a plain-torch reference on hand-made anchors.

    The path: mmdet's anchors and MaxIoUAssigner, the head's per-anchor gt index, the
    reshaping; the reference assigns by IoU with the anchors of ``anchor_by_hand``.
    """
    torch.manual_seed(0)
    dim = 3
    head = make_head9(embed_dim=dim)
    sizes = [(8, 8), (6, 6)]
    embed_preds = [torch.randn(2, 9 * dim, h, w) for h, w in sizes]
    cls_scores = [torch.randn(2, 9, h, w) for h, w in sizes]
    bbox_preds = [torch.randn(2, 36, h, w) for h, w in sizes]
    gts = [
        InstanceData(  # one person, exactly anchor 7 at level 0, row 5, col 5
            bboxes=torch.tensor([anchor_by_hand(8, 5, 5, 7)]),
            labels=torch.tensor([0]),
            teacher_embeds=torch.randn(1, 5),
        ),
        InstanceData(  # anchor 1 at level 1, row 3, col 4; a box at level 0; one without
            bboxes=torch.tensor(
                [anchor_by_hand(16, 3, 4, 1), anchor_by_hand(8, 2, 6, 5), [4.0, 60, 40, 120]]
            ),
            labels=torch.tensor([0, 0, 0]),
            teacher_embeds=torch.randn(3, 5),
            has_teacher_embed=torch.tensor([True, True, False]),
        ),
    ]
    meta = dict(img_shape=(128, 128), pad_shape=(128, 128), batch_input_shape=(128, 128))
    losses = head.loss_by_feat(cls_scores, bbox_preds, embed_preds, gts, [meta, meta])

    # reference: every anchor by hand as (level, h, w, a), in mmdet's order
    cells = [
        (level, h, w, a)
        for level, (height, width) in enumerate(sizes)
        for h in range(height)
        for w in range(width)
        for a in range(NUM_ANCHORS)
    ]
    anchors = torch.tensor([anchor_by_hand(STRIDES[lv], h, w, a) for lv, h, w, a in cells])
    image_means, per_image = [], []
    for image, gt in enumerate(gts):
        squared = []
        iou = box_iou(gt.bboxes, anchors)  # [G, N]
        best_iou, best_gt = iou.max(dim=0)
        positive = best_iou >= 0.5  # pos_iou_thr
        for g in range(len(gt)):  # min_pos_iou 0: each gt keeps its best anchors
            best = iou[g] == iou[g].max()
            positive |= best
            best_gt[best] = g
        count = 0
        for n in positive.nonzero().flatten().tolist():
            g = int(best_gt[n])
            if "has_teacher_embed" in gt and not gt.has_teacher_embed[g]:
                continue
            level, h, w, a = cells[n]
            pred = embed_preds[level][image, a * dim : (a + 1) * dim, h, w]
            squared.append(((pred - gt.teacher_embeds[g, :dim]) ** 2).sum())
            count += 1
        per_image.append(count)
        image_means.append(torch.stack(squared).mean())
    # unequal counts: a mean over the batch's anchors would differ from the per-image mean
    assert per_image[0] >= 1 and per_image[1] > per_image[0]
    expected = 10.0 * torch.stack(image_means).mean()
    torch.testing.assert_close(losses["loss_embed"], expected)


def test_predicted_boxes_carry_their_anchor_embedding_nine_anchors_two_images() -> None:
    torch.manual_seed(0)
    dim = 3
    head = make_head9(embed_dim=dim)
    sizes = [(8, 8), (6, 6)]
    cls_scores = [torch.full((2, 9, h, w), -10.0) for h, w in sizes]
    bbox_preds = [torch.zeros(2, 36, h, w) for h, w in sizes]  # zero deltas: the anchor itself
    embed_preds = [torch.randn(2, 9 * dim, h, w) for h, w in sizes]
    # image 0: anchor 7 at level 0, row 5, col 5; image 1: anchor 1 at level 1, row 3, col 4
    cls_scores[0][0, 7, 5, 5] = 5.0
    embed_preds[0][0, 7 * dim : 8 * dim, 5, 5] = torch.tensor([3.0, 0.0, 4.0])
    cls_scores[1][1, 1, 3, 4] = 5.0
    embed_preds[1][1, 1 * dim : 2 * dim, 3, 4] = torch.tensor([0.0, -2.0, 0.0])
    meta = dict(img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1.0, 1.0))
    first, second = head.predict_by_feat(cls_scores, bbox_preds, embed_preds, [meta, meta])
    assert len(first) == 1 and len(second) == 1
    torch.testing.assert_close(first.embeddings[0], torch.tensor([0.6, 0.0, 0.8]))
    torch.testing.assert_close(second.embeddings[0], torch.tensor([0.0, -1.0, 0.0]))
    torch.testing.assert_close(first.bboxes[0], torch.tensor(anchor_by_hand(8, 5, 5, 7)))
    torch.testing.assert_close(second.bboxes[0], torch.tensor(anchor_by_hand(16, 3, 4, 1)))
    assert first.scores[0].item() == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
