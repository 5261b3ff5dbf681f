"""MOTRv2 (the baseline of VSD-MOT) written in mmdet's style."""

from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding
from mmdistillmot.models.mot.motrv2.clip_matcher import ClipMatcher
from mmdistillmot.models.mot.motrv2.motr_decoder import MOTRDecoder
from mmdistillmot.models.mot.motrv2.motrv2 import MOTRFrameOutput, MOTRv2
from mmdistillmot.models.mot.motrv2.query_denoising import QueryDenoiser
from mmdistillmot.models.mot.motrv2.query_interaction import QIMv2
from mmdistillmot.models.mot.motrv2.track_queries import TRACK_QUERY_FIELDS, make_track_queries

__all__ = [
    "ClipMatcher",
    "MOTRDecoder",
    "MOTRFrameOutput",
    "MOTRv2",
    "QIMv2",
    "QueryDenoiser",
    "TRACK_QUERY_FIELDS",
    "box_sine_embedding",
    "make_track_queries",
]
