"""Any torchreid network (e.g. ResNet-50) as a frozen Re-ID teacher, cropping like OSNetTeacher.

TDT's Table 3 compares three teachers trained on MSMT17: torchreid's ResNet-50 (2048-d),
OSNet-small and OSNet-large (512-d). :class:`OSNetTeacher` builds only OSNet architectures;
this class reuses all of its behaviour (box cropping, ImageNet normalisation, chunked batches,
L2 normalisation, option checks, weight-file handling, fingerprint) by inheritance and only
widens the set of torchreid architectures it builds (and defaults to ResNet-50).
"""

from __future__ import annotations

from mmdet.registry import MODELS

from mmdistillmot.models.teachers.osnet_teacher import OSNET_ARCHS, OSNetTeacher

__all__ = ["TorchreidTeacher", "TORCHREID_ARCHS"]

#: torchreid architectures this teacher builds: ResNets (GAP features: 512-d for 18/34,
#: 2048-d for 50/101/152) and every OSNet of :class:`OSNetTeacher`.
TORCHREID_ARCHS: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    *OSNET_ARCHS,
)


@MODELS.register_module()
class TorchreidTeacher(OSNetTeacher):
    """Frozen torchreid network returning one Re-ID embedding per box.

    Everything but the set of networks is :class:`OSNetTeacher`'s: crops of ``crop_size``
    (256x128), RGB with ImageNet mean/std, the eval-mode torchreid feature (ResNet-50: global
    average pooling of the last stage, 2048-d), optionally L2-normalised. Weight files are read
    in torchreid's formats with the classifier (of any size) dropped.

    Args:
        arch: One of :data:`TORCHREID_ARCHS` (default ``'resnet50'``).
        **kwargs: :class:`OSNetTeacher`'s other arguments (``weights``, ``allow_random_init``,
            ``channel_order``, ``precision``, ``crop_size``, ``normalize_embeddings``,
            ``crop_mode``, ``clip_boxes``, ``max_crops_per_batch``).
    """

    supported_archs = TORCHREID_ARCHS

    def __init__(self, arch: str = "resnet50", **kwargs) -> None:
        super().__init__(arch=arch, **kwargs)
