"""YOLOXEmbedHead: TDT's embedder on YOLOX, its Eq. 1 loss on SimOTA's positives, decoding.

Also FrozenStatsBN (the norm for fine-tuning the BN-folded YOLOX-Nano) and the synthetic TDT
YOLOX-Nano config: its layout (mmdet's YOLOX-Nano + the embedder) and one mmengine iteration.

Prior order, used by the by-hand computations: YOLOX flattens each level row-major and the
levels by stride, so with levels of H_l x W_l the prior ``offset_l + h * W_l + w`` sits at
level l, row h, column w; its centre is ``(w * stride, h * stride)`` (mmdet's point generator,
offset 0).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.models.dense_heads import YOLOXHead
from mmdet.models.task_modules.assigners import AssignResult
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData
from torch import nn

from mmdistillmot.models.dense_heads import FrozenStatsBatchNorm2d, YOLOXEmbedHead

REPO = Path(__file__).resolve().parents[3]
SYNTHETIC_CONFIG = REPO / "configs" / "tdt" / "tdt_yolox-nano_embed_synthetic.py"
YOLOX_NANO_CONFIG = REPO / "configs" / "yolox" / "yolox_nano_416_coco-onnx.py"
STRIDES = (8, 16)


def head_kwargs() -> dict:
    return dict(
        num_classes=1,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        strides=STRIDES,
        train_cfg=ConfigDict(assigner=dict(type="SimOTAAssigner", center_radius=2.5)),
        test_cfg=ConfigDict(score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5)),
    )


def make_head(embed_dim: int = 4, **kwargs) -> YOLOXEmbedHead:
    head = YOLOXEmbedHead(embed_dim=embed_dim, embed_feat_channels=8, **head_kwargs(), **kwargs)
    head.init_weights()
    return head


def plain_yolox_like(head: YOLOXEmbedHead) -> YOLOXHead:
    """mmdet's YOLOXHead with ``head``'s weights (the embedder left out)."""
    plain = YOLOXHead(**head_kwargs())
    missing, unexpected = plain.load_state_dict(head.state_dict(), strict=False)
    assert not missing and all("embed" in key for key in unexpected)
    return plain


def prior_cell(index: int, sizes: list[tuple[int, int]]) -> tuple[int, int, int]:
    """(level, row, column) of a flattened prior index (see the module docstring)."""
    for level, (height, width) in enumerate(sizes):
        if index < height * width:
            return level, index // width, index % width
        index -= height * width
    raise IndexError(index)


def meta(size: int = 64, scale: float = 1.0) -> dict:
    return dict(
        img_shape=(size, size),
        pad_shape=(size, size),
        batch_input_shape=(size, size),
        ori_shape=(size, size),
        scale_factor=(scale, scale),
    )


# ---------------------------------------------------------------------------- forward
def test_forward_shapes_and_one_embedder_per_level() -> None:
    head = make_head(embed_dim=4)
    cls_scores, bbox_preds, objectnesses, embed_preds = head(
        (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))
    )
    assert [tuple(e.shape) for e in embed_preds] == [(2, 4, 8, 8), (2, 4, 4, 4)]
    assert [tuple(c.shape) for c in cls_scores] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    assert [tuple(b.shape) for b in bbox_preds] == [(2, 4, 8, 8), (2, 4, 4, 4)]
    assert [tuple(o.shape) for o in objectnesses] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    # YOLOX's layout: each level its own convs, norms and predictor, nothing shared
    first, second = head.multi_level_embed_convs
    assert first is not second and first[0].bn is not second[0].bn
    assert len(head.multi_level_embed_convs[0]) == head.stacked_convs == 1
    assert isinstance(first[0].bn, nn.BatchNorm2d)
    assert head.multi_level_conv_embed[1].out_channels == 4


def test_embedder_depthwise_follows_the_head_unless_set() -> None:
    from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule

    def embed_conv(**kwargs) -> nn.Module:
        return make_head(**kwargs).multi_level_embed_convs[0][0]

    assert isinstance(embed_conv(use_depthwise=True), DepthwiseSeparableConvModule)
    assert isinstance(embed_conv(), ConvModule)  # YOLOXHead's default: plain convs
    plain = embed_conv(use_depthwise=True, embed_use_depthwise=False)
    assert isinstance(plain, ConvModule) and plain.conv.kernel_size == (3, 3)
    assert plain.conv.groups == 1 and plain.conv.weight.shape == (8, 8, 3, 3)
    # the detector's own branches stay depthwise
    head = make_head(use_depthwise=True, embed_use_depthwise=False)
    assert isinstance(head.multi_level_cls_convs[0][0], DepthwiseSeparableConvModule)
    assert isinstance(embed_conv(embed_use_depthwise=True), DepthwiseSeparableConvModule)


def test_embedding_predictors_start_near_zero() -> None:
    """std 0.01, bias 0: the first loss is about 10 |t|^2, not hundreds (YOLOX's Kaiming)."""
    torch.manual_seed(0)
    head = make_head(embed_dim=16)
    for predictor in head.multi_level_conv_embed:
        assert predictor.weight.std().item() == pytest.approx(0.01, rel=0.3)
        assert predictor.bias.abs().max().item() == 0.0
    assert head.multi_level_conv_cls[0].weight.std().item() > 0.1  # YOLOX's init untouched
    outs = head((torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4)))
    assert max(e.abs().max().item() for e in outs[3]) < 0.5


