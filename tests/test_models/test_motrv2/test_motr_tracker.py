"""MOTRTracker: ids are born at >= 0.5, survive dips shorter than 20 frames, die after 20."""

from __future__ import annotations

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope

from mmdistillmot.models.trackers.motr_tracker import MOTRTracker


def _step(tracker, scores, ids, misses):
    return tracker.update(torch.tensor(scores), ids, misses)


def test_registered_and_defaults():
    init_default_scope("mmdet")
    tracker = MODELS.build(dict(type="MOTRTracker"))
    assert isinstance(tracker, MOTRTracker)
    assert (tracker.init_score_thr, tracker.keep_score_thr, tracker.miss_tolerance) == (
        0.5,
        0.5,
        20,
    )
    assert (tracker.output_score_thr, tracker.min_area) == (0.5, 100.0)


def test_birth_at_exactly_half_and_consecutive_ids():
    tracker = MOTRTracker()
    ids, misses = torch.full((4,), -1), torch.zeros(4, dtype=torch.long)
    ids, misses = _step(tracker, [0.5, 0.49, 0.9, 0.1], ids, misses)
    assert ids.tolist() == [0, -1, 1, -1]
    ids, misses = _step(tracker, [0.9, 0.8, 0.9, 0.1], ids, misses)
    assert ids.tolist() == [0, 2, 1, -1]  # the next free id, old ids unchanged
    assert tracker.next_id == 3


def test_track_survives_19_missed_frames_and_dies_at_20():
    tracker = MOTRTracker()
    ids, misses = _step(tracker, [0.9], torch.tensor([-1]), torch.zeros(1, dtype=torch.long))
    for frame in range(19):
        ids, misses = _step(tracker, [0.2], ids, misses)
        assert ids.tolist() == [0] and misses.tolist() == [frame + 1]
    ids, misses = _step(tracker, [0.2], ids, misses)
    assert ids.tolist() == [-1]


def test_a_confident_frame_resets_the_miss_count():
    tracker = MOTRTracker()
    ids, misses = _step(tracker, [0.9], torch.tensor([-1]), torch.zeros(1, dtype=torch.long))
    for _ in range(15):
        ids, misses = _step(tracker, [0.3], ids, misses)
    ids, misses = _step(tracker, [0.6], ids, misses)
    assert misses.tolist() == [0]
    for _ in range(19):
        ids, misses = _step(tracker, [0.3], ids, misses)
    assert ids.tolist() == [0]  # 15 + 19 low frames, but never 20 in a row
    ids, misses = _step(tracker, [0.3], ids, misses)
    assert ids.tolist() == [-1]


def test_output_filter_score_and_area():
    tracker = MOTRTracker()
    boxes = torch.tensor(
        [[0, 0, 10, 11], [0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 20, 20], [0, 0, 20, 20]],
        dtype=torch.float,
    )  # areas 110, 100 (not > 100), 400, 400, 400
    scores = torch.tensor([0.9, 0.9, 0.5, 0.51, 0.9])
    ids = torch.tensor([0, 1, 2, 3, -1])
    assert tracker.output_mask(scores, ids, boxes).tolist() == [True, False, False, True, False]


def test_reset_restarts_ids():
    tracker = MOTRTracker()
    _step(tracker, [0.9, 0.9], torch.full((2,), -1), torch.zeros(2, dtype=torch.long))
    tracker.carried = "something"
    tracker.reset()
    assert tracker.next_id == 0 and tracker.carried is None


def test_bad_tolerance_rejected():
    with pytest.raises(ValueError, match="miss_tolerance"):
        MOTRTracker(miss_tolerance=0)
