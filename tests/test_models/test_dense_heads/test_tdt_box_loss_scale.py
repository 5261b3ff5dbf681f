"""TDT's box loss has the paper's scale: Huber(delta=0.1) x 50 as the TF Object Detection API.

The TF API sums the Huber loss over the 4 box coordinates and the positive anchors and divides
by 4 x num_pos; mmdet's ``SmoothL1Loss(beta)`` is ``Huber(delta=beta) / beta`` divided by
num_pos (RetinaHead's ``avg_factor`` with the PseudoSampler). The hand-worked reference below is
plain torch, independent of mmdet's loss code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import mmdistillmot  # noqa: F401  (registers RetinaEmbedHead)

REPO = Path(__file__).resolve().parents[3]
BASE_MODEL = REPO / "configs" / "_base_" / "models" / "tdt_retinanet_r34_fpn_embed.py"
#: The RetinaNet TDT configs (the YOLOX ones keep YOLOX's own losses and SimOTA assigner).
TDT_CONFIGS = sorted(p for p in (REPO / "configs" / "tdt").glob("*.py") if "yolox" not in p.name)
PAPER_LOSS_BBOX = dict(type="SmoothL1Loss", beta=0.1, loss_weight=1.25)


def build_head(**train_cfg_overrides: object) -> torch.nn.Module:
    """The head of the TDT base model config, with tiny channel counts."""
    detector = Config.fromfile(str(BASE_MODEL)).model.detector
    head_cfg = detector.bbox_head.copy()
    head_cfg.update(in_channels=8, feat_channels=8, stacked_convs=1, embed_dim=4)
    head_cfg.update(embed_feat_channels=8)
    train_cfg = detector.train_cfg.copy()
    train_cfg.assigner.update(train_cfg_overrides)
    head_cfg.update(train_cfg=train_cfg, test_cfg=detector.test_cfg)
    with DefaultScope.overwrite_default_scope("mmdet"):
        return MODELS.build(head_cfg)


def paper_box_loss(residuals: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """50 x Huber(delta=0.1) summed over coordinates and positive anchors / (4 x num_pos).

    Args:
        residuals: [N, 4] prediction - target.
        positive: [N] bool.

    Returns:
        scalar
    """
    delta = 0.1
    r = residuals[positive].abs()
    huber = torch.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))
    return 50.0 * huber.sum() / (4 * positive.sum())


def test_box_loss_of_the_base_config_is_the_papers_weighting() -> None:
    head = build_head()
    anchors_per_position = head.num_base_priors  # 3 scales x 3 ratios
    width = 2  # one level of 1 x 2 positions: 18 anchors
    num = anchors_per_position * width
    # residuals on both sides of delta = 0.1, and large ones on negative anchors that must not
    # count
    residuals = torch.tensor(
        [[0.05, -0.3, 0.2, 0.0], [0.5, 0.01, -0.08, 1.2], [-0.1, 0.1, 0.15, -0.02]]
        + [[0.7, -0.6, 0.9, 2.0]] * (num - 3)
    )
    positive = torch.zeros(num, dtype=torch.bool)
    positive[[0, 1, 2]] = True
    positive[[10]] = True  # one more positive, with the large residuals
    targets = torch.linspace(-1.0, 1.0, num * 4).reshape(num, 4)
    preds_flat = targets + residuals
    # mmdet's layout: [B, A * 4, H, W], flattened by permute(0, 2, 3, 1) to [H * W * A, 4]
    bbox_pred = preds_flat.reshape(1, 1, width, anchors_per_position * 4).permute(0, 3, 1, 2)
    cls_score = torch.zeros(1, anchors_per_position * head.cls_out_channels, 1, width)
    labels = torch.where(positive, 0, head.num_classes)[None]
    bbox_weights = positive[:, None].float().expand(num, 4)[None]
    num_pos = int(positive.sum())
    _, loss_bbox = head.loss_by_feat_single(
        cls_score,
        bbox_pred,
        torch.zeros(1, num, 4),
        labels,
        torch.ones(1, num),
        targets[None],
        bbox_weights,
        avg_factor=num_pos,
    )
    expected = paper_box_loss(residuals, positive)
    # by hand: |r| <= 0.1: 0.5 * (0.05^2 + 0.01^2 + 0.08^2 + 0.1^2 + 0.1^2 + 0.02^2) = 0.0147;
    # above: 0.1 * (0.3 + 0.2 + 0.5 + 1.2 + 0.15 - 5 * 0.05) = 0.21 and
    # 0.1 * (0.7 + 0.6 + 0.9 + 2.0 - 4 * 0.05) = 0.4; sum 0.6247, x 50 / (4 x 4 positives)
    assert expected.item() == pytest.approx(50 * 0.6247 / 16)
    torch.testing.assert_close(loss_bbox, expected)


def test_box_loss_through_loss_by_feat_averages_over_positive_anchors() -> None:
    """The whole RetinaEmbedHead loss path: avg_factor is the number of positive anchors."""
    torch.manual_seed(0)
    head = build_head().eval()  # BatchNorm statistics of a 1 x 1 level need eval mode
    feats = tuple(torch.randn(1, 8, s, s) for s in (8, 4, 2, 1, 1))
    gt = InstanceData(
        bboxes=torch.tensor([[4.0, 6.0, 22.0, 58.0], [30.0, 2.0, 50.0, 44.0]]),
        labels=torch.tensor([0, 0]),
        teacher_embeds=torch.randn(2, 4),
    )
    meta = dict(img_shape=(64, 64), pad_shape=(64, 64), batch_input_shape=(64, 64))
    cls_scores, bbox_preds, embed_preds = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, embed_preds, [gt], [meta])
    anchors, valid = head.get_anchors([f.shape[-2:] for f in cls_scores], [meta], device="cpu")
    labels, _, targets, weights, avg_factor, *_ = head.get_targets(anchors, valid, [gt], [meta])
    positive = torch.cat([lvl.reshape(-1) for lvl in labels]) == 0
    assert positive.sum() >= 2 and avg_factor == int(positive.sum())
    preds = torch.cat([p.permute(0, 2, 3, 1).reshape(-1, 4) for p in bbox_preds])
    residuals = preds - torch.cat([t.reshape(-1, 4) for t in targets])
    assert torch.all(torch.cat([w.reshape(-1, 4) for w in weights])[positive] == 1)
    torch.testing.assert_close(
        sum(losses["loss_bbox"]), paper_box_loss(residuals.detach(), positive)
    )


@pytest.mark.parametrize("config", TDT_CONFIGS, ids=lambda p: p.stem)
def test_every_tdt_config_uses_the_papers_box_loss(config: Path) -> None:
    detector = Config.fromfile(str(config)).model.detector
    assert detector.bbox_head.loss_bbox.to_dict() == PAPER_LOSS_BBOX
    # and inherits the ignore threshold (CrowdHuman's ignore regions)
    assert detector.train_cfg.assigner.ignore_iof_thr == 0.5


def test_the_tdt_configs_are_all_there() -> None:
    # the parametrised test above must not pass vacuously
    assert len(TDT_CONFIGS) >= 15
    assert {"retinanet_r34_embed", "two_stage_r34_fpn_osnet", "tdt_r18_fpn_embed_synthetic"} <= {
        p.stem for p in TDT_CONFIGS
    }
