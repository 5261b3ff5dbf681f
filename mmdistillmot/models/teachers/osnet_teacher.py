"""OSNet (torchreid) as a frozen Re-ID teacher: raw frames + boxes -> one embedding per box."""

from __future__ import annotations

from typing import Any

from mmdet.registry import MODELS

from mmdistillmot.models.teachers.torchreid_teacher import (
    OSNET_ARCHS,
    TorchreidTeacher,
    build_torchreid_network,
)

__all__ = ["OSNetTeacher", "OSNET_ARCHS", "build_torchreid_network"]


@MODELS.register_module()
class OSNetTeacher(TorchreidTeacher):
    """Frozen torchreid OSNet returning one 512-d Re-ID embedding per box.

    :class:`TorchreidTeacher` narrowed to :data:`OSNET_ARCHS` (default ``'osnet_x1_0'``): crops
    of ``crop_size`` (256x128), RGB with ImageNet mean/std, OSNet's eval-mode feature (global
    average pooling, then Linear(512) + BatchNorm1d + ReLU), optionally L2-normalised. Weight
    files are read in torchreid's formats with the classifier (of any size) dropped.

    Args:
        arch: One of :data:`OSNET_ARCHS`.
        **kwargs: :class:`TorchreidTeacher`'s other arguments (``weights``,
            ``allow_random_init``, ``channel_order``, ``precision``, ``crop_size``,
            ``normalize_embeddings``, ``crop_mode``, ``clip_boxes``, ``max_crops_per_batch``).
    """

    supported_archs = OSNET_ARCHS

    def __init__(self, arch: str = "osnet_x1_0", **kwargs: Any) -> None:
        super().__init__(arch=arch, **kwargs)