def test_head_refuses_a_level_count_other_than_its_strides() -> None:
    with pytest.raises(ValueError, match="2 strides"):
        make_head()((torch.randn(1, 8, 8, 8),))


# ---------------------------------------------------------------------------- Eq. 1 by hand
def test_embed_loss_by_hand_two_images_per_image_mean() -> None:
    """Eq. 1 on hand-made assignments: per image over its priors, then over the images."""
    head = make_head(embed_dim=2)
    # levels of 2x2 and 1x1 positions: priors 0-3 (level 0), 4 (level 1); all 50 but the used
    levels = [torch.full((2, 2, 2, 2), 50.0), torch.full((2, 2, 1, 1), 50.0)]
    assigned = torch.full((2, 5), -1)
    # image 0: prior 1 (level 0, row 0, col 1) -> gt 0 predicts (1, 2), target (1, 4): 4
    levels[0][0, :, 0, 1] = torch.tensor([1.0, 2.0])
    assigned[0, 1] = 0
    # image 0: prior 4 (level 1) -> gt 1 predicts (3, 0), target (0, 0): 9
    levels[1][0, :, 0, 0] = torch.tensor([3.0, 0.0])
    assigned[0, 4] = 1
    # image 1: prior 3 (level 0, row 1, col 1) -> gt 0 predicts (-1, 1), target (0, 2): 2
    levels[0][1, :, 1, 1] = torch.tensor([-1.0, 1.0])
    assigned[1, 3] = 0
    # image 1: prior 2 -> gt 1, which has no teacher embedding (left out)
    assigned[1, 2] = 1
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
    # image 0: (4 + 9) / 2 = 6.5; image 1: 2; x10 mean over images = 42.5 (the batch mean of
    # the three priors would give 10 x 15 / 3 = 50)
    assert loss.item() == pytest.approx(10.0 * (6.5 + 2.0) / 2)


def _forced_assigner(results: list[AssignResult]):
    """An ``assign`` returning ``results`` in turn (YOLOX assigns image by image, in order)."""
    pending = iter(results)

    def assign(pred_instances, gt_instances, gt_instances_ignore=None, **kwargs):  # noqa: ANN001, ANN202
        return next(pending)

    return assign


def _assign_result(num_priors: int, num_gts: int, positives: dict[int, int]) -> AssignResult:
    gt_inds = torch.zeros(num_priors, dtype=torch.long)
    overlaps = torch.zeros(num_priors)
    labels = torch.full((num_priors,), -1, dtype=torch.long)
    for prior, gt in positives.items():
        gt_inds[prior], overlaps[prior], labels[prior] = gt + 1, 0.8, 0
    return AssignResult(num_gts, gt_inds, overlaps, labels)


