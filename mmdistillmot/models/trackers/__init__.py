"""Trackers of mmdistillmot: FairMOT's JDE association (one- and two-stage models)."""

from mmdistillmot.models.trackers.jde_tracker import JDETracker
from mmdistillmot.models.trackers.track_state import Tracklet, TrackStatus

__all__ = ["JDETracker", "TrackStatus", "Tracklet"]
