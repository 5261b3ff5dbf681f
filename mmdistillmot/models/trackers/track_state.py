"""Per-track state of :class:`~mmdistillmot.models.trackers.JDETracker`.

A track is a small mutable record: the Kalman state (8-d mean ``(cx, cy, a, h, vcx, vcy, va,
vh)`` and its 8x8 covariance), a smoothed unit-norm appearance embedding, and the bookkeeping
FairMOT's association needs (status, activation flag, first and last frame).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = ["TrackStatus", "Tracklet", "smooth_embedding"]


class TrackStatus(enum.Enum):
    """Life-cycle status of a track.

    ``TRACKED``: matched in the latest frame. ``LOST``: missed, still kept for re-identification
    until the lost-track buffer expires. A removed track (buffer expired, an unconfirmed track
    left unmatched, the younger of a duplicate pair) has no status: it leaves
    ``JDETracker.tracks``.
    """

    TRACKED = "tracked"
    LOST = "lost"


def smooth_embedding(
    previous: np.ndarray | None, new: np.ndarray, momentum: float = 0.9
) -> np.ndarray:
    """Exponentially smooth a track embedding and re-normalise it (FairMOT's rule).

    ``smoothed = momentum * previous + (1 - momentum) * new / |new|``, then divided by its norm,
    so the cosine distance to a new detection stays in ``[0, 2]``.

    Args:
        previous (np.ndarray | None): Current smoothed unit embedding ``[D]``, or ``None`` for a
            new track (then the normalised ``new`` is returned).
        new (np.ndarray): Embedding of the matched detection ``[D]`` (any norm > 0).
        momentum (float): Weight of the old embedding. Defaults to 0.9.

    Returns:
        np.ndarray: The smoothed unit embedding ``[D]`` (float64).
    """
    new = np.asarray(new, dtype=np.float64)
    # A zero embedding cannot be normalised; keep it as zeros (cosine distance 1 to anything).
    new = new / max(float(np.linalg.norm(new)), 1e-12)
    if previous is None:
        return new
    smoothed = momentum * previous + (1.0 - momentum) * new
    return smoothed / max(float(np.linalg.norm(smoothed)), 1e-12)


@dataclass
class Tracklet:
    """State of one track.

    Attributes:
        track_id (int): Identity reported in ``instances_id``.
        mean (np.ndarray): Kalman mean ``[8]``: ``(cx, cy, w/h, h)`` and their velocities.
        covariance (np.ndarray): Kalman covariance ``[8, 8]``.
        embedding (np.ndarray | None): Smoothed unit appearance embedding ``[D]``; ``None`` when
            the tracker runs without appearance.
        score (float): Score of the last matched detection.
        label (int): Class label of the detection that started the track.
        start_frame (int): Frame in which the track was created.
        frame_id (int): Last frame in which the track was matched to a detection.
        status (TrackStatus): Life-cycle status.
        is_activated (bool): Whether the track has been confirmed. A track born after the first
            frame of a sequence is unconfirmed until it is matched again in a later frame; only
            confirmed tracks are reported.
        raw_bbox (np.ndarray): Last matched detection box ``[4]`` in ``(x1, y1, x2, y2)``.
    """

    track_id: int
    mean: np.ndarray
    covariance: np.ndarray
    embedding: np.ndarray | None
    score: float
    label: int
    start_frame: int
    frame_id: int
    raw_bbox: np.ndarray
    status: TrackStatus = TrackStatus.TRACKED
    is_activated: bool = False

    @property
    def age(self) -> int:
        """int: Frames between the track's creation and its last match (duplicate tie-break)."""
        return self.frame_id - self.start_frame

    @property
    def bbox_xyxy(self) -> np.ndarray:
        """np.ndarray: The Kalman state's box ``[4]`` as ``(x1, y1, x2, y2)``."""
        cx, cy, aspect, height = self.mean[:4]
        width = aspect * height
        return np.array(
            [cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], dtype=np.float64
        )