def test_loss_by_feat_with_known_positives_matches_hand_and_yolox(monkeypatch) -> None:
    """Through loss_by_feat, with the assignment forced: Eq. 1 by hand, YOLOX's losses as YOLOX.

    Image 0 has three positives (two on gt 0, one on gt 1), image 1 two, one of them on a box
    without teacher embedding: unequal counts, so the per-image mean is exercised.
    """
    torch.manual_seed(0)
    dim = 2
    head = make_head(embed_dim=dim)
    plain = plain_yolox_like(head)
    sizes = [(4, 4), (2, 2)]
    num_priors = sum(h * w for h, w in sizes)  # 20
    cls_scores = [torch.randn(2, 1, h, w) for h, w in sizes]
    bbox_preds = [torch.randn(2, 4, h, w) * 0.1 for h, w in sizes]
    objectnesses = [torch.randn(2, 1, h, w) for h, w in sizes]
    embed_preds = [torch.randn(2, dim, h, w) for h, w in sizes]
    gts = [
        InstanceData(
            bboxes=torch.tensor([[4.0, 4.0, 20.0, 20.0], [8.0, 0.0, 30.0, 30.0]]),
            labels=torch.tensor([0, 0]),
            teacher_embeds=torch.tensor([[1.0, -1.0, 5.0], [0.5, 2.0, -3.0]]),
        ),
        InstanceData(
            bboxes=torch.tensor([[0.0, 0.0, 10.0, 10.0], [16.0, 16.0, 32.0, 32.0]]),
            labels=torch.tensor([0, 0]),
            teacher_embeds=torch.tensor([[2.0, 0.0, 1.0], [9.0, 9.0, 9.0]]),
            has_teacher_embed=torch.tensor([True, False]),
        ),
    ]
    positives = [{5: 0, 6: 0, 17: 1}, {0: 0, 19: 1}]
    results = [_assign_result(num_priors, 2, p) for p in positives]
    monkeypatch.setattr(head.assigner, "assign", _forced_assigner(results))
    losses = head.loss_by_feat(
        cls_scores, bbox_preds, objectnesses, embed_preds, gts, [meta(32), meta(32)]
    )
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_obj", "loss_embed"}
    assert [a[a >= 0].tolist() for a in head.last_assigned_gt_inds] == [[0, 0, 1], [0, 1]]

    # by hand: sum of squared differences per prior, mean per image, mean over images, x10
    image_means = []
    for image, assignment in enumerate(positives):
        squared = []
        for prior, gt in assignment.items():
            if "has_teacher_embed" in gts[image] and not gts[image].has_teacher_embed[gt]:
                continue
            level, row, col = prior_cell(prior, sizes)
            pred = embed_preds[level][image, :, row, col]
            target = gts[image].teacher_embeds[gt, :dim]
            squared.append(sum((pred[d] - target[d]) ** 2 for d in range(dim)))
        image_means.append(sum(squared) / len(squared))
    expected = 10.0 * (image_means[0] + image_means[1]) / 2
    torch.testing.assert_close(losses["loss_embed"], expected)
    # the batch mean over the four counted priors would differ
    batch_mean = 10.0 * (3 * image_means[0] + image_means[1]) / 4
    assert not torch.isclose(batch_mean, expected)

    # YOLOX's own losses are those of mmdet's YOLOXHead under the same assignment
    results = [_assign_result(num_priors, 2, p) for p in positives]
    monkeypatch.setattr(plain.assigner, "assign", _forced_assigner(results))
    reference = plain.loss_by_feat(cls_scores, bbox_preds, objectnesses, gts, [meta(32)] * 2)
    for key in ("loss_cls", "loss_bbox", "loss_obj"):
        torch.testing.assert_close(losses[key], reference[key])


