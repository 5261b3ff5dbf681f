"""JDETracker on hand-built scenarios (boxes and embeddings made by hand, no model).

Every expected outcome is worked out from FairMOT's rules (docs/reference.md): which cost each
pair gets, whether the Mahalanobis gate lets it through, which threshold applies.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import lap
import numpy as np
import pytest
import torch

jde = importlib.import_module("mmdistillmot.models.trackers.jde_tracker")
track_state = importlib.import_module("mmdistillmot.models.trackers.track_state")
JDETracker = jde.JDETracker
TrackStatus = track_state.TrackStatus

DIM = 8  # embedding size of the scenarios


def unit(index: int) -> np.ndarray:
    """A one-hot embedding: different people get orthogonal embeddings (cosine distance 1)."""
    emb = np.zeros(DIM)
    emb[index] = 1.0
    return emb


def box(cx: float, cy: float = 300.0, w: float = 80.0, h: float = 200.0) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


# A detection: (box xyxy, score, embedding).
Det = tuple[list[float], float, np.ndarray]


def step(tracker: JDETracker, frame_id: int, dets: Sequence[Det]) -> dict[tuple, int]:
    """Run one frame; return {detection box (as a tuple): reported id}."""
    bboxes = torch.tensor([d[0] for d in dets], dtype=torch.float32).reshape(-1, 4)
    scores = torch.tensor([d[1] for d in dets], dtype=torch.float32)
    embeds = torch.tensor(np.array([d[2] for d in dets]), dtype=torch.float32).reshape(-1, DIM)
    out = tracker.track_detections(bboxes, scores, frame_id, embeddings=embeds)
    return {
        tuple(np.round(b, 3)): int(i)
        for b, i in zip(out.bboxes.numpy().astype(np.float64), out.instances_id.tolist())
    }


def id_of(result: dict[tuple, int], det_box: list[float]) -> int | None:
    as_reported = np.asarray(det_box, dtype=np.float32).astype(np.float64)  # float32 round trip
    return result.get(tuple(np.round(as_reported, 3)))


def make_tracker(**kwargs) -> JDETracker:
    # Report the matched detection boxes so that identities can be read off exactly.
    kwargs.setdefault("output_boxes", "detection")
    return JDETracker(**kwargs)


# --------------------------------------------------------------------------------------------
# Building blocks against hand computations
# --------------------------------------------------------------------------------------------


def test_stage1_cost_matches_hand_computation() -> None:
    """2 tracks x 2 detections: 0.98 * cosine + 0.02 * squared Mahalanobis, gated at 9.4877."""
    kf = JDETracker().motion
    # Kalman states whose projected covariance S = P[:4, :4] + R is diag(100, 100, 0.04, 100):
    # R = diag((h/20)^2, (h/20)^2, 0.1^2, (h/20)^2) = diag(25, 25, 0.01, 25) for h = 100.
    cov = np.eye(8)
    cov[:4, :4] = np.diag([75.0, 75.0, 0.03, 75.0])
    means = np.array([[100, 200, 0.5, 100, 0, 0, 0, 0], [120, 200, 0.5, 100, 0, 0, 0, 0]], float)
    covs = np.stack([cov, cov])
    dets_xyah = np.array([[110, 200, 0.5, 100], [120, 225, 0.6, 100]], float)
    # Squared Mahalanobis by hand: d^T S^-1 d.
    #   t0-d0: 10^2/100 = 1              t0-d1: 20^2/100 + 25^2/100 + 0.1^2/0.04 = 10.5 (> gate)
    #   t1-d0: 10^2/100 = 1              t1-d1: 25^2/100 + 0.1^2/0.04 = 6.5
    maha = jde.squared_mahalanobis(kf, means, covs, dets_xyah)
    np.testing.assert_allclose(maha, [[1.0, 10.5], [1.0, 6.5]], rtol=1e-9)
    # Cosine distances: tracks (1, 0), (0, 1); detections (3, 4) (not unit) and (1, 0).
    #   t0: 1 - 0.6 = 0.4, 1 - 1 = 0;  t1: 1 - 0.8 = 0.2, 1 - 0 = 1.
    cos = jde.embedding_distance(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[3.0, 4], [1, 0]]))
    np.testing.assert_allclose(cos, [[0.4, 0.0], [0.2, 1.0]], atol=1e-12)
    cost = jde.fuse_motion(cos, maha)
    expected = np.array(
        [[0.98 * 0.4 + 0.02 * 1.0, np.inf], [0.98 * 0.2 + 0.02 * 1.0, 0.98 * 1.0 + 0.02 * 6.5]]
    )
    np.testing.assert_allclose(cost, expected, rtol=1e-9)
    # With the stage-1 threshold 0.4, only t1-d0 (0.216) can match.
    matches, u_rows, u_cols = jde.linear_assignment(cost, 0.4)
    assert matches.tolist() == [[1, 0]] and u_rows.tolist() == [0] and u_cols.tolist() == [1]


def test_linear_assignment_solves_lapjv_cost_limit_problem() -> None:
    # Worked example: one match of gain 0.3 beats two matches of total gain 0.05 + 0.1.
    cost = np.array([[0.1, 0.3], [0.35, 0.9]])
    matches, u_rows, u_cols = jde.linear_assignment(cost, 0.4)
    assert matches.tolist() == [[0, 0]] and u_rows.tolist() == [1] and u_cols.tolist() == [1]
    # inf forbids a pair; the remaining pairs still match.
    matches, _, _ = jde.linear_assignment(np.array([[np.inf, 0.1], [0.2, np.inf]]), 0.4)
    assert matches.tolist() == [[0, 1], [1, 0]]
    # Nothing below the threshold: nothing matches; empty inputs are fine.
    matches, u_rows, u_cols = jde.linear_assignment(np.full((2, 3), 0.5), 0.4)
    assert len(matches) == 0 and u_rows.tolist() == [0, 1] and u_cols.tolist() == [0, 1, 2]
    matches, u_rows, u_cols = jde.linear_assignment(np.zeros((0, 3)), 0.4)
    assert len(matches) == 0 and len(u_rows) == 0 and u_cols.tolist() == [0, 1, 2]


def test_linear_assignment_agrees_with_lap() -> None:
    """Same matches as FairMOT's ``lap.lapjv(extend_cost=True, cost_limit=thr)``."""
    rng = np.random.default_rng(0)
    for shape in [(3, 5), (6, 4), (7, 7)]:
        for _ in range(20):
            cost = rng.uniform(0.0, 1.0, size=shape)
            cost[rng.uniform(size=shape) < 0.2] = np.inf  # gated pairs
            _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=0.5)
            expected = [[r, c] for r, c in enumerate(x) if c >= 0]
            matches, _, _ = jde.linear_assignment(cost, 0.5)
            assert matches.tolist() == expected


