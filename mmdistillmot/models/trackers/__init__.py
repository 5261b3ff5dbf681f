"""Trackers: FairMOT's JDE association (TDT, FairMOT) and MOTR's runtime track lifecycle."""

from mmdistillmot.models.trackers.jde_tracker import JDETracker
from mmdistillmot.models.trackers.motr_tracker import MOTRTracker
from mmdistillmot.models.trackers.track_state import Tracklet, TrackStatus

__all__ = ["JDETracker", "MOTRTracker", "TrackStatus", "Tracklet"]