def test_simota_positives_are_yoloxs_and_train_the_embedder() -> None:
    """With the real SimOTA: the recorded positives are the ones mmdet's YOLOXHead trains.

    The plain head's own PseudoSampler is wrapped to see YOLOX's sampling results; loss_embed is
    then recomputed in plain torch from those indices.
    """
    torch.manual_seed(1)
    dim = 3
    head = make_head(embed_dim=dim)
    plain = plain_yolox_like(head)
    feats = (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))
    sizes = [(8, 8), (4, 4)]
    cls_scores, bbox_preds, objectnesses, embed_preds = head(feats)
    gts = [
        InstanceData(
            bboxes=torch.tensor([[20.0, 10.0, 36.0, 42.0]]),
            labels=torch.tensor([0]),
            teacher_embeds=torch.randn(1, 5),
        ),
        InstanceData(
            bboxes=torch.tensor(
                [[2.0, 2.0, 30.0, 60.0], [34.0, 4.0, 62.0, 40.0], [40.0, 44.0, 60.0, 62.0]]
            ),
            labels=torch.tensor([0, 0, 0]),
            teacher_embeds=torch.randn(3, 5),
            has_teacher_embed=torch.tensor([True, True, False]),
        ),
    ]
    metas = [meta(64), meta(64)]
    losses = head.loss_by_feat(cls_scores, bbox_preds, objectnesses, embed_preds, gts, metas)

    seen = []
    original = plain.sampler.sample

    def recording_sample(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(original(*args, **kwargs))
        return seen[-1]

    plain.sampler.sample = recording_sample
    reference = plain.loss_by_feat(cls_scores, bbox_preds, objectnesses, gts, metas)
    for key in ("loss_cls", "loss_bbox", "loss_obj"):
        torch.testing.assert_close(losses[key], reference[key])
    assert len(seen) == 2
    for recorded, result in zip(head.last_assigned_gt_inds, seen, strict=True):
        assert recorded.ge(0).nonzero().flatten().tolist() == result.pos_inds.tolist()
        assert recorded[result.pos_inds].tolist() == result.pos_assigned_gt_inds.tolist()

    image_means, counts = [], []
    for image, result in enumerate(seen):
        squared = []
        for prior, gt in zip(result.pos_inds.tolist(), result.pos_assigned_gt_inds.tolist()):
            if "has_teacher_embed" in gts[image] and not gts[image].has_teacher_embed[gt]:
                continue
            level, row, col = prior_cell(prior, sizes)
            diff = embed_preds[level][image, :, row, col] - gts[image].teacher_embeds[gt, :dim]
            squared.append((diff * diff).sum())
        counts.append(len(squared))
        image_means.append(torch.stack(squared).mean())
    assert counts[0] >= 1 and counts[1] > counts[0]  # unequal: the per-image mean matters
    torch.testing.assert_close(losses["loss_embed"], 10.0 * torch.stack(image_means).mean())

    losses["loss_embed"].backward()
    # the levels holding positives train their embedder (SimOTA may pick one level only)
    trained = [conv.weight.grad.abs().sum().item() > 0 for conv in head.multi_level_conv_embed]
    levels = {prior_cell(p, sizes)[0] for r in seen for p in r.pos_inds.tolist()}
    assert trained == [level in levels for level in range(2)] and levels
    assert head.multi_level_conv_cls[0].weight.grad is None  # only the embedder is trained


def test_image_without_boxes_gives_finite_losses() -> None:
    """YOLOX returns early for an image without boxes; its embedding flags are empty too."""
    torch.manual_seed(0)
    head = make_head(embed_dim=4)
    feats = (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))
    empty = InstanceData(
        bboxes=torch.zeros(0, 4),
        labels=torch.zeros(0, dtype=torch.long),
        teacher_embeds=torch.zeros(0, 5),
        has_teacher_embed=torch.zeros(0, dtype=torch.bool),
    )
    one_box = InstanceData(
        bboxes=torch.tensor([[20.0, 10.0, 36.0, 42.0]]),
        labels=torch.tensor([0]),
        teacher_embeds=torch.tensor([[1.0, -1.0, 0.5, 0.0, 3.0]]),
        has_teacher_embed=torch.tensor([True]),
    )
    outs = head(feats)
    losses = head.loss_by_feat(*outs, [empty, one_box], [meta(), meta()])
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert head.last_assigned_gt_inds[0].max().item() == -1
    # the embedding loss is the second image's alone
    second = head.loss_by_feat(
        *(tuple(o[1:] for o in level) for level in outs), [one_box], [meta()]
    )
    torch.testing.assert_close(losses["loss_embed"], second["loss_embed"])
    # only empty images: zero losses that still reach the branches (DDP sees them used)
    only_empty = head.loss_by_feat(
        *(tuple(o[:1] for o in level) for level in outs), [empty], [meta()]
    )
    assert only_empty["loss_embed"].item() == 0.0 and only_empty["loss_embed"].requires_grad
    assert all(math.isfinite(v.item()) for v in only_empty.values())
    # a box without embedding only: no embedding target either
    flagged = InstanceData(**{k: v for k, v in one_box.items()})
    flagged.has_teacher_embed = torch.tensor([False])
    no_target = head.loss_by_feat(
        *(tuple(o[1:] for o in level) for level in outs), [flagged], [meta()]
    )
    assert no_target["loss_embed"].item() == 0.0 and no_target["loss_embed"].requires_grad