def test_box_iou_distance_by_hand() -> None:
    # 10x10 boxes offset by 5 in x: intersection 50, union 150.
    dist = jde.box_iou_distance(np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 0, 15, 10]]))
    np.testing.assert_allclose(dist, [[1 - 50 / 150]])


def test_embedding_smoothing_is_09_01_renormalised() -> None:
    tracker = make_tracker()
    step(tracker, 0, [(box(100), 0.9, unit(0))])
    new = np.zeros(DIM)
    new[1] = 2.0  # not unit: normalised before smoothing
    step(tracker, 1, [(box(100), 0.9, new)])
    expected = np.zeros(DIM)
    expected[:2] = [0.9, 0.1]
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(tracker.tracks[0].embedding, expected, atol=1e-6)


def test_lost_track_height_velocity_zeroed_before_prediction() -> None:
    tracker = make_tracker()
    for f in range(8):  # growing box: the filter learns a positive height velocity
        step(tracker, f, [(box(100 + 5 * f, h=200 + 4 * f), 0.9, unit(0))])
    step(tracker, 8, [])  # predicted while still tracked: height keeps growing, then lost
    track = tracker.tracks[0]
    assert track.status == TrackStatus.LOST and track.mean[7] > 0
    h_after_first_miss, cx_after_first_miss = track.mean[3], track.mean[0]
    step(tracker, 9, [])  # lost: height velocity zeroed first, x velocity kept
    assert track.mean[3] == pytest.approx(h_after_first_miss) and track.mean[7] == 0
    assert track.mean[0] > cx_after_first_miss + 1


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def test_two_people_crossing_keep_their_ids() -> None:
    """A walks right, B walks left; they overlap fully at frame 10 and part again."""
    for with_appearance in (True, False):
        tracker = make_tracker(with_appearance=with_appearance)
        ids_a, ids_b = set(), set()
        for f in range(21):
            box_a, box_b = box(100 + 10 * f), box(300 - 10 * f)
            result = step(tracker, f, [(box_a, 0.9, unit(0)), (box_b, 0.9, unit(1))])
            if f != 10:  # at frame 10 the two boxes are identical
                ids_a.add(id_of(result, box_a))
                ids_b.add(id_of(result, box_b))
        # With appearance the embeddings decide; IoU-only also holds here because the Kalman
        # filter has learnt the constant velocities before the overlap (hand-predicted).
        assert ids_a == {0} and ids_b == {1}, with_appearance


