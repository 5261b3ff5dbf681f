"""mot of mmdistillmot."""

from mmdistillmot.models.mot.tdt import TDT, TwoStageTracker

__all__ = ["TDT", "TwoStageTracker"]