def test_missing_teacher_embeds_is_a_clear_error() -> None:
    head = make_head()
    gt = InstanceData(bboxes=torch.tensor([[20.0, 10.0, 36.0, 42.0]]), labels=torch.tensor([0]))
    outs = head((torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)))
    with pytest.raises(KeyError, match="LoadTeacherEmbeddings"):
        head.loss_by_feat(*outs, [gt], [meta()])
    gt.teacher_embeds = torch.zeros(1, 3)  # fewer dims than embed_dim = 4
    with pytest.raises(ValueError, match="embed_dim=4"):
        head.loss_by_feat(*outs, [gt], [meta()])


# ---------------------------------------------------------------------------- inference
def _quiet_maps(batch: int = 1):
    sizes = [(8, 8), (4, 4)]
    cls_scores = [torch.full((batch, 1, h, w), -10.0) for h, w in sizes]
    objectnesses = [torch.full((batch, 1, h, w), -10.0) for h, w in sizes]
    bbox_preds = [torch.zeros(batch, 4, h, w) for h, w in sizes]  # a box of stride x stride
    embed_preds = [torch.randn(batch, 3, h, w) for h, w in sizes]
    return cls_scores, bbox_preds, objectnesses, embed_preds


def _light(maps, level: int, row: int, col: int, logit: float, embed: list[float]) -> None:
    cls_scores, _, objectnesses, embed_preds = maps
    cls_scores[level][0, 0, row, col] = logit
    objectnesses[level][0, 0, row, col] = logit
    embed_preds[level][0, :, row, col] = torch.tensor(embed)


