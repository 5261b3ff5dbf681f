"""CenterNet training targets as FairMOT builds them (heatmap, ltrb size, offset, identity).

For every ground-truth box (pixels of the network input, ``x1, y1, x2, y2``) the box is taken
to the output grid (divided by the stride), its centre is clipped into the grid, and:

- a Gaussian of radius :func:`centernet_gaussian_radius` (``min_overlap`` 0.7) is splatted at the
  integer centre of the heatmap channel of its class, keeping the element-wise maximum where
  Gaussians overlap;
- ``ltrb`` holds the distances from the (float, clipped) centre to the left, top, right and
  bottom edges of the box, in output-grid units;
- ``offset`` holds the sub-pixel part of the centre (``centre - floor(centre)``);
- ``indices`` holds the flat index ``y * W + x`` of the integer centre, where the heads' outputs
  are gathered, and ``identities`` the identity number (-1 = none).

Boxes with a non-positive width or height on the grid get no target (FairMOT skips them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "CenterNetTargets",
    "build_centernet_targets",
    "centernet_gaussian_radius",
    "draw_gaussian",
    "gaussian_kernel",
]


def centernet_gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Radius of the heatmap Gaussian for a box of the given size (CenterNet release formula).

    CornerNet derives three cases (both corners inside, both outside, one of each) in which a
    pair of corners displaced by ``r`` still gives IoU >= ``min_overlap`` and takes the smallest
    ``r``. The CenterNet code that FairMOT uses solves each quadratic ``a r^2 + b r + c = 0`` as
    ``(b + sqrt(b^2 - 4ac)) / 2`` rather than the textbook root; this gives much larger radii
    than mmdet's corrected ``gaussian_radius`` (2.7 rather than 0.8 for a 10x10 box), so we keep
    FairMOT's formula to reproduce its heatmaps.

    Args:
        height (float): Box height on the output grid (FairMOT passes ``ceil(h)``).
        width (float): Box width on the output grid (FairMOT passes ``ceil(w)``).
        min_overlap (float): Minimum IoU to keep. Defaults to 0.7.

    Returns:
        float: The radius (not yet truncated to an integer).
    """
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2

    a2 = 4.0
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2

    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_kernel(radius: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Unnormalised 2-D Gaussian with peak 1 on a ``(2r+1) x (2r+1)`` grid, sigma = (2r+1)/6.

    Values below ``eps * max`` (machine epsilon of ``dtype``) are set to 0, as in CenterNet.

    Args:
        radius (int): Radius ``r >= 0`` in grid cells.
        dtype (torch.dtype): Output dtype. Defaults to float32.

    Returns:
        Tensor: ``[2r+1, 2r+1]`` kernel, 1 at the centre.
    """
    sigma = (2 * radius + 1) / 6
    coords = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma * sigma))
    kernel[kernel < torch.finfo(torch.float64).eps * kernel.max()] = 0
    return kernel.to(dtype)


def draw_gaussian(heatmap: Tensor, center: tuple[int, int], radius: int) -> Tensor:
    """Splat a Gaussian into ``heatmap`` in place, keeping the element-wise maximum.

    The kernel is cropped where it leaves the map.

    Args:
        heatmap (Tensor): ``[H, W]`` map, modified in place.
        center (tuple[int, int]): Integer centre ``(x, y)`` inside the map.
        radius (int): Gaussian radius in grid cells.

    Returns:
        Tensor: ``heatmap`` itself.
    """
    height, width = heatmap.shape
    x, y = center
    kernel = gaussian_kernel(radius, heatmap.dtype).to(heatmap.device)
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = kernel[radius - top : radius + bottom, radius - left : radius + right]
    if region.numel() > 0:
        torch.maximum(region, patch, out=region)
    return heatmap


@dataclass
class CenterNetTargets:
    """Dense and per-object targets of a batch (``K`` = most objects in one image, >= 1).

    Attributes:
        heatmap (Tensor): ``[B, num_classes, H, W]`` Gaussian heatmaps, 1 at object centres.
        indices (Tensor): ``[B, K]`` long, flat index ``y * W + x`` of each object's centre.
        mask (Tensor): ``[B, K]`` bool, True for real objects (the rest is padding).
        ltrb (Tensor): ``[B, K, 4]`` distances centre -> left, top, right, bottom (grid units).
        offset (Tensor): ``[B, K, 2]`` sub-pixel centre offset ``(dx, dy)`` in ``[0, 1)``.
        identities (Tensor): ``[B, K]`` long identity numbers, -1 for none or padding.
    """

    heatmap: Tensor
    indices: Tensor
    mask: Tensor
    ltrb: Tensor
    offset: Tensor
    identities: Tensor

    @property
    def num_objects(self) -> int:
        """int: Number of objects with targets in the batch."""
        return int(self.mask.sum())


def build_centernet_targets(
    batch_bboxes: Sequence[Tensor],
    batch_labels: Sequence[Tensor],
    batch_identities: Sequence[Tensor | None],
    feat_shape: tuple[int, int],
    stride: int = 4,
    num_classes: int = 1,
    min_overlap: float = 0.7,
    max_objects: int = 500,
) -> CenterNetTargets:
    """Build FairMOT's targets for a batch.

    Args:
        batch_bboxes (Sequence[Tensor]): Per image ``[N_i, 4]`` boxes ``(x1, y1, x2, y2)`` in
            pixels of the network input.
        batch_labels (Sequence[Tensor]): Per image ``[N_i]`` class labels in
            ``[0, num_classes)``.
        batch_identities (Sequence[Tensor | None]): Per image ``[N_i]`` identity numbers (-1 =
            none), or ``None`` when the image has no identity labels.
        feat_shape (tuple[int, int]): ``(H, W)`` of the output grid.
        stride (int): Input pixels per grid cell. Defaults to 4.
        num_classes (int): Heatmap channels. Defaults to 1.
        min_overlap (float): ``min_overlap`` of the Gaussian radius. Defaults to 0.7.
        max_objects (int): At most this many objects per image are kept (FairMOT: 500).

    Returns:
        CenterNetTargets: The targets, on the device of the boxes.
    """
    grid_h, grid_w = feat_shape
    batch_size = len(batch_bboxes)
    device = batch_bboxes[0].device if batch_size else torch.device("cpu")
    counts = [min(len(boxes), max_objects) for boxes in batch_bboxes]
    k = max([1, *counts])

    heatmap = torch.zeros(batch_size, num_classes, grid_h, grid_w)
    indices = torch.zeros(batch_size, k, dtype=torch.long)
    mask = torch.zeros(batch_size, k, dtype=torch.bool)
    ltrb = torch.zeros(batch_size, k, 4)
    offset = torch.zeros(batch_size, k, 2)
    identities = torch.full((batch_size, k), -1, dtype=torch.long)

    for b in range(batch_size):
        boxes = batch_bboxes[b][: counts[b]].detach().double().cpu() / stride
        labels = batch_labels[b][: counts[b]].long().cpu()
        ids = batch_identities[b]
        ids_cpu = None if ids is None else ids[: counts[b]].long().cpu()
        for j in range(counts[b]):
            x1, y1, x2, y2 = boxes[j].tolist()
            width, height = x2 - x1, y2 - y1
            if width <= 0 or height <= 0:
                continue
            label = int(labels[j])
            if not 0 <= label < num_classes:
                raise ValueError(
                    f"build_centernet_targets: image {b}, box {j} has label {label}, outside "
                    f"[0, {num_classes})"
                )
            # FairMOT clips the centre into the grid but measures ltrb to the unclipped box.
            cx = min(max((x1 + x2) / 2, 0.0), grid_w - 1.0)
            cy = min(max((y1 + y2) / 2, 0.0), grid_h - 1.0)
            cx_int, cy_int = int(cx), int(cy)
            radius = max(0, int(centernet_gaussian_radius(math.ceil(height), math.ceil(width),
                                                          min_overlap)))  # fmt: skip
            draw_gaussian(heatmap[b, label], (cx_int, cy_int), radius)
            indices[b, j] = cy_int * grid_w + cx_int
            mask[b, j] = True
            ltrb[b, j] = torch.tensor([cx - x1, cy - y1, x2 - cx, y2 - cy])
            offset[b, j] = torch.tensor([cx - cx_int, cy - cy_int])
            if ids_cpu is not None:
                identities[b, j] = int(ids_cpu[j])

    return CenterNetTargets(
        heatmap=heatmap.to(device),
        indices=indices.to(device),
        mask=mask.to(device),
        ltrb=ltrb.to(device),
        offset=offset.to(device),
        identities=identities.to(device),
    )
