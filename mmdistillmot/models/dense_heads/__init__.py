"""dense_heads of mmdistillmot."""

from mmdistillmot.models.dense_heads.retina_embed_head import RetinaEmbedHead

__all__ = ["RetinaEmbedHead"]
