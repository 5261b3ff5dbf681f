"""Any torchreid network (e.g. ResNet-50) as a frozen Re-ID teacher, cropping like OSNetTeacher.

TDT's Table 3 compares three teachers trained on MSMT17: torchreid's ResNet-50 (2048-d),
OSNet-small and OSNet-large (512-d). :class:`OSNetTeacher` builds only OSNet architectures;
this class reuses all of its behaviour (box cropping, ImageNet normalisation, chunked batches,
L2 normalisation, weight-file handling, fingerprint) by inheritance and only widens the set of
torchreid architectures it builds.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmdet.registry import MODELS
from torch import nn

from mmdistillmot.models.teachers.base_teacher import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BaseTeacher,
    ChannelOrder,
    Precision,
)
from mmdistillmot.models.teachers.osnet_teacher import OSNET_ARCHS, CropMode, OSNetTeacher

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


def _build_torchreid_model(arch: str) -> nn.Module:
    """Build a torchreid network without any download (``pretrained=False``).

    Args:
        arch: One of :data:`TORCHREID_ARCHS`.

    Returns:
        The network; its eval-mode forward maps ``[K, 3, H, W]`` crops to ``[K, feature_dim]``.
    """
    try:
        from torchreid.reid.models import build_model
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "TorchreidTeacher needs torchreid 0.2.5 (`torchreid.reid.models`) with tensorboard, "
            f"gdown, opencv-python and scipy installed beside it: {err}"
        ) from err
    # num_classes only sizes the training classifier, which the teacher drops.
    return build_model(arch, num_classes=1, loss="softmax", pretrained=False)


@MODELS.register_module()
class TorchreidTeacher(OSNetTeacher):
    """Frozen torchreid network returning one Re-ID embedding per box.

    Everything but the network is :class:`OSNetTeacher`'s: crops of ``crop_size`` (256x128),
    RGB with ImageNet mean/std, the eval-mode torchreid feature (ResNet-50: global average
    pooling of the last stage, 2048-d), optionally L2-normalised. Weight files are read in
    torchreid's formats with the classifier (of any size) dropped.

    Args:
        arch: One of :data:`TORCHREID_ARCHS` (default ``'resnet50'``).
        weights: Local weight file (required unless ``allow_random_init``).
        allow_random_init: Run with random weights (tests only).
        channel_order: Channel order of the raw frames (``'bgr'`` from mmdet's loader).
        precision: See :class:`BaseTeacher`.
        crop_size: ``(height, width)`` of the crops.
        normalize_embeddings: L2-normalise each embedding.
        crop_mode: ``'roi_align'`` or ``'resize'`` (see :class:`OSNetTeacher`).
        clip_boxes: Clip boxes to the frame before cropping.
        max_crops_per_batch: Crops per network call.
    """

    def __init__(
        self,
        arch: str = "resnet50",
        weights: str | None = None,
        allow_random_init: bool = False,
        channel_order: ChannelOrder = "bgr",
        precision: Precision = "auto",
        crop_size: Sequence[int] = (256, 128),
        normalize_embeddings: bool = True,
        crop_mode: CropMode = "roi_align",
        clip_boxes: bool = True,
        max_crops_per_batch: int = 256,
    ) -> None:
        if arch not in TORCHREID_ARCHS:
            raise ValueError(
                f"TorchreidTeacher: arch must be one of {TORCHREID_ARCHS}, got {arch!r}."
            )
        if crop_mode not in ("roi_align", "resize"):
            raise ValueError(
                f"TorchreidTeacher: crop_mode must be 'roi_align' or 'resize', got {crop_mode!r}."
            )
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(
                f"TorchreidTeacher: crop_size must be (height, width), got {crop_size}."
            )
        if max_crops_per_batch < 1:
            raise ValueError("TorchreidTeacher: max_crops_per_batch must be >= 1.")
        # OSNetTeacher.__init__ builds OSNet names only: set up from BaseTeacher, then give the
        # attributes OSNetTeacher's crop / embed methods read.
        BaseTeacher.__init__(
            self,
            weights=weights,
            allow_random_init=allow_random_init,
            channel_order=channel_order,
            precision=precision,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )
        self.arch = arch
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.normalize_embeddings = normalize_embeddings
        self.crop_mode: CropMode = crop_mode
        self.clip_boxes = clip_boxes
        self.max_crops_per_batch = max_crops_per_batch
        self.model = _build_torchreid_model(arch)
        self.model.classifier = nn.Identity()
        self.embed_dim = int(getattr(self.model, "feature_dim", 512))
        self.load_and_freeze()
