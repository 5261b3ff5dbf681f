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

Two ways to build them, with identical results: :class:`CenterNetImageTargets`, one image in
numpy (what the pipeline transform ``BuildFairMOTTargets`` runs in the dataloader workers, as
FairMOT does), batched by :func:`collate_centernet_targets`; and :func:`build_centernet_targets`,
a whole batch at once (the head's fallback for pipelines without the transform). Gaussian
kernels are computed once per radius (:func:`gaussian_kernel_array`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CenterNetImageTargets",
    "CenterNetTargets",
    "build_centernet_targets",
    "centernet_gaussian_radii",
    "centernet_gaussian_radius",
    "centernet_image_targets",
    "collate_centernet_targets",
    "draw_gaussian",
    "gaussian_kernel",
    "gaussian_kernel_array",
]


def centernet_gaussian_radii(
    heights: np.ndarray, widths: np.ndarray, min_overlap: float = 0.7
) -> np.ndarray:
    """Radii of the heatmap Gaussians of boxes of the given sizes (CenterNet release formula).

    CornerNet derives three cases (both corners inside, both outside, one of each) in which a
    pair of corners displaced by ``r`` still gives IoU >= ``min_overlap`` and takes the smallest
    ``r``. The CenterNet code that FairMOT uses solves each quadratic ``a r^2 + b r + c = 0`` as
    ``(b + sqrt(b^2 - 4ac)) / 2`` rather than the textbook root; this gives much larger radii
    than mmdet's corrected ``gaussian_radius`` (2.7 rather than 0.8 for a 10x10 box), so we keep
    FairMOT's formula to reproduce its heatmaps.

    Args:
        heights: ``[N]`` box heights on the output grid (FairMOT passes ``ceil(h)``).
        widths: ``[N]`` box widths on the output grid (FairMOT passes ``ceil(w)``).
        min_overlap: Minimum IoU to keep.

    Returns:
        float64 ``[N]`` radii (not yet truncated to integers).
    """
    height = np.asarray(heights, dtype=np.float64)
    width = np.asarray(widths, dtype=np.float64)
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1 * b1 - 4 * c1)) / 2

    a2 = 4.0
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2 * b2 - 4 * a2 * c2)) / 2

    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3 * b3 - 4 * a3 * c3)) / 2
    return np.minimum(np.minimum(r1, r2), r3)


def centernet_gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Radius of the heatmap Gaussian of one box (see :func:`centernet_gaussian_radii`).

    Args:
        height (float): Box height on the output grid (FairMOT passes ``ceil(h)``).
        width (float): Box width on the output grid (FairMOT passes ``ceil(w)``).
        min_overlap (float): Minimum IoU to keep. Defaults to 0.7.

    Returns:
        float: The radius (not yet truncated to an integer).
    """
    return float(centernet_gaussian_radii(np.array([height]), np.array([width]), min_overlap)[0])


def gaussian_kernel(radius: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Unnormalised 2-D Gaussian with peak 1 on a ``(2r+1) x (2r+1)`` grid, sigma = (2r+1)/6.

    Values below ``eps * max`` (machine epsilon of float64) are set to 0, as in CenterNet.

    Args:
        radius (int): Radius ``r >= 0`` in grid cells.
        dtype (torch.dtype): Output dtype. Defaults to float32.

    Returns:
        Tensor: ``[2r+1, 2r+1]`` kernel, 1 at the centre.
    """
    return torch.from_numpy(_gaussian_kernel_float64(radius).copy()).to(dtype)


@functools.lru_cache(maxsize=512)
def _gaussian_kernel_float64(radius: int) -> np.ndarray:
    """The float64 kernel of :func:`gaussian_kernel` (cached, read-only)."""
    sigma = (2 * radius + 1) / 6
    coords = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma * sigma))
    kernel[kernel < torch.finfo(torch.float64).eps * kernel.max()] = 0
    array = kernel.numpy()
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=512)
def gaussian_kernel_array(radius: int) -> np.ndarray:
    """float32 ``[2r+1, 2r+1]`` :func:`gaussian_kernel`, computed once per radius (read-only).

    Args:
        radius: Radius ``r >= 0`` in grid cells.

    Returns:
        The kernel; do not modify it (it is shared).
    """
    kernel = _gaussian_kernel_float64(radius).astype(np.float32)
    kernel.flags.writeable = False
    return kernel


