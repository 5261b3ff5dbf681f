"""VSD-MOT: the VSD student, DSWR, their query-refiner hook into MOTRv2, the distilled model."""

from mmdistillmot.models.mot.vsd.dswr import DSWR
from mmdistillmot.models.mot.vsd.frame_tap_recorder import FrameTapRecorder
from mmdistillmot.models.mot.vsd.vsd_mot import VSDMOT
from mmdistillmot.models.mot.vsd.vsd_query_refiner import VSDQueryRefiner
from mmdistillmot.models.mot.vsd.vsd_student import VSDStudent

__all__ = ["DSWR", "FrameTapRecorder", "VSDMOT", "VSDQueryRefiner", "VSDStudent"]
