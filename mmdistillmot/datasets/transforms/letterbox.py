"""Letterbox resize (JDE/FairMOT): keep the aspect ratio, pad the borders to a fixed size."""

from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes

__all__ = ["Letterbox"]


@TRANSFORMS.register_module()
class Letterbox(BaseTransform):
    """Resize an image to fit ``scale`` keeping its aspect ratio, then pad both sides evenly.

    As in FairMOT's ``letterbox``: the ratio is ``min(H / h, W / w)``, the resized size is
    ``round(w * r) x round(h * r)`` (area interpolation), and the padding is split between the
    two sides (left/top get ``round(pad / 2 - 0.1)``). Boxes are scaled by the per-axis resize
    factor and shifted by the left/top padding, so they keep covering the same pixels (FairMOT
    shifts them by the unrounded half padding, off by up to half a pixel).

    Required keys: ``img``. Optional: ``gt_bboxes`` (``HorizontalBoxes`` or ``[N, 4]`` array).

    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``.

    Added keys: ``scale_factor`` ``(w_scale, h_scale)``, ``letterbox_offset`` ``(left, top)``
    in pixels, ``pad_shape``. :class:`~mmdistillmot.models.dense_heads.FairMOTHead` maps
    predictions back to the original image with them (pack ``letterbox_offset`` as a meta key).

    Args:
        scale (tuple[int, int]): Output ``(width, height)``. Defaults to ``(1088, 608)``.
        pad_val (float): Border value. Defaults to 127.5; a ``uint8`` image cannot hold 127.5,
            so it is rounded (to 128, as OpenCV does when FairMOT pads a ``uint8`` image).
        interpolation (int): OpenCV interpolation flag. Defaults to ``cv2.INTER_AREA``.
    """

    def __init__(
        self,
        scale: tuple[int, int] = (1088, 608),
        pad_val: float = 127.5,
        interpolation: int = cv2.INTER_AREA,
    ) -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f"Letterbox: scale must be (width, height) > 0, got {scale}")
        self.scale = (int(scale[0]), int(scale[1]))
        self.pad_val = pad_val
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        """Letterbox ``results['img']`` and its boxes.

        Args:
            results (dict): Pipeline results with ``img`` ``[h, w, C]``.

        Returns:
            dict: The results with the letterboxed ``[H, W, C]`` image and updated boxes.
        """
        img = results["img"]
        height, width = img.shape[:2]
        out_w, out_h = self.scale
        ratio = min(out_h / height, out_w / width)
        new_w, new_h = round(width * ratio), round(height * ratio)
        pad_w, pad_h = (out_w - new_w) / 2, (out_h - new_h) / 2
        top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
        left, right = round(pad_w - 0.1), round(pad_w + 0.1)

        resized = cv2.resize(img, (new_w, new_h), interpolation=self.interpolation)
        value = self.pad_val
        if np.issubdtype(img.dtype, np.integer):
            value = float(round(value + 1e-9))  # 127.5 -> 128, OpenCV's rounding for uint8
        channels = 1 if img.ndim == 2 else img.shape[2]
        padded = cv2.copyMakeBorder(
            resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(value,) * channels
        )
        if img.ndim == 3 and padded.ndim == 2:  # OpenCV drops a single channel axis
            padded = padded[..., None]

        scale_w, scale_h = new_w / width, new_h / height
        if "gt_bboxes" in results:
            boxes = results["gt_bboxes"]
            if isinstance(boxes, BaseBoxes):
                boxes.rescale_((scale_w, scale_h))
                boxes.translate_((left, top))
            else:
                boxes = np.asarray(boxes, dtype=np.float32).copy()
                boxes[:, 0::2] = boxes[:, 0::2] * scale_w + left
                boxes[:, 1::2] = boxes[:, 1::2] * scale_h + top
                results["gt_bboxes"] = boxes

        results["img"] = padded
        results["img_shape"] = padded.shape[:2]
        results["pad_shape"] = padded.shape[:2]
        results["scale_factor"] = (scale_w, scale_h)
        results["letterbox_offset"] = (float(left), float(top))
        return results

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(scale={self.scale}, pad_val={self.pad_val}, "
            f"interpolation={self.interpolation})"
        )