def test_predicted_boxes_carry_their_prior_embedding_through_nms() -> None:
    torch.manual_seed(0)
    head = make_head(embed_dim=3)
    head.eval()
    maps = _quiet_maps()
    # A: level 1 (stride 16), row 2, col 1: centre (16, 32), 16 x 16 box, score sigmoid(5)^2
    _light(maps, 1, 2, 1, 5.0, [3.0, 0.0, 4.0])
    # B: level 0 (stride 8), row 4, col 2: the same centre; log(2) sizes make it the same
    # 16 x 16 box (IoU 1 with A), lower score: suppressed by NMS with its embedding
    _light(maps, 0, 4, 2, 3.0, [0.0, 1.0, 0.0])
    maps[1][0][0, 2:, 4, 2] = math.log(2.0)
    # C: level 0, row 0, col 6: centre (48, 0), apart from A, score sigmoid(4)^2
    _light(maps, 0, 0, 6, 4.0, [0.0, -2.0, 0.0])
    (result,) = head.predict_by_feat(*maps, batch_img_metas=[meta()])
    assert len(result) == 2
    torch.testing.assert_close(result.bboxes[0], torch.tensor([8.0, 24.0, 24.0, 40.0]))
    torch.testing.assert_close(result.embeddings[0], torch.tensor([0.6, 0.0, 0.8]))
    torch.testing.assert_close(result.bboxes[1], torch.tensor([44.0, -4.0, 52.0, 4.0]))
    torch.testing.assert_close(result.embeddings[1], torch.tensor([0.0, -1.0, 0.0]))
    sigmoid = torch.sigmoid(torch.tensor([5.0, 4.0]))
    torch.testing.assert_close(result.scores, sigmoid * sigmoid)
    assert F.normalize(result.embeddings, dim=1).allclose(result.embeddings)

    # max_per_img keeps the best box; rescale moves boxes, not embeddings
    cfg = ConfigDict(head.test_cfg, max_per_img=1)
    (capped,) = head.predict_by_feat(
        *maps, batch_img_metas=[meta(scale=2.0)], cfg=cfg, rescale=True
    )
    assert len(capped) == 1
    torch.testing.assert_close(capped.bboxes[0], torch.tensor([4.0, 12.0, 12.0, 20.0]))
    torch.testing.assert_close(capped.embeddings[0], torch.tensor([0.6, 0.0, 0.8]))
    # below the score threshold nothing is kept, with an embedding field of the right width
    (nothing,) = head.predict_by_feat(*_quiet_maps(), batch_img_metas=[meta()])
    assert len(nothing) == 0 and tuple(nothing.embeddings.shape) == (0, 3)


# ---------------------------------------------------------------------------- norms
def test_eval_mode_embeddings_match_train_mode_per_level() -> None:
    """Per-level BNs converge to each level's statistics (levels of different statistics)."""
    torch.manual_seed(0)
    head = make_head(embed_dim=4)

    def level_inputs() -> tuple[torch.Tensor, torch.Tensor]:
        # stride-8-like: small values around 0; stride-16-like: 5x larger around 3
        return torch.randn(8, 8, 24, 24), 3.0 + 5.0 * torch.randn(8, 8, 16, 16)

    head.train()
    with torch.no_grad():
        for _ in range(200):  # YOLOX's BN momentum 0.03: 0.97^200 of the initial stats left
            head(level_inputs())
        feats = level_inputs()
        train_embeds = head(feats)[3]
        head.eval()
        eval_embeds = head(feats)[3]
    for level, (train_out, eval_out) in enumerate(zip(train_embeds, eval_embeds, strict=True)):
        relative = ((eval_out - train_out).norm() / train_out.norm()).item()
        assert relative < 0.05, f"level {level}: eval differs from train by {relative:.1%}"


def test_frozen_stats_bn_is_eval_mode_bn_in_train_mode_with_trainable_affine() -> None:
    torch.manual_seed(0)
    name, norm = build_norm_layer(dict(type="FrozenStatsBN", eps=1e-3), 4)
    assert name == "bn" and isinstance(norm, FrozenStatsBatchNorm2d)
    # loads a BatchNorm2d state dict strictly (the converted checkpoint's BNs)
    source = nn.BatchNorm2d(4, eps=1e-3)
    source.running_mean.normal_()
    source.running_var.uniform_(0.5, 2.0)
    source.weight.data.normal_()
    source.bias.data.normal_()
    norm.load_state_dict(source.state_dict(), strict=True)
    source.eval()
    norm.train()
    x = torch.randn(3, 4, 5, 5)
    stats = norm.running_mean.clone(), norm.running_var.clone()
    out = norm(x)
    torch.testing.assert_close(out, source(x))
    torch.testing.assert_close((norm.running_mean, norm.running_var), stats)  # not updated
    out.sum().backward()
    assert norm.weight.grad is not None and norm.bias.grad is not None
    assert norm.weight.requires_grad and norm.bias.requires_grad


# ---------------------------------------------------------------------------- the config
@pytest.fixture(scope="module")
def synthetic_cfg() -> Config:
    return Config.fromfile(str(SYNTHETIC_CONFIG))