def test_crossing_between_frames_appearance_keeps_ids_iou_swaps() -> None:
    """Low frame rate: A and B (standing 20 px apart) exchange places between two frames.

    IoU-only: each track's box coincides with the *other* person's new box (IoU 1) -> swap.
    Appearance: the correct pairs cost 0.02 * maha^2 (20 px shift, small) and pass the gate;
    the wrong pairs cost >= 0.98 > 0.4 -> ids kept.
    """
    outcomes = {}
    for with_appearance in (True, False):
        tracker = make_tracker(with_appearance=with_appearance)
        for f in range(10):
            step(tracker, f, [(box(200), 0.9, unit(0)), (box(220), 0.9, unit(1))])
        result = step(tracker, 10, [(box(220), 0.9, unit(0)), (box(200), 0.9, unit(1))])
        outcomes[with_appearance] = (id_of(result, box(220)), id_of(result, box(200)))
    assert outcomes[True] == (0, 1)  # A (now at 220) is still 0
    assert outcomes[False] == (1, 0)  # IoU hands A's id to whoever stands where A stood


def test_occluded_person_reidentified_by_appearance() -> None:
    """A hidden for 5 frames comes back off the prediction; a stranger stands on it.

    A walks right and is hidden for frames 10-14; at frame 15 A reappears 20 px behind the
    constant-velocity prediction while a stranger D stands exactly on it.
    """
    results = {}
    for with_appearance in (True, False):
        tracker = make_tracker(with_appearance=with_appearance)
        for f in range(10):
            step(tracker, f, [(box(100 + 5 * f), 0.9, unit(0))])
        for f in range(10, 15):
            step(tracker, f, [])
            assert tracker.tracks[0].status == TrackStatus.LOST
        box_a, box_d = box(100 + 5 * 15 - 20), box(100 + 5 * 15)
        first = step(tracker, 15, [(box_a, 0.9, unit(0)), (box_d, 0.9, unit(3))])
        box_a2, box_d2 = box(100 + 5 * 16 - 20), box(100 + 5 * 16)
        second = step(tracker, 16, [(box_a2, 0.9, unit(0)), (box_d2, 0.9, unit(3))])
        results[with_appearance] = (first, second, box_a, box_d, box_a2, box_d2)

    first, second, box_a, box_d, box_a2, box_d2 = results[True]
    assert id_of(first, box_a) == 0  # re-identified with the same id
    assert id_of(first, box_d) is None  # the stranger's track is unconfirmed in its first frame
    assert id_of(second, box_a2) == 0 and id_of(second, box_d2) == 1

    first, second, box_a, box_d, box_a2, box_d2 = results[False]
    assert id_of(first, box_d) == 0  # IoU-only gives A's id to the stranger on the prediction
    assert id_of(second, box_d2) == 0 and id_of(second, box_a2) == 1


def test_duplicate_new_track_on_lost_track_is_dropped() -> None:
    """A new track born on top of a longer-lived lost track is the duplicate that goes."""
    tracker = make_tracker()
    for f in range(10):
        step(tracker, f, [(box(200), 0.9, unit(0))])
    step(tracker, 10, [])  # A (age 9) is lost
    # A detection with another embedding on A's spot: stage 1 refuses it (cosine 1), lost tracks
    # are not in stage 2, so it starts track 1 (age 0) -> IoU distance 0 to A -> dropped.
    result = step(tracker, 11, [(box(200), 0.9, unit(5))])
    assert result == {}
    assert list(tracker.tracks) == [0] and tracker.tracks[0].status == TrackStatus.LOST
    assert tracker.num_tracks == 2  # the id was given at creation, as in FairMOT
    result = step(tracker, 12, [(box(200), 0.9, unit(0))])
    assert id_of(result, box(200)) == 0


