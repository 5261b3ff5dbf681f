"""High-level APIs: tracking a user's own footage."""

from mmdistillmot.apis.video_tracking import FrameSource, VideoTracker, load_public_detections

__all__ = ["FrameSource", "VideoTracker", "load_public_detections"]
