"""Any torchreid network as a frozen Re-ID teacher: raw frames + boxes -> one embedding per box.

TDT's Table 3 compares three teachers trained on MSMT17: torchreid's ResNet-50 (2048-d),
OSNet-small and OSNet-large (512-d). :class:`TorchreidTeacher` holds all the behaviour (box
cropping, ImageNet normalisation, chunked batches, L2 normalisation, option checks, weight-file
handling, fingerprint); :class:`~mmdistillmot.models.teachers.osnet_teacher.OSNetTeacher`
narrows it to the OSNet architectures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn
from torchvision.ops import roi_align

from mmdistillmot.models.teachers.base_teacher import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BaseTeacher,
    ChannelOrder,
    Precision,
)

__all__ = ["TorchreidTeacher", "TORCHREID_ARCHS", "OSNET_ARCHS", "build_torchreid_network"]

#: The torchreid OSNet variants (all give 512-d embeddings).
OSNET_ARCHS: tuple[str, ...] = (
    "osnet_x1_0",
    "osnet_x0_75",
    "osnet_x0_5",
    "osnet_x0_25",
    "osnet_ain_x1_0",
)
#: torchreid architectures :class:`TorchreidTeacher` builds: ResNets (GAP features: 512-d for
#: 18/34, 2048-d for 50/101/152) and every OSNet.
TORCHREID_ARCHS: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    *OSNET_ARCHS,
)

CropMode = Literal["roi_align", "resize"]


def build_torchreid_network(arch: str, owner: str) -> nn.Module:
    """Build a torchreid network without any download (``pretrained=False``).

    Args:
        arch: A torchreid architecture name (OSNet: ``[K, 3, 256, 128]`` crops -> ``[K, 512]``).
        owner: The teacher class asking, named in the error when torchreid is missing.

    Returns:
        The network; its eval-mode forward maps ``[K, 3, H, W]`` crops to
        ``[K, feature_dim]``.
    """
    try:
        # torchreid 0.2.5 from the registry is laid out as torchreid.reid.*; importing it is
        # slow (tensorboard), so only a config that builds this teacher pays for it.
        from torchreid.reid.models import build_model
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{owner} needs torchreid 0.2.5 (`torchreid.reid.models`) with tensorboard, "
            f"gdown, opencv-python and scipy installed beside it: {err}"
        ) from err
    # num_classes only sizes the training classifier, which the teacher drops.
    return build_model(arch, num_classes=1, loss="softmax", pretrained=False)


@MODELS.register_module()
class TorchreidTeacher(BaseTeacher):
    """Frozen torchreid network returning one Re-ID embedding per box.

    Preprocessing (done here, from raw frames): each box is cropped and resized to
    ``crop_size`` (256x128, height x width), converted to RGB and normalised with ImageNet
    mean/std, as torchreid trains its networks. The embedding is the network's eval-mode
    torchreid feature (OSNet: global average pooling, then Linear(512) + BatchNorm1d + ReLU;
    ResNet-50: global average pooling of the last stage, 2048-d); it is L2-normalised when
    ``normalize_embeddings`` is true (the default, as TDT's teacher embeddings are used; the
    first ``D_s`` dims taken by a student are not re-normalised).

    Cropping, ``crop_mode``:

    * ``'roi_align'`` (default): :func:`torchvision.ops.roi_align` with ``aligned=True`` and an
      adaptive sampling ratio, one call per frame for all its boxes. Each output pixel averages
      ``ceil(box_h / 256) x ceil(box_w / 128)`` bilinear samples, so large boxes are
      anti-aliased and small ones bilinearly upsampled: close to torchreid's PIL bilinear
      resize, and fast.
    * ``'resize'``: per box, an integer-pixel crop then :func:`torch.nn.functional.interpolate`
      (bilinear, antialias) to ``crop_size``; slower, closest to crop-then-resize pipelines.

    Boxes are clipped to the frame first when ``clip_boxes`` (MOT ground truth reaches past
    the frame border; a crop of the visible part is what a Re-ID model was trained on).

    Weight files: torchreid's formats (a plain state dict, one under ``state_dict``,
    ``module.`` prefixes from DataParallel), with a classifier of any size (dropped).

    Subclasses narrow :attr:`supported_archs` (and may change the default ``arch``):
    :class:`~mmdistillmot.models.teachers.osnet_teacher.OSNetTeacher`; everything else is
    shared.

    Args:
        arch: One of :attr:`supported_archs` (:data:`TORCHREID_ARCHS` here; default
            ``'resnet50'``).
        weights: Local weight file (required unless ``allow_random_init``).
        allow_random_init: Run with random weights (tests only).
        channel_order: Channel order of the raw frames (``'bgr'`` from mmdet's loader).
        precision: See :class:`BaseTeacher`.
        crop_size: ``(height, width)`` of the crops.
        normalize_embeddings: L2-normalise each embedding.
        crop_mode: ``'roi_align'`` or ``'resize'`` (see above).
        clip_boxes: Clip boxes to the frame before cropping.
        max_crops_per_batch: Crops per network call (bounds memory on crowded frames).
    """

    ignored_weight_keys = (r"^classifier\.",)
    #: torchreid architectures this class builds.
    supported_archs: tuple[str, ...] = TORCHREID_ARCHS

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
        super().__init__(
            weights=weights,
            allow_random_init=allow_random_init,
            channel_order=channel_order,
            precision=precision,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )
        name = type(self).__name__
        if arch not in self.supported_archs:
            raise ValueError(f"{name}: arch must be one of {self.supported_archs}, got {arch!r}.")
        if crop_mode not in ("roi_align", "resize"):
            raise ValueError(
                f"{name}: crop_mode must be 'roi_align' or 'resize', got {crop_mode!r}."
            )
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f"{name}: crop_size must be (height, width), got {crop_size}.")
        if max_crops_per_batch < 1:
            raise ValueError(f"{name}: max_crops_per_batch must be >= 1.")
        self.arch = arch
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.normalize_embeddings = normalize_embeddings
        self.crop_mode: CropMode = crop_mode
        self.clip_boxes = clip_boxes
        self.max_crops_per_batch = max_crops_per_batch
        self.model = build_torchreid_network(arch, name)
        # The classifier only serves training on the Re-ID set; dropping it lets a weight file
        # with any number of identities load.
        self.model.classifier = nn.Identity()
        self.embed_dim = int(getattr(self.model, "feature_dim", 512))
        self.load_and_freeze()

    def weights_module(self) -> nn.Module:
        """The torchreid network (weight files name its keys)."""
        return self.model

    def extra_fingerprint(self) -> dict[str, Any]:
        """Input size, output dim and preprocessing options."""
        return {
            "input_size": list(self.crop_size),
            "embed_dim": self.embed_dim,
            "normalize_embeddings": self.normalize_embeddings,
            "crop_mode": self.crop_mode,
            "clip_boxes": self.clip_boxes,
        }

    def forward(
        self,
        images: Tensor | Sequence[Tensor],
        boxes: Sequence[Tensor],
    ) -> list[Tensor]:
        """Embed every box of every frame.

        Args:
            images: Raw frames in ``channel_order``, uint8 (or float on the 0-255 scale):
                ``[B, 3, H, W]`` or a sequence of ``B`` tensors ``[3, H_i, W_i]``.
            boxes: ``B`` tensors ``[N_i, 4]`` of ``(x1, y1, x2, y2)`` pixel boxes in the frames'
                coordinates (mmdet ``HorizontalBoxes`` are accepted too).

        Returns:
            ``B`` float32 tensors ``[N_i, embed_dim]`` (``[0, embed_dim]`` for a frame without
            boxes), L2-normalised when ``normalize_embeddings``.
        """
        return super().forward(images, boxes)

    def extract(self, images: Tensor | Sequence[Tensor], boxes: Sequence[Tensor]) -> list[Tensor]:
        """Crop, normalise and embed (inside ``no_grad``/autocast; see :meth:`forward`).

        Args:
            images: Raw frames, [B, 3, H, W] or B tensors [3, H_i, W_i].
            boxes: B tensors [N_i, 4] of xyxy pixel boxes.

        Returns:
            B float tensors [N_i, embed_dim].
        """
        frames = self.image_list(images)
        if len(boxes) != len(frames):
            raise ValueError(
                f"{self.teacher_name}: got {len(frames)} images but {len(boxes)} box tensors."
            )
        crops, counts = [], []
        for i, (frame, frame_boxes) in enumerate(zip(frames, boxes)):
            box_tensor = getattr(frame_boxes, "tensor", frame_boxes)
            if box_tensor.dim() != 2 or box_tensor.shape[-1] != 4:
                raise ValueError(
                    f"{self.teacher_name}: boxes[{i}] must be [N, 4] xyxy, got "
                    f"{tuple(box_tensor.shape)}."
                )
            counts.append(len(box_tensor))
            if len(box_tensor):
                crops.append(self.crop(frame, box_tensor.to(frame.device, torch.float32)))
        if not crops:
            empty = frames[0].new_zeros((0, self.embed_dim)) if frames else torch.zeros(0, 0)
            return [empty for _ in counts]
        embeddings = self.embed_crops(torch.cat(crops))
        return list(embeddings.split(counts))

    def crop(self, frame: Tensor, boxes: Tensor) -> Tensor:
        """Crop and resize the boxes of one frame (still raw: input channel order, 0-255).

        Args:
            frame: ``[3, H, W]`` float frame.
            boxes: ``[N, 4]`` float xyxy pixel boxes.

        Returns:
            ``[N, 3, crop_h, crop_w]`` crops.
        """
        height, width = frame.shape[-2:]
        if self.clip_boxes:
            boxes = torch.stack(
                [
                    boxes[:, 0].clamp(0, width),
                    boxes[:, 1].clamp(0, height),
                    boxes[:, 2].clamp(0, width),
                    boxes[:, 3].clamp(0, height),
                ],
                dim=1,
            )
        if self.crop_mode == "roi_align":
            # aligned=True: box edges are pixel edges (pixel centres at +0.5), like a crop.
            return roi_align(
                frame[None],
                [boxes],
                output_size=self.crop_size,
                spatial_scale=1.0,
                sampling_ratio=-1,
                aligned=True,
            )
        crops = []
        for x1, y1, x2, y2 in boxes.tolist():
            left, top = min(int(x1), width - 1), min(int(y1), height - 1)
            right = max(left + 1, min(int(round(x2)), width))
            bottom = max(top + 1, min(int(round(y2)), height))
            patch = frame[None, :, max(top, 0) : bottom, max(left, 0) : right]
            crops.append(
                F.interpolate(
                    patch, size=self.crop_size, mode="bilinear", align_corners=False, antialias=True
                )
            )
        return torch.cat(crops)

    def embed_crops(self, crops: Tensor) -> Tensor:
        """Normalise crops and run OSNet in chunks of ``max_crops_per_batch``.

        Args:
            crops: ``[K, 3, crop_h, crop_w]`` raw crops (input channel order, 0-255).

        Returns:
            ``[K, embed_dim]`` embeddings (L2-normalised when ``normalize_embeddings``).
        """
        outputs = []
        for chunk in crops.split(self.max_crops_per_batch):
            features = self.model(self.normalize(chunk))
            outputs.append(features.float())
        embeddings = torch.cat(outputs)
        if self.normalize_embeddings:
            embeddings = F.normalize(embeddings, dim=1)
        return embeddings