def test_duplicate_lost_track_on_longer_tracked_track_is_dropped() -> None:
    """A lost track sliding onto an older tracked one is the duplicate that goes.

    B (born at frame 3) walks into standing A (born at frame 0) and disappears behind A; its
    Kalman prediction slides onto A's box, so B is the younger duplicate and goes.
    """
    tracker = make_tracker()
    dropped_at = None
    for f in range(20):
        dets = [(box(300), 0.9, unit(0))]
        if 3 <= f <= 10:
            dets.append((box(200 + 10 * (f - 3)), 0.9, unit(1)))
        step(tracker, f, dets)
        if f > 10 and dropped_at is None and 1 not in tracker.tracks:
            dropped_at = f
    # Hidden from frame 11, B's prediction moves ~9 px per frame from x = 270 towards 300; IoU
    # distance < 0.15 to A needs |dx| < 80 * 0.15 / 1.85 = 6.5 px: frame 13 (x ~ 297), long
    # before B's 30-frame buffer would run out.
    assert dropped_at is not None and 12 <= dropped_at <= 14
    assert list(tracker.tracks) == [0] and tracker.tracks[0].status == TrackStatus.TRACKED


@pytest.mark.parametrize(("frame_rate", "max_time_lost"), [(10, 10), (25, 25)])
def test_lost_track_removed_after_buffer(frame_rate: float, max_time_lost: int) -> None:
    """Lost tracks are removed once ``frame_id - last_seen > int(frame_rate / 30 * 30)``.

    Last seen at frame 4, A survives frame 4 + buffer and is removed at frame 4 + buffer + 1.
    """
    tracker = make_tracker(frame_rate=frame_rate)
    assert tracker.max_time_lost == max_time_lost
    for f in range(5):
        step(tracker, f, [(box(200), 0.9, unit(0))])
    for f in range(5, 4 + max_time_lost + 1):
        step(tracker, f, [])
    assert tracker.tracks[0].status == TrackStatus.LOST  # frame 4 + buffer: still kept
    step(tracker, 4 + max_time_lost + 1, [])
    assert tracker.tracks == {}


def test_lost_track_last_chance_to_be_found() -> None:
    """The frame that would remove a lost track can still re-find it; one frame later, not.

    Stage 1 runs before the expiry check, so A can be re-found at frame 4 + buffer + 1; one
    frame later A is gone and the same person gets a new id (buffer 10 at 10 fps).
    """
    for reappear, expected_id in [(15, 0), (16, 1)]:
        tracker = make_tracker(frame_rate=10)
        for f in range(5):
            step(tracker, f, [(box(200), 0.9, unit(0))])
        for f in range(5, reappear):
            step(tracker, f, [])
        step(tracker, reappear, [(box(200), 0.9, unit(0))])
        assert list(tracker.tracks) == [expected_id]


def test_new_track_needs_score_above_thresholds() -> None:
    tracker = make_tracker(obj_score_thr=0.4, init_track_thr=0.6)
    dets = [
        (box(100), 0.35, unit(0)),  # below obj_score_thr: ignored
        (box(300), 0.5, unit(1)),  # used for matching, but too weak to start a track
        (box(500), 0.6, unit(2)),  # exactly init_track_thr: starts a track (>=)
    ]
    result = step(tracker, 0, dets)
    assert list(result.values()) == [0] and id_of(result, box(500)) == 0
    # An existing track continues on a detection between the two thresholds...
    result = step(tracker, 1, [(box(500), 0.45, unit(2))])
    assert id_of(result, box(500)) == 0
    # ...but not on one at or below obj_score_thr (strict >): the track is lost.
    result = step(tracker, 2, [(box(500), 0.4, unit(2))])
    assert result == {} and tracker.tracks[0].status == TrackStatus.LOST


def test_new_track_reported_once_confirmed() -> None:
    """Born after the first frame, a track is reported from its second matched frame on."""
    tracker = make_tracker()
    step(tracker, 0, [(box(100), 0.9, unit(0))])
    result = step(tracker, 1, [(box(100), 0.9, unit(0)), (box(400), 0.9, unit(1))])
    assert id_of(result, box(400)) is None and tracker.tracks[1].is_activated is False
    result = step(tracker, 2, [(box(100), 0.9, unit(0)), (box(400), 0.9, unit(1))])
    assert id_of(result, box(400)) == 1
    # An unconfirmed track missed once is removed.
    step(tracker, 3, [(box(100), 0.9, unit(0)), (box(700), 0.9, unit(2))])
    step(tracker, 4, [(box(100), 0.9, unit(0))])
    assert 2 not in tracker.tracks


