"""ClipMatcher: carried tracks keep their object by id; only new queries are Hungarian-matched."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdistillmot.models.mot.motrv2.clip_matcher import ClipMatcher
from mmdistillmot.models.mot.motrv2.track_queries import make_track_queries


@pytest.fixture()
def matcher() -> ClipMatcher:
    init_default_scope("mmdet")
    return ClipMatcher(num_classes=1)


def _records(obj_ids: list[int]):
    records = make_track_queries(torch.zeros(len(obj_ids), 8), torch.rand(len(obj_ids), 4))
    records.obj_ids = torch.tensor(obj_ids)
    return records


def _xyxy(box):
    cx, cy, w, h = box
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _giou(a, b):
    """GIoU of two (cx, cy, w, h) boxes, by hand."""
    ax1, ay1, ax2, ay2 = _xyxy(a)
    bx1, by1, bx2, by2 = _xyxy(b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = a[2] * a[3] + b[2] * b[3] - inter
    hull = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
    return inter / union - (hull - union) / hull


G0, G1, G2 = (0.2, 0.3, 0.1, 0.2), (0.6, 0.5, 0.1, 0.2), (0.8, 0.7, 0.1, 0.2)
OFF_G0 = (0.25, 0.35, 0.1, 0.2)


def test_carried_track_keeps_its_object_and_new_queries_match_the_rest(matcher):
    gt_boxes = torch.tensor([G0, G1, G2])
    gt_ids = torch.tensor([7, 3, 5])
    # q0..q2 are new; q3 carries object 7. q2 predicts object 7's box *exactly*, q3 is off.
    tracks = _records([-1, -1, -1, 7])
    boxes = torch.tensor([[G2, G1, G0, OFF_G0]])  # [L=1, N=4, 4]
    logits = torch.zeros(1, 4, 1)  # p = 0.5 everywhere
    losses, out = matcher(
        tracks, logits, boxes, gt_boxes, torch.zeros(3, dtype=torch.long), gt_ids, 4.0
    )
    assert out.obj_ids.tolist() == [5, 3, -1, 7]
    assert out.matched_gt.tolist() == [2, 1, -1, 0]
    # Hand values (normaliser 4 GT boxes in the clip): focal at p = 0.5 is
    # 0.25*0.25*ln2 for a positive and 0.75*0.25*ln2 for a negative; weight 2.
    ln2 = math.log(2)
    assert losses["loss_cls"].item() == pytest.approx(2 * (3 * 0.0625 + 0.1875) * ln2 / 4, rel=1e-5)
    assert losses["loss_bbox"].item() == pytest.approx(5 * 0.1 / 4, rel=1e-5)  # only q3 is off
    assert losses["loss_iou"].item() == pytest.approx(2 * (1 - _giou(OFF_G0, G0)) / 4, rel=1e-5)
    iou_q3 = 0.0075 / 0.0325  # intersection 0.05 x 0.15, union 0.02 + 0.02 - 0.0075
    assert out.iou.tolist() == pytest.approx([1.0, 1.0, 0.0, iou_q3], abs=1e-5)


def test_hungarian_finds_the_optimum_not_the_greedy_choice(matcher):
    g0, g1 = (0.3, 0.5, 0.1, 0.2), (0.5, 0.5, 0.1, 0.2)
    q0, q1 = (0.38, 0.5, 0.1, 0.2), (0.3, 0.5, 0.1, 0.2)  # q0 nearer g0, but q1 *is* g0

    def cost(q, g):  # 5 * L1 - 2 * GIoU (+ a class cost equal for every pair here)
        return 5 * sum(abs(a - b) for a, b in zip(q, g)) - 2 * _giou(q, g)

    table = [[cost(q, g) for g in (g0, g1)] for q in (q0, q1)]
    best = min(
        itertools.permutations(range(2)), key=lambda p: sum(table[i][p[i]] for i in range(2))
    )
    assert best == (1, 0)
    assert table[0][0] < table[0][1]  # greedy q0-first would take g0
    matched = matcher.match_new(
        torch.zeros(2, 1),
        torch.tensor([q0, q1]),
        torch.tensor([-1, -1]),
        torch.tensor([g0, g1]),
        torch.zeros(2, dtype=torch.long),
    )
    assert matched.tolist() == list(best)


def test_identities_persist_across_a_clip(matcher):
    labels = torch.zeros(3, dtype=torch.long)
    # frame 1: objects 3 and 5; two new queries land on them
    tracks = _records([-1, -1, -1])
    _, f1 = matcher(
        tracks,
        torch.zeros(1, 3, 1),
        torch.tensor([[G1, (0.5, 0.5, 0.3, 0.3), G2]]),
        torch.tensor([G1, G2]),
        labels[:2],
        torch.tensor([3, 5]),
        5.0,
    )
    assert f1.obj_ids.tolist() == [3, -1, 5]
    carried = f1[f1.obj_ids >= 0]
    # frame 2: object 5 left, object 3 moved, object 8 appeared; GT order changed. The carried
    # query of object 3 predicts object 8's box exactly, and still keeps object 3.
    gt2 = torch.tensor([(0.1, 0.1, 0.1, 0.1), (0.65, 0.5, 0.1, 0.2)])
    ids2 = torch.tensor([8, 3])
    new = _records([-1, -1])
    both = InstanceData.cat([new, carried])
    boxes2 = torch.tensor([[(0.9, 0.9, 0.1, 0.1), (0.11, 0.1, 0.1, 0.1), gt2[0].tolist(), G2]])
    losses, f2 = matcher(both, torch.zeros(1, 4, 1), boxes2, gt2, labels[:2], ids2, 5.0)
    assert f2.obj_ids.tolist() == [-1, 8, 3, 5]  # object 5's track keeps its id ...
    assert f2.matched_gt.tolist() == [-1, 0, 1, -1]  # ... but has no target this frame
    # its IoU is the one of frame 1 (MOTR updates it for matched queries only), so QIM keeps
    # the track with its id while that IoU is above 0.5
    assert f2.iou[3].item() == pytest.approx(1.0) == f1.iou[2].item()
    assert all(torch.isfinite(v) for v in losses.values())


def test_a_track_whose_object_is_absent_takes_part_in_no_matching(matcher):
    # query 1 follows object 5, absent from this frame; its box lies exactly on the new object
    # 8. MOTR Hungarian-matches only the queries with id -1: the new query 0 gets object 8,
    # the track keeps id 5 with a background target (and keeps its IoU for QIM).
    tracks = _records([-1, 5])
    tracks.iou = torch.tensor([0.0, 0.8])
    boxes = torch.tensor([[(0.9, 0.9, 0.1, 0.1), G0]])
    _, out = matcher(
        tracks,
        torch.zeros(1, 2, 1),
        boxes,
        torch.tensor([G0]),
        torch.zeros(1, dtype=torch.long),
        torch.tensor([8]),
        1.0,
    )
    assert out.obj_ids.tolist() == [8, 5]
    assert out.matched_gt.tolist() == [0, -1]
    assert out.iou[1].item() == pytest.approx(0.8)
    assert out.iou[0].item() < 0.01  # query 0's box does not overlap object 8


def test_a_released_track_is_matched_again(matcher):
    # QIM took the id of a badly placed track (-1); the next frame matches it like a new query
    tracks = _records([-1, -1])
    boxes = torch.tensor([[(0.9, 0.9, 0.1, 0.1), OFF_G0]])
    _, out = matcher(
        tracks,
        torch.zeros(1, 2, 1),
        boxes,
        torch.tensor([G0]),
        torch.zeros(1, dtype=torch.long),
        torch.tensor([3]),
        1.0,
    )
    assert out.obj_ids.tolist() == [-1, 3]


def test_auxiliary_layers_and_denoising_terms(matcher):
    gt = torch.tensor([G0, G1])
    tracks = _records([-1, -1])
    boxes = torch.tensor([[G1, G0], [G1, G0]])
    dn = torch.stack([gt, gt + 0.01])  # last layer off by 0.01 per coordinate
    losses, _ = matcher(
        tracks,
        torch.zeros(2, 2, 1),
        boxes,
        gt,
        torch.zeros(2, dtype=torch.long),
        torch.tensor([1, 2]),
        2.0,
        denoise_boxes=dn,
    )
    assert set(losses) == {
        "loss_cls", "loss_bbox", "loss_iou", "dn_loss_bbox", "dn_loss_iou",
        "d0.loss_cls", "d0.loss_bbox", "d0.loss_iou", "d0.dn_loss_bbox", "d0.dn_loss_iou",
    }  # fmt: skip
    assert losses["d0.dn_loss_bbox"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["dn_loss_bbox"].item() == pytest.approx(5 * 8 * 0.01 / 2, rel=1e-4)
    assert losses["loss_bbox"].item() == pytest.approx(0.0, abs=1e-6)


def test_empty_frame_makes_everything_background(matcher):
    tracks = _records([-1, 4])
    losses, out = matcher(
        tracks,
        torch.zeros(1, 2, 1),
        torch.rand(1, 2, 4),
        torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
        1.0,
    )
    assert out.matched_gt.tolist() == [-1, -1]
    assert losses["loss_bbox"].item() == 0.0
    assert losses["loss_cls"].item() == pytest.approx(2 * 2 * 0.1875 * math.log(2), rel=1e-5)
