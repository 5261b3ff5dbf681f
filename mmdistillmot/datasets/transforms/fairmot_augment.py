"""FairMOT's photometric (HSV gain) and geometric (random affine) training augmentations.

The horizontal flip of FairMOT is mmdet's ``RandomFlip(prob=0.5)``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes

__all__ = ["FairMOTHSVAugment", "FairMOTRandomAffine", "affine_matrix"]

#: Per-instance keys that mmdet's loaders and ``LoadTrackAnnotations`` put in the results.
DEFAULT_INSTANCE_KEYS = ("gt_bboxes", "gt_bboxes_labels", "gt_ignore_flags", "gt_instances_ids")


@TRANSFORMS.register_module()
class FairMOTHSVAugment(BaseTransform):
    """Multiply the saturation and value channels by random gains (FairMOT's ``augment_hsv``).

    Each gain is drawn uniformly from ``[1 - g, 1 + g]``; the scaled channel is clipped to
    255 and truncated to ``uint8``. Hue is untouched, boxes are untouched.

    Required keys: ``img`` (``uint8`` BGR, as mmcv loads it). Modified keys: ``img``.

    Args:
        saturation_gain (float): ``g`` of the saturation gain. Defaults to 0.5.
        value_gain (float): ``g`` of the value gain. Defaults to 0.5.
    """

    def __init__(self, saturation_gain: float = 0.5, value_gain: float = 0.5) -> None:
        self.saturation_gain = saturation_gain
        self.value_gain = value_gain

    @cache_randomness
    def _draw_gains(self) -> tuple[float, float]:
        """Draw the (saturation, value) gains (Python's RNG, which mmengine seeds)."""
        sat = 1.0 + random.uniform(-self.saturation_gain, self.saturation_gain)
        val = 1.0 + random.uniform(-self.value_gain, self.value_gain)
        return sat, val

    def transform(self, results: dict) -> dict:
        """Apply the gains to ``results['img']``.

        Args:
            results (dict): Pipeline results with a ``uint8`` BGR ``img`` ``[H, W, 3]``.

        Returns:
            dict: The results with the recoloured image.

        Raises:
            TypeError: When the image is not ``uint8`` with 3 channels.
        """
        img = results["img"]
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(
                f"FairMOTHSVAugment: needs a uint8 BGR image [H, W, 3], got {img.dtype} "
                f"{img.shape} (place it before Letterbox/normalisation)"
            )
        sat_gain, val_gain = self._draw_gains()
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        channels = hsv[..., 1:].astype(np.float32) * np.array([sat_gain, val_gain], np.float32)
        hsv[..., 1:] = np.clip(channels, 0, 255).astype(np.uint8)
        results["img"] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(saturation_gain={self.saturation_gain}, "
            f"value_gain={self.value_gain})"
        )


def affine_matrix(
    width: int,
    height: int,
    angle_deg: float,
    scale: float,
    translate_xy: tuple[float, float],
    shear_deg: tuple[float, float],
) -> np.ndarray:
    """FairMOT's affine map ``M = Shear @ Translate @ (Rotate+Scale about the image centre)``.

    Args:
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        angle_deg (float): Rotation in degrees (counter-clockwise on screen, OpenCV's sense).
        scale (float): Isotropic scale.
        translate_xy (tuple[float, float]): Translation ``(tx, ty)`` in pixels.
        shear_deg (tuple[float, float]): Shear angles ``(x, y)`` in degrees.

    Returns:
        np.ndarray: ``[3, 3]`` float64 matrix acting on homogeneous ``(x, y, 1)`` columns.
    """
    rotation = np.eye(3)
    rotation[:2] = cv2.getRotationMatrix2D(center=(width / 2, height / 2), angle=angle_deg,
                                           scale=scale)  # fmt: skip
    translation = np.eye(3)
    translation[0, 2], translation[1, 2] = translate_xy
    shear = np.eye(3)
    shear[0, 1] = math.tan(math.radians(shear_deg[0]))
    shear[1, 0] = math.tan(math.radians(shear_deg[1]))
    return shear @ translation @ rotation


@TRANSFORMS.register_module()
class FairMOTRandomAffine(BaseTransform):
    """FairMOT's random affine: rotation, scale, translation, shear; boxes follow.

    The image is warped with border value ``border_val``. Each box's four corners are mapped,
    their axis-aligned hull is shrunk about its centre by ``sqrt(max(|sin a|, |cos a|))`` (a
    rotated hull over-covers the object), clipped to the image when ``clip_border``, and kept
    only if ``w > min_size``, ``h > min_size``, ``area / area_before > min_area_ratio`` and
    ``max(w/h, h/w) < max_aspect_ratio`` (FairMOT's rule). Every per-instance array in
    ``instance_keys`` (boxes, labels, ignore flags, instance ids) is filtered with the same mask.

    FairMOT draws the x translation as a fraction of the image *height* and y of the width; we
    use width for x and height for y.

    Required keys: ``img``, ``gt_bboxes``. Modified keys: ``img``, ``gt_bboxes`` and the other
    ``instance_keys`` present. Added key: ``affine_matrix`` ``[3, 3]``.

    Args:
        max_rotate_degree (float): Rotation drawn from ``[-d, d]``. Defaults to 5.
        max_translate_ratio (float): Translation drawn from ``[-t, t]`` times the image size.
            Defaults to 0.1.
        scaling_ratio_range (tuple[float, float]): Scale range. Defaults to ``(0.5, 1.2)``.
        max_shear_degree (float): Both shears drawn from ``[-s, s]``. Defaults to 2.
        border_val (float): Fill value outside the warped image. Defaults to 127.5 (rounded
            to 128 for ``uint8`` images).
        clip_border (bool): Clip boxes to the image. Defaults to True.
        min_size (float): Minimum kept box width and height (exclusive). Defaults to 4.
        min_area_ratio (float): Minimum kept area relative to the box before the warp
            (exclusive). Defaults to 0.1.
        max_aspect_ratio (float): Maximum kept elongation (exclusive). Defaults to 10.
        instance_keys (Sequence[str]): Per-instance result keys filtered together.
    """

    def __init__(
        self,
        max_rotate_degree: float = 5.0,
        max_translate_ratio: float = 0.1,
        scaling_ratio_range: tuple[float, float] = (0.5, 1.2),
        max_shear_degree: float = 2.0,
        border_val: float = 127.5,
        clip_border: bool = True,
        min_size: float = 4.0,
        min_area_ratio: float = 0.1,
        max_aspect_ratio: float = 10.0,
        instance_keys: Sequence[str] = DEFAULT_INSTANCE_KEYS,
    ) -> None:
        if scaling_ratio_range[0] <= 0 or scaling_ratio_range[0] > scaling_ratio_range[1]:
            raise ValueError(
                f"FairMOTRandomAffine: scaling_ratio_range must be 0 < low <= high, got "
                f"{scaling_ratio_range}"
            )
        self.max_rotate_degree = max_rotate_degree
        self.max_translate_ratio = max_translate_ratio
        self.scaling_ratio_range = tuple(scaling_ratio_range)
        self.max_shear_degree = max_shear_degree
        self.border_val = border_val
        self.clip_border = clip_border
        self.min_size = min_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.instance_keys = tuple(instance_keys)

    @cache_randomness
    def _draw_params(self) -> dict:
        """Draw angle, scale, translation fractions and shears (Python's RNG, mmengine-seeded)."""
        translate, shear = self.max_translate_ratio, self.max_shear_degree
        return dict(
            angle=random.uniform(-self.max_rotate_degree, self.max_rotate_degree),
            scale=random.uniform(*self.scaling_ratio_range),
            translate=(
                random.uniform(-translate, translate),
                random.uniform(-translate, translate),
            ),
            shear=(random.uniform(-shear, shear), random.uniform(-shear, shear)),
        )

    def transform(self, results: dict) -> dict:
        """Warp the image and its instances.

        Args:
            results (dict): Pipeline results.

        Returns:
            dict: The warped results.
        """
        img = results["img"]
        height, width = img.shape[:2]
        params = self._draw_params()
        matrix = affine_matrix(
            width,
            height,
            params["angle"],
            params["scale"],
            (params["translate"][0] * width, params["translate"][1] * height),
            params["shear"],
        )
        value = self.border_val
        if np.issubdtype(img.dtype, np.integer):
            value = float(round(value + 1e-9))
        channels = 1 if img.ndim == 2 else img.shape[2]
        warped = cv2.warpAffine(
            img,
            matrix[:2],
            dsize=(width, height),
            flags=cv2.INTER_LINEAR,
            borderValue=(value,) * channels,
        )
        if img.ndim == 3 and warped.ndim == 2:
            warped = warped[..., None]
        results["img"] = warped
        results["affine_matrix"] = matrix

        if "gt_bboxes" in results:
            self._warp_instances(results, matrix, params["angle"], (height, width))
        return results

    def _warp_instances(
        self, results: dict, matrix: np.ndarray, angle_deg: float, img_hw: tuple[int, int]
    ) -> None:
        """Map the boxes, filter degenerate ones, and filter every per-instance array."""
        raw = results["gt_bboxes"]
        is_boxes = isinstance(raw, BaseBoxes)
        boxes = (raw.tensor.numpy() if is_boxes else np.asarray(raw)).astype(np.float64)
        num = len(boxes)
        for key in self.instance_keys:
            if key in results and len(results[key]) != num:
                raise ValueError(
                    f"FairMOTRandomAffine: results['{key}'] has {len(results[key])} entries but "
                    f"gt_bboxes has {num}; per-instance arrays must stay aligned"
                )
        if num == 0:
            return

        area_before = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        corners = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(-1, 2)  # (x1y1, x2y2, x1y2, x2y1)
        mapped = (np.c_[corners, np.ones(len(corners))] @ matrix.T)[:, :2].reshape(num, 4, 2)
        lo, hi = mapped.min(axis=1), mapped.max(axis=1)
        # The hull of a rotated box is larger than the object: shrink it as FairMOT does.
        radians = math.radians(angle_deg)
        reduction = max(abs(math.sin(radians)), abs(math.cos(radians))) ** 0.5
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * reduction
        new = np.concatenate([centre - half, centre + half], axis=1)
        if self.clip_border:
            height, width = img_hw
            new[:, 0::2] = new[:, 0::2].clip(0, width)
            new[:, 1::2] = new[:, 1::2].clip(0, height)

        w, h = new[:, 2] - new[:, 0], new[:, 3] - new[:, 1]
        elongation = np.maximum(w / (h + 1e-16), h / (w + 1e-16))
        keep = (
            (w > self.min_size)
            & (h > self.min_size)
            & (w * h / (area_before + 1e-16) > self.min_area_ratio)
            & (elongation < self.max_aspect_ratio)
        )
        new_boxes = new[keep].astype(np.float32)
        if is_boxes:
            results["gt_bboxes"] = type(raw)(new_boxes)
        else:
            results["gt_bboxes"] = new_boxes
        for key in self.instance_keys:
            if key != "gt_bboxes" and key in results:
                results[key] = results[key][keep]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(max_rotate_degree={self.max_rotate_degree}, "
            f"max_translate_ratio={self.max_translate_ratio}, "
            f"scaling_ratio_range={self.scaling_ratio_range}, "
            f"max_shear_degree={self.max_shear_degree}, border_val={self.border_val}, "
            f"clip_border={self.clip_border})"
        )