def test_output_filter_area_and_aspect_ratio() -> None:
    boxes = {
        "area_100": [0.0, 0, 10, 10],  # area 100: not > 100 -> hidden
        "area_101": [100.0, 0, 110, 10.1],  # area 101 -> reported
        "wide_1.7": [200.0, 0, 370, 100],  # w/h 1.7 > 1.6 -> hidden
        "wide_1.6": [400.0, 0, 560, 100],  # w/h 1.6 -> reported
    }
    dets = [(b, 0.9, unit(i)) for i, b in enumerate(boxes.values())]
    # Kalman boxes (the default): in the first frame the state is the detection itself.
    tracker = JDETracker()
    result = step(tracker, 0, dets)
    assert len(tracker.tracks) == 4
    assert sorted(result.values()) == [1, 3]
    np.testing.assert_allclose(
        sorted(result), sorted([tuple(boxes["area_101"]), tuple(boxes["wide_1.6"])]), atol=1e-3
    )
    # Both filters configurable / off.
    tracker = JDETracker(min_box_area=None, max_aspect_ratio=None)
    assert sorted(step(tracker, 0, dets).values()) == [0, 1, 2, 3]


# --------------------------------------------------------------------------------------------
# Interface
# --------------------------------------------------------------------------------------------


def test_registered_and_mmdet_track_interface() -> None:
    from mmdet.models.task_modules import KalmanFilter
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    tracker = MODELS.build(dict(type="JDETracker", obj_score_thr=0.3))
    assert isinstance(tracker, JDETracker)
    # not an mmdet BaseTracker: none of its memo API pretends to work
    assert not hasattr(tracker, "memo") and not hasattr(tracker, "update")
    assert isinstance(tracker.motion, KalmanFilter)

    def sample(frame_id: int, with_embeddings: bool = True) -> DetDataSample:
        pred = InstanceData()
        pred.bboxes = torch.tensor([box(100), box(400)])
        pred.scores = torch.tensor([0.9, 0.8])
        pred.labels = torch.tensor([0, 0])
        if with_embeddings:
            pred.embeddings = torch.tensor(np.stack([unit(0), unit(1)]), dtype=torch.float32)
        data_sample = DetDataSample(metainfo=dict(frame_id=frame_id))
        data_sample.pred_instances = pred
        return data_sample

    out = tracker.track(data_sample=sample(0))
    assert out.instances_id.tolist() == [0, 1] and out.bboxes.shape == (2, 4)
    assert out.labels.dtype == torch.int64 and out.scores.tolist() == pytest.approx([0.9, 0.8])
    out = tracker.track(data_sample=sample(1))
    assert out.instances_id.tolist() == [0, 1]
    out = tracker.track(data_sample=sample(0))  # frame 0: new video, ids restart
    assert out.instances_id.tolist() == [0, 1] and tracker.num_tracks == 2
    with pytest.raises(KeyError, match="embeddings"):
        tracker.track(data_sample=sample(1, with_embeddings=False))
    # The IoU-only baseline needs no embeddings.
    iou_only = JDETracker(with_appearance=False)
    assert iou_only.track(data_sample=sample(0, with_embeddings=False)).instances_id.tolist() == [
        0,
        1,
    ]


def test_bad_inputs_raise_clear_errors() -> None:
    tracker = JDETracker()
    with pytest.raises(ValueError, match="bboxes must be"):
        tracker.track_detections(torch.zeros(2, 5), torch.zeros(2), 0, torch.zeros(2, DIM))
    with pytest.raises(ValueError, match="embeddings"):
        tracker.track_detections(torch.zeros(2, 4), torch.zeros(2), 0, None)
    with pytest.raises(ValueError, match="embeddings must be"):
        tracker.track_detections(torch.zeros(2, 4), torch.zeros(2), 0, torch.zeros(3, DIM))
    tracker.track_detections(torch.zeros(0, 4), torch.zeros(0), 0, torch.zeros(0, DIM))
    tracker.track_detections(torch.zeros(0, 4), torch.zeros(0), 3, torch.zeros(0, DIM))
    with pytest.raises(ValueError, match="frame_id must increase"):
        tracker.track_detections(torch.zeros(0, 4), torch.zeros(0), 3, torch.zeros(0, DIM))
    with pytest.raises(ValueError, match="output_boxes"):
        JDETracker(output_boxes="raw")