def _kernel_window(
    shape: tuple[int, int], center: tuple[int, int], radius: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices of the map and of the kernel where a kernel centred at ``center`` overlaps it."""
    height, width = shape
    x, y = center
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    region = (slice(y - top, y + bottom), slice(x - left, x + right))
    patch = (slice(radius - top, radius + bottom), slice(radius - left, radius + right))
    return region, patch


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
    region, patch = _kernel_window(tuple(heatmap.shape), center, radius)  # type: ignore[arg-type]
    target = heatmap[region]
    if target.numel() > 0:
        kernel = gaussian_kernel(radius, heatmap.dtype).to(heatmap.device)
        torch.maximum(target, kernel[patch], out=target)
    return heatmap


@dataclass
class CenterNetImageTargets:
    """Targets of one image (numpy), one slot per box (``n = min(N, max_objects)``).

    Attributes:
        heatmap: float32 ``[num_classes, H, W]``.
        indices: int64 ``[n]`` flat index ``y * W + x`` of each centre (0 where no target).
        mask: bool ``[n]``, True for boxes with a target.
        ltrb: float32 ``[n, 4]`` distances centre -> left, top, right, bottom (grid units).
        offset: float32 ``[n, 2]`` sub-pixel centre offset ``(dx, dy)`` in ``[0, 1)``.
        identities: int64 ``[n]`` identity numbers, -1 for none.
    """

    heatmap: np.ndarray
    indices: np.ndarray
    mask: np.ndarray
    ltrb: np.ndarray
    offset: np.ndarray
    identities: np.ndarray


def centernet_image_targets(
    bboxes: np.ndarray,
    labels: np.ndarray,
    identities: np.ndarray | None,
    feat_shape: tuple[int, int],
    stride: int = 4,
    num_classes: int = 1,
    min_overlap: float = 0.7,
    max_objects: int = 500,
) -> CenterNetImageTargets:
    """Build FairMOT's targets of one image with numpy (see the module docstring).

    Args:
        bboxes: ``[N, 4]`` boxes ``(x1, y1, x2, y2)`` in pixels of the network input.
        labels: ``[N]`` class labels in ``[0, num_classes)``.
        identities: ``[N]`` identity numbers (-1 = none), or None when there are none.
        feat_shape: ``(H, W)`` of the output grid.
        stride: Input pixels per grid cell.
        num_classes: Heatmap channels.
        min_overlap: ``min_overlap`` of the Gaussian radius.
        max_objects: Only the first ``max_objects`` boxes get slots (FairMOT: 500).

    Returns:
        The targets.

    Raises:
        ValueError: A box with a target has a label outside ``[0, num_classes)``.
    """
    grid_h, grid_w = feat_shape
    boxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)[:max_objects] / stride
    count = len(boxes)
    heatmap = np.zeros((num_classes, grid_h, grid_w), dtype=np.float32)
    x1, y1, x2, y2 = boxes.T
    valid = (x2 - x1 > 0) & (y2 - y1 > 0)
    label_array = np.asarray(labels, dtype=np.int64).reshape(-1)[:count]
    bad = valid & ((label_array < 0) | (label_array >= num_classes))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"centernet_image_targets: box {j} has label {int(label_array[j])}, outside "
            f"[0, {num_classes})"
        )
    # FairMOT clips the centre into the grid but measures ltrb to the unclipped box.
    cx = np.minimum(np.maximum((x1 + x2) / 2, 0.0), grid_w - 1.0)
    cy = np.minimum(np.maximum((y1 + y2) / 2, 0.0), grid_h - 1.0)
    cx_int = np.where(valid, cx, 0).astype(np.int64)
    cy_int = np.where(valid, cy, 0).astype(np.int64)
    radii = centernet_gaussian_radii(np.ceil(y2 - y1), np.ceil(x2 - x1), min_overlap)
    radii = np.maximum(0, np.where(valid, radii, 0).astype(np.int64))
    for box in np.flatnonzero(valid):
        radius = int(radii[box])
        center = (int(cx_int[box]), int(cy_int[box]))
        region, patch = _kernel_window((grid_h, grid_w), center, radius)
        target = heatmap[int(label_array[box])][region]
        np.maximum(target, gaussian_kernel_array(radius)[patch], out=target)
    zero = np.zeros(count)
    ltrb = np.stack([cx - x1, cy - y1, x2 - cx, y2 - cy], axis=1) if count else zero[:, None]
    offset = np.stack([cx - cx_int, cy - cy_int], axis=1) if count else zero[:, None]
    if identities is None:
        ids = np.full(count, -1, dtype=np.int64)
    else:
        ids = np.asarray(identities, dtype=np.int64).reshape(-1)[:count]
    return CenterNetImageTargets(
        heatmap=heatmap,
        indices=np.where(valid, cy_int * grid_w + cx_int, 0),
        mask=valid,
        ltrb=np.where(valid[:, None], ltrb, 0).astype(np.float32).reshape(count, 4),
        offset=np.where(valid[:, None], offset, 0).astype(np.float32).reshape(count, 2),
        identities=np.where(valid, ids, -1),
    )


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


def collate_centernet_targets(
    images: Sequence[CenterNetImageTargets], device: torch.device | str = "cpu"
) -> CenterNetTargets:
    """Batch per-image targets, padding the object slots to ``K = max(1, max n)``.

    Args:
        images: One :class:`CenterNetImageTargets` per image (at least one), all with the same
            heatmap shape.
        device: Where the batch goes.

    Returns:
        The batch; padding slots have ``mask=False``, index 0, zero ltrb / offset, identity -1.

    Raises:
        ValueError: No images, or heatmaps of different shapes.
    """
    shapes = {image.heatmap.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"collate_centernet_targets: need images of one heatmap shape, {shapes}")
    batch_size = len(images)
    k = max([1, *(len(image.mask) for image in images)])
    indices = np.zeros((batch_size, k), dtype=np.int64)
    mask = np.zeros((batch_size, k), dtype=bool)
    ltrb = np.zeros((batch_size, k, 4), dtype=np.float32)
    offset = np.zeros((batch_size, k, 2), dtype=np.float32)
    identities = np.full((batch_size, k), -1, dtype=np.int64)
    for b, image in enumerate(images):
        n = len(image.mask)
        indices[b, :n] = image.indices
        mask[b, :n] = image.mask
        ltrb[b, :n] = image.ltrb
        offset[b, :n] = image.offset
        identities[b, :n] = image.identities
    heatmap = np.stack([image.heatmap for image in images]).astype(np.float32, copy=False)
    return CenterNetTargets(
        heatmap=torch.from_numpy(heatmap).to(device),
        indices=torch.from_numpy(indices).to(device),
        mask=torch.from_numpy(mask).to(device),
        ltrb=torch.from_numpy(ltrb).to(device),
        offset=torch.from_numpy(offset).to(device),
        identities=torch.from_numpy(identities).to(device),
    )


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
    """Build FairMOT's targets for a batch (:func:`centernet_image_targets` per image).

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
        CenterNetTargets: The targets, on the device of the boxes (empty batch: a
        ``[0, num_classes, H, W]`` heatmap on the CPU).

    Raises:
        ValueError: A box with a target has a label outside ``[0, num_classes)`` (the message
            names the image and the box).
    """
    device = batch_bboxes[0].device if len(batch_bboxes) else torch.device("cpu")
    images = []
    for b, (boxes, labels, ids) in enumerate(
        zip(batch_bboxes, batch_labels, batch_identities, strict=True)
    ):
        try:
            images.append(
                centernet_image_targets(
                    boxes.detach().cpu().numpy(),
                    labels.detach().cpu().numpy(),
                    None if ids is None else ids.detach().cpu().numpy(),
                    feat_shape,
                    stride=stride,
                    num_classes=num_classes,
                    min_overlap=min_overlap,
                    max_objects=max_objects,
                )
            )
        except ValueError as err:
            raise ValueError(f"build_centernet_targets: image {b}: {err}") from err
    if not images:
        return CenterNetTargets(
            heatmap=torch.zeros(0, num_classes, *feat_shape),
            indices=torch.zeros(0, 1, dtype=torch.long),
            mask=torch.zeros(0, 1, dtype=torch.bool),
            ltrb=torch.zeros(0, 1, 4),
            offset=torch.zeros(0, 1, 2),
            identities=torch.full((0, 1), -1, dtype=torch.long),
        )
    return collate_centernet_targets(images, device)
