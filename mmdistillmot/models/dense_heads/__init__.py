"""Dense heads: TDT's RetinaNet embedding head and FairMOT's CenterNet-style head."""

from mmdistillmot.models.dense_heads.fairmot_head import FairMOTHead
from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead

__all__ = ["FairMOTHead", "RetinaEmbedHead"]
