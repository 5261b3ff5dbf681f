"""JDETracker's lost-track buffer follows each video's own frame rate (FairMOT, issue 14).

FairMOT: ``max_time_lost = int(frame_rate / 30 * track_buffer)`` with the sequence's
``seqinfo.ini`` rate. A video's rate reaches the tracker as ``metainfo['fps']`` of its frames
(``MOTChallengeVideoDataset``, ``VideoTracker``) or as ``track_detections(frame_rate=...)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdistillmot.models.trackers.jde_tracker import JDETracker, lost_track_buffer


def _frame(frame_id: int, visible: bool, fps: float | None) -> DetDataSample:
    """One person standing still at the same box (score 0.9, one-hot embedding), or nobody."""
    pred = InstanceData()
    boxes = [[160.0, 200.0, 240.0, 400.0]] if visible else []
    pred.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    pred.scores = torch.full((len(boxes),), 0.9)
    pred.labels = torch.zeros(len(boxes), dtype=torch.long)
    pred.embeddings = torch.eye(8)[: len(boxes)]
    metainfo: dict = dict(frame_id=frame_id)
    if fps is not None:
        metainfo["fps"] = fps
    sample = DetDataSample(metainfo=metainfo)
    sample.pred_instances = pred
    return sample


def _id_after_gap(tracker: JDETracker, reappear: int, fps: float | None) -> int:
    """Seen in frames 0-4, hidden until ``reappear``: the id of the track holding them then.

    (A new track is not reported in its first frame, so the id is read from the tracker.)
    """
    for frame_id in range(reappear + 1):
        visible = frame_id <= 4 or frame_id == reappear
        tracker.track(data_sample=_frame(frame_id, visible, fps))
    (track_id,) = tracker.tracks
    return int(track_id)


@pytest.mark.parametrize(
    ("frame_rate", "buffer"),
    [(7, 7), (10, 10), (14.985, 14), (25, 25), (30, 30), (60, 60)],
)
def test_buffer_is_fairmots_formula(frame_rate: float, buffer: int) -> None:
    # int(frame_rate / 30 * 30), worked by hand; 14.985 fps (NTSC / 2) rounds down
    assert lost_track_buffer(frame_rate, 30) == buffer
    tracker = JDETracker()
    tracker.track(data_sample=_frame(0, True, frame_rate))
    assert tracker.max_time_lost == buffer and tracker.video_frame_rate == frame_rate


def test_video_fps_in_metainfo_sets_the_lost_track_buffer() -> None:
    """A 7-fps video keeps a lost track 7 frames, not the config's 30.

    Last seen at frame 4, the person can be re-found up to frame 4 + buffer + 1 (stage 1 runs
    before the expiry check): at 7 fps frame 12 re-finds track 0, frame 13 starts track 1; at the
    config's 30 fps (no ``fps`` in the metainfo) frame 13 still re-finds track 0.
    """
    tracker = JDETracker(frame_rate=30, track_buffer=30, output_boxes="detection")
    assert _id_after_gap(tracker, reappear=12, fps=7) == 0
    assert _id_after_gap(tracker, reappear=13, fps=7) == 1
    assert tracker.max_time_lost == 7
    assert _id_after_gap(tracker, reappear=13, fps=None) == 0
    assert tracker.max_time_lost == 30  # a new video (frame 0) without fps: the config's rate
    assert _id_after_gap(tracker, reappear=13, fps=30) == 0


def test_frame_rate_argument_of_track_detections() -> None:
    tracker = JDETracker(output_boxes="detection")
    box = torch.tensor([[160.0, 200.0, 240.0, 400.0]])
    tracker.track_detections(box, torch.tensor([0.9]), 0, torch.eye(8)[:1], frame_rate=12.5)
    assert tracker.max_time_lost == int(12.5 / 30 * 30) == 12
    # later frames without a rate keep the video's
    tracker.track_detections(box, torch.tensor([0.9]), 1, torch.eye(8)[:1])
    assert tracker.max_time_lost == 12
    tracker.track_detections(box, torch.tensor([0.9]), 0, torch.eye(8)[:1])
    assert tracker.max_time_lost == 30  # next video, no rate: the config's 30 fps
    with pytest.raises(ValueError, match="frame_rate must be > 0"):
        tracker.track_detections(box, torch.tensor([0.9]), 1, torch.eye(8)[:1], frame_rate=0)
    with pytest.raises(ValueError, match="frame_rate must be > 0"):
        JDETracker(frame_rate=np.nan)
