"""Dense heads: TDT's RetinaNet and YOLOX embedding heads and FairMOT's CenterNet-style head."""

from mmdistillmot.models.dense_heads.fairmot_head import FairMOTHead
from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead
from mmdistillmot.models.dense_heads.yolox_embed_head import (
    FrozenStatsBatchNorm2d,
    YOLOXEmbedHead,
)

__all__ = ["FairMOTHead", "FrozenStatsBatchNorm2d", "RetinaEmbedHead", "YOLOXEmbedHead"]
