"""FairMOT's two-stage JDE association as an mmdet tracker.

The behaviour follows ``docs/reference.md`` ("JDETracker"), i.e. FairMOT's ``JDETracker``:

1. Detections with ``score > obj_score_thr`` (0.4; 0.3 for MOT15/MOT20) and a box of positive
   width and height take part. A detection with a NaN or infinite score, box or embedding is
   dropped (the first such frame of a video is logged, :attr:`JDETracker.num_dropped_non_finite`
   counts them).
2. Confirmed tracks (tracked and lost) are Kalman-predicted (height velocity of non-tracked
   tracks zeroed first) and matched to detections on
   ``0.98 * cosine distance + 0.02 * squared Mahalanobis distance``, infinite where the squared
   Mahalanobis distance exceeds 9.4877 (chi-square 95 % quantile, 4 dof); threshold 0.4.
3. The remaining *tracked* tracks are matched to the remaining detections on IoU distance
   (threshold 0.5); tracked tracks still unmatched become lost.
4. Unconfirmed tracks (born in the previous frame) are matched on IoU distance (threshold 0.7);
   unmatched ones are removed.
5. Remaining detections with ``score >= init_track_thr`` start new tracks (confirmed at once only
   in the first frame of a sequence).
6. Lost tracks whose last match is more than ``int(frame_rate / 30 * track_buffer)`` frames old
   are removed (``frame_rate``: the video's own rate, the ``fps`` of its frames' metainfo, as
   FairMOT reads each sequence's ``seqinfo.ini``; the config's ``frame_rate`` when absent);
   tracked/lost pairs closer than IoU distance 0.15 are duplicates and the
   shorter-lived one is dropped.
7. Confirmed tracked tracks are reported when their box has area > 100 and ``w / h <= 1.6``
   (both configurable), and always only with a finite box of positive width and height.

Assignment solver: FairMOT calls ``lap.lapjv(cost, extend_cost=True, cost_limit=thr)``, which
solves "match a subset of pairs, each unmatched row or column costs ``thr / 2``". That is a
maximum-weight matching with gains ``thr - cost`` on pairs cheaper than ``thr``; we solve exactly
that with :func:`scipy.optimize.linear_sum_assignment` on the clipped gains (the tests check it
against ``lap``). Why not lap itself: scipy is already needed by mmdet's ``KalmanFilter`` while
lap is an optional, undeclared dependency of mmdet, and the gated ``inf`` costs simply become
zero gains. Why not "Hungarian on the raw costs, then drop pairs above the threshold": that
minimises another objective and can trade one cheap match for two mediocre ones (see
:func:`linear_assignment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdistillmot.models.trackers.track_state import Tracklet, TrackStatus, smooth_embedding

__all__ = [
    "JDETracker",
    "box_iou_distance",
    "lost_track_buffer",
    "embedding_distance",
    "fuse_motion",
    "linear_assignment",
    "squared_mahalanobis",
    "xyxy_to_cxcyah",
]

ArrayLike = Tensor | np.ndarray

#: chi-square 95 % quantile with 4 degrees of freedom: the Mahalanobis gate on (cx, cy, a, h).
CHI2_95_4DOF = 9.4877


@dataclass
class _Detections:
    """The detections of one frame that take part in the association (numpy, float64).

    Attributes:
        boxes (np.ndarray): ``[N, 4]`` xyxy boxes.
        xyah (np.ndarray): ``[N, 4]`` the same boxes as ``(cx, cy, w / h, h)``.
        scores (np.ndarray): ``[N]`` scores.
        labels (np.ndarray): ``[N]`` labels.
        embeddings (np.ndarray | None): ``[N, D]`` embeddings or ``None`` (IoU-only).
    """

    boxes: np.ndarray
    xyah: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    embeddings: np.ndarray | None


def xyxy_to_cxcyah(boxes: np.ndarray) -> np.ndarray:
    """Convert boxes to the Kalman measurement space.

    Args:
        boxes (np.ndarray): ``[N, 4]`` boxes ``(x1, y1, x2, y2)``, positive width and height.

    Returns:
        np.ndarray: ``[N, 4]`` as ``(cx, cy, w / h, h)``.
    """
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    return np.stack(
        [boxes[:, 0] + width / 2, boxes[:, 1] + height / 2, width / height, height], axis=1
    )


def box_iou_distance(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise ``1 - IoU`` of two box sets (continuous coordinates, no ``+1`` pixel width).

    Args:
        boxes_a (np.ndarray): ``[A, 4]`` boxes ``(x1, y1, x2, y2)``.
        boxes_b (np.ndarray): ``[B, 4]`` boxes ``(x1, y1, x2, y2)``.

    Returns:
        np.ndarray: ``[A, B]`` IoU distances in ``[0, 1]``.
    """
    boxes_a = boxes_a.reshape(-1, 4)
    boxes_b = boxes_b.reshape(-1, 4)
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0.0, None).prod(axis=2)
    area_a = (boxes_a[:, 2:] - boxes_a[:, :2]).prod(axis=1)
    area_b = (boxes_b[:, 2:] - boxes_b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return 1.0 - inter / np.maximum(union, 1e-12)


def embedding_distance(track_embeddings: np.ndarray, det_embeddings: np.ndarray) -> np.ndarray:
    """Pairwise cosine distance ``max(0, 1 - cos)`` between track and detection embeddings.

    Args:
        track_embeddings (np.ndarray): ``[T, D]`` track embeddings.
        det_embeddings (np.ndarray): ``[N, D]`` detection embeddings.

    Returns:
        np.ndarray: ``[T, N]`` cosine distances in ``[0, 2]``.
    """
    tracks = track_embeddings / np.maximum(
        np.linalg.norm(track_embeddings, axis=1, keepdims=True), 1e-12
    )
    dets = det_embeddings / np.maximum(np.linalg.norm(det_embeddings, axis=1, keepdims=True), 1e-12)
    return np.maximum(0.0, 1.0 - tracks @ dets.T)


def squared_mahalanobis(
    kalman_filter: Any,
    means: np.ndarray,
    covariances: np.ndarray,
    measurements: np.ndarray,
) -> np.ndarray:
    """Squared Mahalanobis distance of every measurement to every track's projected state.

    The projection (``H P H^T + R``) is mmdet's ``KalmanFilter.project``, called once per track;
    the distances themselves are computed for all pairs at once.

    Args:
        kalman_filter: mmdet ``KalmanFilter`` (provides ``project(mean, covariance)``).
        means (np.ndarray): ``[T, 8]`` track means.
        covariances (np.ndarray): ``[T, 8, 8]`` track covariances.
        measurements (np.ndarray): ``[N, 4]`` detections as ``(cx, cy, w / h, h)``.

    Returns:
        np.ndarray: ``[T, N]`` squared Mahalanobis distances.
    """
    num_tracks, num_dets = len(means), len(measurements)
    if num_tracks == 0 or num_dets == 0:
        return np.zeros((num_tracks, num_dets))
    projected = [kalman_filter.project(m, c) for m, c in zip(means, covariances)]
    proj_means = np.stack([p[0] for p in projected])  # [T, 4]
    proj_covs = np.stack([p[1] for p in projected])  # [T, 4, 4]
    diff = measurements[None, :, :] - proj_means[:, None, :]  # [T, N, 4]
    # Solve S x = d for all detections of a track at once: [T, 4, 4] x [T, 4, N].
    solved = np.linalg.solve(proj_covs, diff.transpose(0, 2, 1))
    return np.einsum("tnk,tkn->tn", diff, solved)


def fuse_motion(
    appearance_cost: np.ndarray,
    squared_maha: np.ndarray,
    appearance_weight: float = 0.98,
    gating_threshold: float = CHI2_95_4DOF,
) -> np.ndarray:
    """FairMOT's stage-1 cost: appearance blended with motion, gated by the motion.

    ``cost = w * appearance + (1 - w) * maha^2``, set to ``inf`` where ``maha^2 > gate``.

    Args:
        appearance_cost (np.ndarray): ``[T, N]`` cosine distances.
        squared_maha (np.ndarray): ``[T, N]`` squared Mahalanobis distances.
        appearance_weight (float): ``w``. Defaults to 0.98.
        gating_threshold (float): Gate on the squared Mahalanobis distance. Defaults to 9.4877.

    Returns:
        np.ndarray: ``[T, N]`` fused cost.
    """
    cost = appearance_weight * appearance_cost + (1.0 - appearance_weight) * squared_maha
    cost[squared_maha > gating_threshold] = np.inf
    return cost


def linear_assignment(
    cost: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal partial matching with a per-pair cost limit (``lapjv(cost_limit=threshold)``).

    Minimises ``sum(matched costs) + threshold * (number of unmatched pairs)``; equivalently it
    maximises the total gain ``threshold - cost`` over matched pairs, so only pairs with
    ``cost < threshold`` can match. Example: costs ``[[0.1, 0.3], [0.35, 0.9]]`` with threshold
    0.4 give the single match ``(0, 0)`` (gain 0.3), not the two matches ``(0, 1), (1, 0)`` (gain
    0.15) that "Hungarian on the costs, then threshold" would keep.

    Args:
        cost (np.ndarray): ``[R, C]`` costs; ``inf`` forbids a pair.
        threshold (float): Largest cost a match may have (exclusive).

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``matches [K, 2]`` (row, col) sorted by row,
        ``unmatched_rows [R - K]`` and ``unmatched_cols [C - K]``.
    """
    num_rows, num_cols = cost.shape
    if num_rows == 0 or num_cols == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(num_rows), np.arange(num_cols)
    # A pair is worth ``threshold - cost``; non-positive gains (and inf costs) are worth 0, i.e.
    # the same as leaving both unmatched, and are dropped after the solve.
    gain = np.clip(threshold - cost, 0.0, None)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    keep = gain[rows, cols] > 0
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    unmatched_rows = np.setdiff1d(np.arange(num_rows), matches[:, 0])
    unmatched_cols = np.setdiff1d(np.arange(num_cols), matches[:, 1])
    return matches, unmatched_rows, unmatched_cols


def lost_track_buffer(frame_rate: float, track_buffer: int) -> int:
    """FairMOT's lost-track buffer in frames: ``int(frame_rate / 30 * track_buffer)``.

    Args:
        frame_rate (float): Frame rate of the video (> 0).
        track_buffer (int): The buffer in frames at 30 fps (>= 0).

    Returns:
        int: How many frames a lost track is kept (e.g. 7 at 7 fps, 25 at 25 fps for 30).

    Raises:
        ValueError: ``frame_rate <= 0`` or ``track_buffer < 0``.
    """
    if not frame_rate > 0 or track_buffer < 0:
        raise ValueError(
            f"JDETracker: frame_rate must be > 0 and track_buffer >= 0, got {frame_rate} and "
            f"{track_buffer}"
        )
    return int(frame_rate / 30.0 * track_buffer)


def _to_numpy(value: ArrayLike, dtype: type | None = np.float64) -> np.ndarray:
    """Detach a tensor (any device) or array into a numpy array of ``dtype`` (kept if None)."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


@MODELS.register_module()
class JDETracker:
    """FairMOT's JDE tracker: appearance + Kalman association in two stages.

    Not an mmdet ``BaseTracker``: that base keeps tracks in a ``memo`` of per-id buffers
    updated through ``update(ids=..., **items)``, while FairMOT's association needs per-track
    Kalman states and a status life cycle (:class:`Tracklet`). Its contract with mmdet's MOT
    models is :meth:`track` (``model``, ``img``, ``data_sample``) -> ``InstanceData``, plus
    :meth:`reset`, as mmdet's trackers.

    Use :meth:`track` from an mmdet MOT model (detections and their embeddings in
    ``data_sample.pred_instances``), or :meth:`track_detections` directly with arrays, so that a
    one-stage model (embeddings from its head) and a two-stage model (embeddings from a Re-ID
    network on crops) share the same association. The module docstring lists the rules.

    With ``with_appearance=False`` the tracker is the IoU-only baseline: stage 1 matches
    tracked and lost tracks on ``1 - IoU`` between the Kalman-predicted track box and the
    detection (threshold ``iou_match_thr``), with no embedding and no Mahalanobis gate; stage 2
    then cannot add matches (same cost on a subset), and everything else (unconfirmed tracks,
    new tracks, lost buffer, duplicates, output filter) is unchanged. Embeddings may be omitted.

    Args:
        motion (dict): Config of the motion model, mmdet's ``KalmanFilter`` by default.
        obj_score_thr (float): Detections with a score strictly above it are used.
            0.4 (FairMOT default), 0.3 for MOT15 and MOT20.
        init_track_thr (float, optional): A detection left unmatched starts a track when its
            score is at least this. Defaults to ``obj_score_thr`` (FairMOT's ``det_thresh``).
        with_appearance (bool): Stage 1 on appearance + motion (``True``) or on IoU only.
        embedding_momentum (float): Weight of the old embedding in the smoothing. 0.9.
        appearance_weight (float): Weight of the cosine distance in stage 1. 0.98.
        gating_threshold (float): Gate on the squared Mahalanobis distance. 9.4877.
        appearance_match_thr (float): Stage-1 cost threshold. 0.4.
        iou_match_thr (float): Stage-2 IoU-distance threshold (and stage 1 of the IoU-only
            variant). 0.5.
        unconfirmed_match_thr (float): IoU-distance threshold for unconfirmed tracks. 0.7.
        duplicate_iou_dist (float): Tracked/lost pairs closer than this are duplicates. 0.15.
        frame_rate (float): Frame rate of a video whose frames carry no ``fps`` in their
            metainfo (and of :meth:`track_detections` without ``frame_rate``). 30. A video's
            own rate (``fps``, e.g. from ``MOTChallengeVideoDataset`` or
            ``tools/demo/track_video.py``) replaces it from that video's frame 0 on.
        track_buffer (int): Lost-track buffer in frames at 30 fps. 30. Lost tracks are removed
            once ``frame_id - last_matched_frame > int(video_rate / 30 * track_buffer)``
            (:attr:`max_time_lost`, for the current video).
        min_box_area (float, optional): Reported boxes need ``w * h >`` this. 100; ``None``
            disables.
        max_aspect_ratio (float, optional): Reported boxes need ``w / h <=`` this. 1.6; ``None``
            disables.
        output_boxes (str): ``'kalman'`` reports the Kalman-filtered box (FairMOT), ``'detection'``
            the matched detection box (mmdet's trackers).
        embedding_field (str): Field of ``pred_instances`` holding the embeddings in
            :meth:`track`. Defaults to ``'embeddings'``.
        class_aware (bool): Forbid matching a detection to a track of another label. A no-op for
            the single-class pedestrian setting. Defaults to True.
    """

    def __init__(
        self,
        motion: dict | None = None,
        obj_score_thr: float = 0.4,
        init_track_thr: float | None = None,
        with_appearance: bool = True,
        embedding_momentum: float = 0.9,
        appearance_weight: float = 0.98,
        gating_threshold: float = CHI2_95_4DOF,
        appearance_match_thr: float = 0.4,
        iou_match_thr: float = 0.5,
        unconfirmed_match_thr: float = 0.7,
        duplicate_iou_dist: float = 0.15,
        frame_rate: float = 30.0,
        track_buffer: int = 30,
        min_box_area: float | None = 100.0,
        max_aspect_ratio: float | None = 1.6,
        output_boxes: str = "kalman",
        embedding_field: str = "embeddings",
        class_aware: bool = True,
    ) -> None:
        if output_boxes not in ("kalman", "detection"):
            raise ValueError(
                f"JDETracker: output_boxes must be 'kalman' or 'detection', got {output_boxes!r}"
            )
        lost_track_buffer(frame_rate, track_buffer)  # check both before anything is built
        self.frame_rate = frame_rate
        self.track_buffer = track_buffer
        self.reset()  # the buffer from ``frame_rate``
        # built like mmdet's ByteTracker builds its motion model
        self.motion = TASK_UTILS.build(motion if motion is not None else dict(type="KalmanFilter"))
        self.obj_score_thr = obj_score_thr
        self.init_track_thr = obj_score_thr if init_track_thr is None else init_track_thr
        self.with_appearance = with_appearance
        self.embedding_momentum = embedding_momentum
        self.appearance_weight = appearance_weight
        self.gating_threshold = gating_threshold
        self.appearance_match_thr = appearance_match_thr
        self.iou_match_thr = iou_match_thr
        self.unconfirmed_match_thr = unconfirmed_match_thr
        self.duplicate_iou_dist = duplicate_iou_dist
        self.min_box_area = min_box_area
        self.max_aspect_ratio = max_aspect_ratio
        self.output_boxes = output_boxes
        self.embedding_field = embedding_field
        self.class_aware = class_aware

    def reset(self) -> None:
        """Forget every track (called at frame 0 of each video); back to the config's rate."""
        self.num_tracks = 0
        self.tracks: dict[int, Tracklet] = {}
        self.last_frame_id: int | None = None
        #: detections of this video dropped for a NaN or infinite score, box or embedding
        self.num_dropped_non_finite = 0
        self.set_video_frame_rate(self.frame_rate)

    def set_video_frame_rate(self, frame_rate: float) -> None:
        """Use the current video's frame rate for its lost-track buffer (:attr:`max_time_lost`).

        Args:
            frame_rate (float): Frames per second of the video (> 0).

        Raises:
            ValueError: ``frame_rate <= 0``.
        """
        self.max_time_lost = lost_track_buffer(frame_rate, self.track_buffer)
        self.video_frame_rate = float(frame_rate)

    def tracks_with_status(self, status: TrackStatus) -> list[Tracklet]:
        """Tracks in a given status, in creation order.

        Args:
            status (TrackStatus): ``TRACKED`` or ``LOST``.

        Returns:
            list[Tracklet]: The matching tracks.
        """
        return [track for track in self.tracks.values() if track.status == status]

    def track(
        self,
        model: torch.nn.Module | None = None,
        img: Tensor | None = None,
        data_sample: DetDataSample | None = None,
        **kwargs: Any,
    ) -> InstanceData:
        """Track the detections of one frame (mmdet tracker interface).

        Args:
            model (nn.Module, optional): The MOT model; unused (the embeddings are already in
                ``pred_instances``), accepted for mmdet's interface.
            img (Tensor, optional): ``[T, C, H, W]`` frame; unused, accepted for the interface.
            data_sample (DetDataSample): Its ``metainfo['frame_id']`` (0 starts a new video),
                optionally ``metainfo['fps']`` (the video's frame rate, for the lost-track
                buffer; the config's ``frame_rate`` when absent) and
                ``pred_instances`` with ``bboxes [N, 4]`` (xyxy, pixels), ``scores [N]``,
                ``labels [N]`` and, with appearance, ``embeddings [N, D]`` (field name
                ``embedding_field``).
            **kwargs: Ignored (mmdet passes e.g. ``rescale``).

        Returns:
            InstanceData: See :meth:`track_detections`.
        """
        if data_sample is None:
            raise TypeError("JDETracker.track: data_sample is required")
        if "frame_id" not in data_sample.metainfo:
            raise KeyError("JDETracker.track: data_sample.metainfo has no 'frame_id'")
        pred = data_sample.pred_instances
        embeddings = None
        if self.with_appearance:
            if self.embedding_field not in pred:
                raise KeyError(
                    f"JDETracker.track: data_sample.pred_instances has no "
                    f"'{self.embedding_field}' (appearance association needs one embedding "
                    f"per box; set with_appearance=False for IoU-only)"
                )
            embeddings = pred.get(self.embedding_field)
        return self.track_detections(
            bboxes=pred.bboxes,
            scores=pred.scores,
            frame_id=int(data_sample.metainfo["frame_id"]),
            embeddings=embeddings,
            labels=pred.get("labels", None),
            frame_rate=data_sample.metainfo.get("fps", None),
        )

    def track_detections(
        self,
        bboxes: ArrayLike,
        scores: ArrayLike,
        frame_id: int,
        embeddings: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        frame_rate: float | None = None,
    ) -> InstanceData:
        """Associate one frame's detections to the tracks and update them.

        Args:
            bboxes (Tensor | np.ndarray): ``[N, 4]`` boxes ``(x1, y1, x2, y2)`` in pixels.
            scores (Tensor | np.ndarray): ``[N]`` detection scores.
            frame_id (int): Frame index; 0 resets the tracker (new video), otherwise it must
                grow from call to call.
            embeddings (Tensor | np.ndarray, optional): ``[N, D]`` appearance embeddings
                (normalised here); required when ``with_appearance``.
            labels (Tensor | np.ndarray, optional): ``[N]`` class labels; zeros if omitted.
            frame_rate (float, optional): The video's frame rate (sets :attr:`max_time_lost`
                from this frame on); omitted, the video keeps the rate it has (the config's
                ``frame_rate`` from frame 0 on).

        Returns:
            InstanceData: The confirmed tracks of this frame that pass the output filter,
            sorted by id: ``bboxes [M, 4]`` (xyxy), ``scores [M]``, ``labels [M]`` and
            ``instances_id [M]``; tensors on the device (and float dtype) of ``bboxes`` when it
            is a tensor, else on the CPU.
        """
        boxes_np, scores_np, embeds_np, labels_np = self._check_inputs(
            bboxes, scores, embeddings, labels
        )
        if frame_id == 0:
            self.reset()
        if frame_rate is not None:
            self.set_video_frame_rate(float(frame_rate))
        if self.last_frame_id is not None and frame_id <= self.last_frame_id:
            raise ValueError(
                f"JDETracker: frame_id must increase within a video (got {frame_id} after "
                f"{self.last_frame_id}); frame_id 0 starts a new video"
            )
        is_first_frame = self.last_frame_id is None
        self.last_frame_id = frame_id

        # A NaN or infinite score, box or embedding (a diverged or overflowing detector) cannot
        # be associated; such detections are dropped rather than ending a long run.
        finite = np.isfinite(boxes_np).all(axis=1) & np.isfinite(scores_np)
        if embeds_np is not None:
            finite &= np.isfinite(embeds_np).all(axis=1)
        if not finite.all():
            self._note_non_finite(frame_id, int((~finite).sum()))

        # Detections that take part: above the score threshold and with a representable box.
        with np.errstate(invalid="ignore"):  # inf - inf in the dropped rows
            widths = boxes_np[:, 2] - boxes_np[:, 0]
            heights = boxes_np[:, 3] - boxes_np[:, 1]
        keep = finite & (scores_np > self.obj_score_thr) & (widths > 0) & (heights > 0)
        dets = _Detections(
            boxes=boxes_np[keep],
            xyah=xyxy_to_cxcyah(boxes_np[keep]),
            scores=scores_np[keep],
            labels=labels_np[keep],
            embeddings=None if embeds_np is None else embeds_np[keep],
        )

        unconfirmed = [
            t for t in self.tracks_with_status(TrackStatus.TRACKED) if not t.is_activated
        ]
        pool = [t for t in self.tracks.values() if t.is_activated]
        lost_before = [t for t in pool if t.status == TrackStatus.LOST]
        self._predict(pool)

        # Stage 1: confirmed tracks (tracked and lost) on appearance + motion (or IoU).
        if self.with_appearance:
            cost = self._appearance_motion_cost(pool, dets)
            threshold = self.appearance_match_thr
        else:
            cost = self._iou_cost(pool, dets.boxes, dets.labels)
            threshold = self.iou_match_thr
        matches, unmatched_pool, remaining = linear_assignment(cost, threshold)
        for track_idx, det_idx in matches:
            self._apply_match(pool[track_idx], dets, int(det_idx), frame_id)

        # Stage 2: the remaining tracked (not lost) tracks on IoU.
        still_tracked = [pool[i] for i in unmatched_pool if pool[i].status == TrackStatus.TRACKED]
        cost = self._iou_cost(still_tracked, dets.boxes[remaining], dets.labels[remaining])
        matches, unmatched_tracked, unmatched_dets = linear_assignment(cost, self.iou_match_thr)
        for track_idx, det_idx in matches:
            self._apply_match(still_tracked[track_idx], dets, int(remaining[det_idx]), frame_id)
        for track_idx in unmatched_tracked:
            still_tracked[track_idx].status = TrackStatus.LOST
        remaining = remaining[unmatched_dets]

        # Unconfirmed tracks (one frame old): IoU with a looser threshold; unmatched are removed.
        cost = self._iou_cost(unconfirmed, dets.boxes[remaining], dets.labels[remaining])
        matches, unmatched_new, unmatched_dets = linear_assignment(cost, self.unconfirmed_match_thr)
        for track_idx, det_idx in matches:
            self._apply_match(unconfirmed[track_idx], dets, int(remaining[det_idx]), frame_id)
        for track_idx in unmatched_new:
            del self.tracks[unconfirmed[track_idx].track_id]
        remaining = remaining[unmatched_dets]

        # New tracks from confident leftover detections.
        for det_idx in remaining[dets.scores[remaining] >= self.init_track_thr]:
            self._start_track(dets, int(det_idx), frame_id, activated=is_first_frame)

        # Lost tracks past the buffer (checked on the tracks that were lost before this frame).
        for track in lost_before:
            if track.status == TrackStatus.LOST and frame_id - track.frame_id > self.max_time_lost:
                del self.tracks[track.track_id]

        self._remove_duplicates()
        return self._report(bboxes)

    def _check_inputs(
        self,
        bboxes: ArrayLike,
        scores: ArrayLike,
        embeddings: ArrayLike | None,
        labels: ArrayLike | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """Convert the inputs to numpy and check their shapes (clear errors, no silent fixes)."""
        boxes_np = _to_numpy(bboxes)
        if boxes_np.ndim != 2 or boxes_np.shape[1] != 4:
            raise ValueError(f"JDETracker: bboxes must be [N, 4] (xyxy), got {boxes_np.shape}")
        num = len(boxes_np)
        # Scores keep their own float type: thresholds then compare in the detector's precision
        # (float32 0.4 is not "> 0.4"), as FairMOT's tensor comparison does.
        scores_np = _to_numpy(scores, dtype=None).reshape(-1)
        if not np.issubdtype(scores_np.dtype, np.floating):
            scores_np = scores_np.astype(np.float64)
        if len(scores_np) != num:
            raise ValueError(f"JDETracker: {num} bboxes but {len(scores_np)} scores")
        labels_np = (
            np.zeros(num, dtype=np.int64) if labels is None else _to_numpy(labels, np.int64)
        ).reshape(-1)
        if len(labels_np) != num:
            raise ValueError(f"JDETracker: {num} bboxes but {len(labels_np)} labels")
        embeds_np = None
        if self.with_appearance:
            if embeddings is None:
                raise ValueError(
                    "JDETracker: embeddings [N, D] are required with with_appearance=True"
                )
            embeds_np = _to_numpy(embeddings)
            if embeds_np.ndim != 2 or len(embeds_np) != num:
                raise ValueError(
                    f"JDETracker: embeddings must be [N={num}, D], got {embeds_np.shape}"
                )
        return boxes_np, scores_np, embeds_np, labels_np

    def _note_non_finite(self, frame_id: int, count: int) -> None:
        """Count detections dropped for non-finite values; log the first frame of a video."""
        if self.num_dropped_non_finite == 0:
            MMLogger.get_current_instance().warning(
                f"JDETracker: frame {frame_id}: {count} detection(s) with a NaN or infinite "
                "score, box or embedding dropped (a diverged or overflowing detector?); later "
                "ones in this video are dropped too, counted in num_dropped_non_finite."
            )
        self.num_dropped_non_finite += count

    def _predict(self, tracks: list[Tracklet]) -> None:
        """Kalman-predict tracks; non-tracked ones get their height velocity zeroed first."""
        for track in tracks:
            mean = track.mean.copy()
            if track.status != TrackStatus.TRACKED:
                # A lost box should not keep growing or shrinking while unseen.
                mean[7] = 0.0
            track.mean, track.covariance = self.motion.predict(mean, track.covariance)

    def _label_mask(self, track_labels: np.ndarray, det_labels: np.ndarray) -> np.ndarray:
        """``[T, N]`` True where a track may not take a detection (different class)."""
        if not self.class_aware:
            return np.zeros((len(track_labels), len(det_labels)), dtype=bool)
        return track_labels[:, None] != det_labels[None, :]

    def _appearance_motion_cost(self, tracks: list[Tracklet], dets: _Detections) -> np.ndarray:
        """Stage-1 cost ``[T, N]`` (:func:`fuse_motion` of cosine and Mahalanobis)."""
        if not tracks or len(dets.scores) == 0:
            return np.zeros((len(tracks), len(dets.scores)))
        assert dets.embeddings is not None  # checked in _check_inputs
        track_embeds = [t.embedding for t in tracks if t.embedding is not None]
        if len(track_embeds) != len(tracks):
            raise RuntimeError("JDETracker: a track has no embedding in appearance mode")
        cost = fuse_motion(
            embedding_distance(np.stack(track_embeds), dets.embeddings),
            squared_mahalanobis(
                self.motion,
                np.stack([t.mean for t in tracks]),
                np.stack([t.covariance for t in tracks]),
                dets.xyah,
            ),
            self.appearance_weight,
            self.gating_threshold,
        )
        cost[self._label_mask(np.array([t.label for t in tracks]), dets.labels)] = np.inf
        return cost

    def _iou_cost(
        self, tracks: list[Tracklet], det_boxes: np.ndarray, det_labels: np.ndarray
    ) -> np.ndarray:
        """IoU-distance cost ``[T, N]`` between the tracks' Kalman boxes and detections."""
        if not tracks or len(det_boxes) == 0:
            return np.zeros((len(tracks), len(det_boxes)))
        cost = box_iou_distance(np.stack([t.bbox_xyxy for t in tracks]), det_boxes)
        cost[self._label_mask(np.array([t.label for t in tracks]), det_labels)] = np.inf
        return cost

    def _apply_match(self, track: Tracklet, dets: _Detections, det_idx: int, frame_id: int) -> None:
        """Update (or re-activate) a track with its matched detection."""
        track.mean, track.covariance = self.motion.update(
            track.mean, track.covariance, dets.xyah[det_idx]
        )
        if dets.embeddings is not None:
            track.embedding = smooth_embedding(
                track.embedding, dets.embeddings[det_idx], self.embedding_momentum
            )
        # FairMOT keeps the old score on re-activation; reporting the score of the detection
        # that is output in this frame is what an evaluator expects.
        track.score = float(dets.scores[det_idx])
        track.raw_bbox = dets.boxes[det_idx].copy()
        track.frame_id = frame_id
        track.status = TrackStatus.TRACKED
        track.is_activated = True

    def _start_track(self, dets: _Detections, det_idx: int, frame_id: int, activated: bool) -> None:
        """Create a track from an unmatched detection (ids are given at creation, like FairMOT)."""
        mean, covariance = self.motion.initiate(dets.xyah[det_idx].copy())
        track_id = self.num_tracks
        self.num_tracks += 1
        self.tracks[track_id] = Tracklet(
            track_id=track_id,
            mean=mean,
            covariance=covariance,
            embedding=None
            if dets.embeddings is None
            else smooth_embedding(None, dets.embeddings[det_idx]),
            score=float(dets.scores[det_idx]),
            label=int(dets.labels[det_idx]),
            start_frame=frame_id,
            frame_id=frame_id,
            raw_bbox=dets.boxes[det_idx].copy(),
            is_activated=activated,
        )

    def _remove_duplicates(self) -> None:
        """Drop the shorter-lived track of each tracked/lost pair with IoU distance < 0.15."""
        tracked = self.tracks_with_status(TrackStatus.TRACKED)
        lost = self.tracks_with_status(TrackStatus.LOST)
        if not tracked or not lost:
            return
        dist = box_iou_distance(
            np.stack([t.bbox_xyxy for t in tracked]), np.stack([t.bbox_xyxy for t in lost])
        )
        pairs_tracked, pairs_lost = np.nonzero(dist < self.duplicate_iou_dist)
        tracked_age = np.array([t.age for t in tracked])[pairs_tracked]
        lost_age = np.array([t.age for t in lost])[pairs_lost]
        # A strictly older tracked track wins; on a tie the lost one is kept (FairMOT's rule).
        drop = [lost[i] for i in pairs_lost[tracked_age > lost_age]]
        drop += [tracked[i] for i in pairs_tracked[tracked_age <= lost_age]]
        for track in drop:
            self.tracks.pop(track.track_id, None)

    def _report(self, like: ArrayLike) -> InstanceData:
        """Confirmed tracked tracks that pass the output filter, as an ``InstanceData``."""
        tracks = sorted(
            (t for t in self.tracks_with_status(TrackStatus.TRACKED) if t.is_activated),
            key=lambda t: t.track_id,
        )
        boxes = np.array(
            [t.bbox_xyxy if self.output_boxes == "kalman" else t.raw_bbox for t in tracks],
            dtype=np.float64,
        ).reshape(-1, 4)
        with np.errstate(invalid="ignore"):
            widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        # A Kalman box can degenerate (a shrinking track's predicted height through zero);
        # such a box is never reported, whatever the configurable filters say.
        keep = np.isfinite(boxes).all(axis=1) & (widths > 0) & (heights > 0)
        if self.min_box_area is not None:
            keep &= widths * heights > self.min_box_area
        if self.max_aspect_ratio is not None:
            keep &= widths <= self.max_aspect_ratio * heights
        device = like.device if isinstance(like, Tensor) else torch.device("cpu")
        dtype = like.dtype if isinstance(like, Tensor) and like.is_floating_point() else None
        dtype = dtype or torch.float32
        results = InstanceData()
        results.bboxes = torch.as_tensor(boxes[keep], dtype=dtype, device=device)
        results.scores = torch.as_tensor(
            np.array([t.score for t in tracks])[keep], dtype=dtype, device=device
        ).reshape(-1)
        results.labels = torch.as_tensor(
            np.array([t.label for t in tracks], dtype=np.int64)[keep], device=device
        ).reshape(-1)
        results.instances_id = torch.as_tensor(
            np.array([t.track_id for t in tracks], dtype=np.int64)[keep], device=device
        ).reshape(-1)
        return results
