"""JDETracker on bad detections: NaN / infinite values and degenerate boxes are filtered.

A detector that diverges or overflows in fp16 hands the tracker NaN or infinite scores, boxes
or embeddings; a shrinking track's Kalman box can degenerate. Neither may end a long tracking
run nor reach the output (a MOTChallenge line with w = 0 or NaN).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from mmengine.logging import MMLogger

from mmdistillmot.models.trackers.jde_tracker import JDETracker

DIM = 4
NAN, INF = float("nan"), float("inf")


def unit(index: int) -> list[float]:
    out = [0.0] * DIM
    out[index % DIM] = 1.0
    return out


def frame(
    tracker: JDETracker, frame_id: int, dets: list[tuple[list[float], float, list[float]]]
) -> dict[int, list[float]]:
    """Track one frame of ``(box, score, embedding)``; returns id -> reported box."""
    out = tracker.track_detections(
        torch.tensor([d[0] for d in dets], dtype=torch.float32).reshape(-1, 4),
        torch.tensor([d[1] for d in dets], dtype=torch.float32),
        frame_id,
        torch.tensor([d[2] for d in dets], dtype=torch.float32).reshape(-1, DIM),
    )
    assert torch.isfinite(out.bboxes).all() and torch.isfinite(out.scores).all()
    return dict(zip(out.instances_id.tolist(), out.bboxes.tolist(), strict=True))


class _Warnings:
    """Collects the warnings of mmengine's current logger."""

    def __enter__(self) -> list[str]:
        self.messages: list[str] = []
        self.handler = logging.Handler(level=logging.WARNING)
        self.handler.emit = lambda record: self.messages.append(record.getMessage())  # type: ignore[method-assign]
        MMLogger.get_current_instance().addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc: object) -> None:
        MMLogger.get_current_instance().removeHandler(self.handler)


GOOD = [100.0, 100.0, 180.0, 300.0]


def test_non_finite_detections_are_dropped_counted_and_logged_once_per_video() -> None:
    tracker = JDETracker(min_box_area=None, max_aspect_ratio=None)
    bad = [
        ([300.0, 100, 380, 300], NAN, unit(1)),  # NaN score
        ([500.0, 100, 580, 300], INF, unit(2)),  # infinite score (would pass any threshold)
        ([700.0, NAN, 780, 300], 0.9, unit(3)),  # NaN box
        ([900.0, 100, INF, 300], 0.9, unit(0)),  # infinite box (inf width > 0)
        ([1100.0, 100, 1180, 300], 0.9, [NAN] * DIM),  # NaN embedding
    ]
    with _Warnings() as warnings:
        result = frame(tracker, 0, [(GOOD, 0.9, unit(0)), *bad])
        assert list(result) == [0] and len(tracker.tracks) == 1
        assert tracker.num_dropped_non_finite == 5
        # the same video goes on: counted, not logged again; the good track continues
        result = frame(tracker, 1, [(GOOD, 0.9, unit(0)), bad[0]])
        assert list(result) == [0] and tracker.num_dropped_non_finite == 6
        assert len(warnings) == 1
        assert "frame 0: 5 detection(s) with a NaN or infinite" in warnings[0]
        # a new video (frame 0) starts counting again and says so again
        frame(tracker, 0, [bad[1]])
        assert tracker.num_dropped_non_finite == 1 and len(warnings) == 2
    # the IoU-only tracker (no embeddings needed) filters the same way
    iou_only = JDETracker(with_appearance=False)
    out = iou_only.track_detections(
        torch.tensor([GOOD, [300.0, 100, 380, 300]]), torch.tensor([0.9, NAN]), 0
    )
    assert out.instances_id.tolist() == [0] and iou_only.num_dropped_non_finite == 1


def test_zero_area_detections_never_become_tracks() -> None:
    tracker = JDETracker(min_box_area=None, max_aspect_ratio=None)  # output filters off
    dets = [
        ([300.0, 100, 300, 300], 0.9, unit(1)),  # zero width
        ([500.0, 100, 580, 100], 0.9, unit(2)),  # zero height
        ([780.0, 100, 700, 300], 0.9, unit(3)),  # negative width (x1 > x2)
    ]
    assert frame(tracker, 0, [(GOOD, 0.9, unit(0)), *dets]) == {0: GOOD}
    assert len(tracker.tracks) == 1 and tracker.num_dropped_non_finite == 0


def test_degenerate_track_box_does_not_reach_the_output() -> None:
    """A track whose box reaches the output filter with zero area is not reported."""
    for output_boxes in ("kalman", "detection"):
        tracker = JDETracker(min_box_area=None, max_aspect_ratio=None, output_boxes=output_boxes)
        second = [300.0, 100.0, 380.0, 300.0]
        assert list(frame(tracker, 0, [(GOOD, 0.9, unit(0)), (second, 0.9, unit(1))])) == [0, 1]
        # track 1's box collapses: its Kalman height, or its matched box, is zero
        tracker.tracks[1].mean[3] = 0.0
        tracker.tracks[1].raw_bbox = np.array([300.0, 100.0, 380.0, 100.0])
        reported = tracker._report(torch.zeros(0, 4))
        assert reported.instances_id.tolist() == [0], output_boxes
        assert (reported.bboxes[:, 2:] > reported.bboxes[:, :2]).all()
        # and a NaN box (a diverged Kalman state) is not reported either
        tracker.tracks[0].mean[:] = np.nan
        tracker.tracks[0].raw_bbox = np.full(4, np.nan)
        assert tracker._report(torch.zeros(0, 4)).instances_id.tolist() == []
