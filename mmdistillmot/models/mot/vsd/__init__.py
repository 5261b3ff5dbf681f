"""VSD-MOT: the VSD student, its query-refiner hook into MOTRv2, and the distilled model."""

from mmdistillmot.models.mot.vsd.frame_tap_recorder import FrameTapRecorder
from mmdistillmot.models.mot.vsd.vsd_mot import VSDMOT
from mmdistillmot.models.mot.vsd.vsd_query_refiner import VSDQueryRefiner
from mmdistillmot.models.mot.vsd.vsd_student import VSDStudent

__all__ = ["FrameTapRecorder", "VSDMOT", "VSDQueryRefiner", "VSDStudent"]
