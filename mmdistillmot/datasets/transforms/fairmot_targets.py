"""FairMOT's CenterNet training targets, built in the dataloader workers (as FairMOT does)."""

from __future__ import annotations

import math
from typing import Any

import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes
from mmengine.structures import BaseDataElement

from mmdistillmot.models.dense_heads.centernet_targets import centernet_image_targets

__all__ = ["BuildFairMOTTargets", "TARGETS_FIELD"]

#: Name of the data-sample field holding the targets (read by ``FairMOTHead.loss``).
TARGETS_FIELD = "centernet_targets"


def _numpy(value: Any) -> Any:
    """A tensor / ``BaseBoxes`` as a CPU numpy array."""
    tensor = value.tensor if isinstance(value, BaseBoxes) else value
    return tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else tensor


@TRANSFORMS.register_module()
class BuildFairMOTTargets(BaseTransform):
    """Add every frame's CenterNet targets to its packed data sample.

    Runs after the packer (``PackTrackInputs`` or ``PackDetInputs``), on exactly the boxes the
    head would see (``gt_instances``: ``bboxes`` in network-input pixels, ``labels``, optional
    ``instances_ids``), and computes what
    :func:`~mmdistillmot.models.dense_heads.centernet_targets.build_centernet_targets` computes
    in the loss otherwise, with identical values, on the stride-``stride`` grid of the input
    padded to a multiple of ``pad_size_divisor`` (the data preprocessor's padding). Each
    ``DetDataSample`` (each frame of a ``TrackDataSample``) gets a field ``centernet_targets``,
    a ``BaseDataElement`` with::

        heatmap     float32 [num_classes, H, W]
        indices     int64   [n]      flat index y * W + x of each centre
        mask        bool    [n]      True for boxes with a target
        ltrb        float32 [n, 4]
        offset      float32 [n, 2]
        identities  int64   [n]      -1 = none

    (``n = min(len(gt_instances), max_objects)``) and, as metainfo, the settings they were
    built with, which :class:`~mmdistillmot.models.dense_heads.FairMOTHead` checks against its
    own before using them.

    Required keys: ``inputs`` (``[3, H, W]`` or ``[T, 3, H, W]``), ``data_samples``.

    Modified keys: ``data_samples`` (the ``centernet_targets`` field of every frame).

    Args:
        stride: Input pixels per output cell (the head's ``stride``).
        num_classes: Heatmap channels (the head's ``num_classes``).
        min_overlap: ``min_overlap`` of the Gaussian radius (the head's).
        max_objects: Objects per image with targets (the head's).
        pad_size_divisor: The data preprocessor's ``pad_size_divisor``: the network sees the
            image padded at the bottom and right to a multiple of it.

    Raises:
        ValueError: The padded input size is not a multiple of ``stride``.
    """

    def __init__(
        self,
        stride: int = 4,
        num_classes: int = 1,
        min_overlap: float = 0.7,
        max_objects: int = 500,
        pad_size_divisor: int = 1,
    ) -> None:
        self.stride = int(stride)
        self.num_classes = int(num_classes)
        self.min_overlap = float(min_overlap)
        self.max_objects = int(max_objects)
        self.pad_size_divisor = int(pad_size_divisor)

    def settings(self) -> dict[str, Any]:
        """The settings recorded with the targets (the head compares them with its own)."""
        return dict(
            stride=self.stride,
            num_classes=self.num_classes,
            min_overlap=self.min_overlap,
            max_objects=self.max_objects,
        )

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(H, W)`` of the output grid for an input of ``height x width`` pixels."""
        divisor = self.pad_size_divisor
        padded = (math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor)
        if padded[0] % self.stride or padded[1] % self.stride:
            raise ValueError(
                f"BuildFairMOTTargets: input {height}x{width} (padded {padded[0]}x{padded[1]}) "
                f"is not a multiple of stride {self.stride}; set pad_size_divisor to the data "
                "preprocessor's."
            )
        return padded[0] // self.stride, padded[1] // self.stride

    def transform(self, results: dict) -> dict:
        """Add ``centernet_targets`` to every frame of ``results['data_samples']``.

        Args:
            results: The packer's output.

        Returns:
            The same dict.

        Raises:
            KeyError: ``inputs`` or ``data_samples`` is missing (not after a packer).
        """
        if "inputs" not in results or "data_samples" not in results:
            raise KeyError(
                "BuildFairMOTTargets needs the packed 'inputs' and 'data_samples': put it after "
                "PackTrackInputs / PackDetInputs."
            )
        height, width = results["inputs"].shape[-2:]
        grid = self.grid_shape(int(height), int(width))
        sample = results["data_samples"]
        frames = sample.video_data_samples if hasattr(sample, "video_data_samples") else [sample]
        settings = self.settings()
        for frame in frames:
            gt = frame.gt_instances
            ids = gt.instances_ids if "instances_ids" in gt else None
            targets = centernet_image_targets(
                _numpy(gt.bboxes),
                _numpy(gt.labels),
                None if ids is None else _numpy(ids),
                grid,
                **settings,
            )
            frame.set_field(
                BaseDataElement(
                    metainfo=settings,
                    heatmap=torch.from_numpy(targets.heatmap),
                    indices=torch.from_numpy(targets.indices),
                    mask=torch.from_numpy(targets.mask),
                    ltrb=torch.from_numpy(targets.ltrb),
                    offset=torch.from_numpy(targets.offset),
                    identities=torch.from_numpy(targets.identities),
                ),
                TARGETS_FIELD,
            )
        return results

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args}, pad_size_divisor={self.pad_size_divisor})"
