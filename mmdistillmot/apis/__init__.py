"""High-level APIs: tracking a user's own footage."""

from mmdistillmot.apis.video_tracking import (
    FrameSource,
    VideoTracker,
    describe_thresholds,
    load_public_detections,
    public_detection_embeddings,
    public_detector_note,
    read_seqinfo_frame_rate,
    tracks_to_mot_rows,
)

__all__ = [
    "FrameSource",
    "VideoTracker",
    "describe_thresholds",
    "load_public_detections",
    "public_detection_embeddings",
    "public_detector_note",
    "read_seqinfo_frame_rate",
    "tracks_to_mot_rows",
]