def test_synthetic_config_is_yolox_nano_with_frozen_stats_and_an_embedder(
    synthetic_cfg: Config,
) -> None:
    """The detector is mmdet's YOLOX-Nano (the converted checkpoint fits) + the embedder.

    Converted parts normalise with FrozenStatsBN (train mode = eval mode), the new embedder
    with plain, learning BN.
    """
    from mmdet.registry import MODELS

    model = MODELS.build(synthetic_cfg.model)
    reference = MODELS.build(Config.fromfile(str(YOLOX_NANO_CONFIG)).model)
    ours, theirs = model.detector.state_dict(), reference.state_dict()
    assert set(theirs) <= set(ours)
    assert all("embed" in key for key in set(ours) - set(theirs))
    for key, value in theirs.items():
        expected = value.shape
        if "multi_level_conv_cls" in key:  # 80 COCO classes -> 1 (the person row)
            expected = torch.Size([1, *value.shape[1:]])
        assert ours[key].shape == expected, key
    head = model.detector.bbox_head
    assert isinstance(head, YOLOXEmbedHead) and head.num_classes == 1
    assert synthetic_cfg.model.detector.init_cfg.checkpoint.endswith("yolox_nano_person_onnx.pth")
    for name, module in model.detector.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            frozen = isinstance(module, FrozenStatsBatchNorm2d)
            assert frozen == ("embed" not in name), name


def test_synthetic_config_trains_one_iteration(
    synthetic_cfg: Config, tiny_synthetic_mot: Path, tmp_path: Path
) -> None:
    """One mmengine iteration on tiny synthetic data: finite losses, loss_embed > 0.

    The store comes from a random-init OSNet x0.25 (no weight files in tests); the detector from
    random init (no checkpoint in tests), still with FrozenStatsBN: its statistics stay put
    while the embedder's BN learns.
    """
    from mmengine.runner import Runner

    from mmdistillmot.apis.teacher_extraction import extract
    from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher

    sys.path.insert(0, str(REPO / "tests" / "test_configs"))
    try:
        from tiny_config import shrink_config
    finally:
        sys.path.remove(str(REPO / "tests" / "test_configs"))

    root = tiny_synthetic_mot
    train_ann = root / "annotations" / "train_cocoformat.json"
    store = tmp_path / "store"
    torch.manual_seed(0)
    teacher = OSNetTeacher(
        arch="osnet_x0_25", allow_random_init=True, crop_size=(32, 16), precision="fp32"
    )
    extract(teacher, str(train_ann), str(root), str(store), batch_size=16)
    cfg = shrink_config(
        synthetic_cfg,
        work_dir=str(tmp_path / "work"),
        train_dataset=dict(
            data_root=str(root) + "/",
            ann_file="annotations/train_cocoformat.json",
            data_prefix=dict(img=""),
        ),
        img_scale=(160, 96),
        batch_size=2,
        num_train_images=2,
        transform_overrides={
            "LoadTeacherEmbeddings": dict(
                store_dir=str(store), ann_file=str(train_ann), allow_random_init_teacher=True
            )
        },
    )
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    assert cfg.model.detector.init_cfg is None  # dropped: no checkpoint file in tests
    runner = Runner.from_cfg(cfg)
    detector = runner.model.detector
    frozen = {
        name: module.running_mean.clone()
        for name, module in detector.named_modules()
        if isinstance(module, FrozenStatsBatchNorm2d)
    }
    embed_bn = next(
        m
        for m in detector.bbox_head.multi_level_embed_convs[0].modules()
        if isinstance(m, nn.BatchNorm2d)
    )
    embed_stats = embed_bn.running_mean.clone()
    runner.train()
    hub = runner.message_hub
    for key in ("loss", "loss_cls", "loss_bbox", "loss_obj", "loss_embed"):
        assert math.isfinite(hub.get_scalar(f"train/{key}").current()), key
    assert hub.get_scalar("train/loss_embed").current() > 0
    modules = dict(detector.named_modules())
    assert all(torch.equal(modules[name].running_mean, stats) for name, stats in frozen.items())
    assert not torch.equal(embed_bn.running_mean, embed_stats)
