"""MOT models: TDT (one- and two-stage), FairMOT, MOTRv2 and VSD-MOT."""

from mmdistillmot.models.mot.fairmot import FairMOT
from mmdistillmot.models.mot.motrv2 import MOTRv2
from mmdistillmot.models.mot.tdt import TDT, TwoStageTracker
from mmdistillmot.models.mot.vsd import VSDMOT

__all__ = ["FairMOT", "MOTRv2", "TDT", "TwoStageTracker", "VSDMOT"]
