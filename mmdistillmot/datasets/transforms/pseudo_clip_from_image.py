"""Turn one still image (e.g. CrowdHuman) into a pseudo video clip, as MOTRv2's joint training.

MOTRv2 trains DanceTrack jointly with CrowdHuman. A CrowdHuman image has no time axis, so the
public MOTRv2 implementation makes a clip out of it: frame 0 is the image; frame ``k`` is frame
``k - 1`` cropped by a window ``|dx|`` pixels narrower and ``|dy|`` pixels lower, anchored at
the corner the signs of ``(dx, dy)`` pick, and resized back to the full size. ``dx`` and ``dy``
are drawn once per clip, each ``1..max_shift`` pixels (50 in MOTRv2) with a random sign, so
the clip looks like a camera that pans and zooms in a little at a constant rate. Every person
keeps one identity over the clip; a box that the crops push out of the frame (zero area after
clipping to the image) is gone from then on: the visible region of frame ``k`` in the original
image is nested in that of frame ``k - 1``, so it cannot come back.

One step maps a point ``x`` of frame ``k - 1`` to ``x' = s_x * (x - x_0)`` with
``s_x = W / (W - |dx|)`` and ``x_0 = max(0, -dx)`` (and likewise for ``y``); frame ``k`` is
the step applied ``k`` times to the original. We warp every frame from the original image once
(one resampling instead of ``k`` repeated crop-and-resizes), map the boxes through the same
matrix, clip them to the frame and drop the empty ones.

The output is the dict-of-lists layout that ``MOTRClipSample`` + per-frame loading give a
video, so the rest of the video pipeline (a ``TransformBroadcaster`` with the clip-shared flip
and resize, ``LoadDetDBProposals``, ``PackTrackInputs``) runs unchanged and the model sees the
same packed sample. Each frame's ``homography_matrix`` starts as its pseudo-clip matrix, so
mmdet's geometric transforms compose onto it and ``LoadDetDBProposals`` (placed after them)
maps the image's proposals exactly as the ground-truth boxes were mapped.
"""

from __future__ import annotations

import copy
from typing import Any

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes

__all__ = ["PseudoClipFromImage", "pseudo_clip_step_matrix"]


def pseudo_clip_step_matrix(width: int, height: int, dx: int, dy: int) -> np.ndarray:
    """The 3x3 matrix of one crop-and-resize step, in continuous pixel coordinates.

    Args:
        width (int): Frame width ``W``.
        height (int): Frame height ``H``.
        dx (int): Horizontal shift in pixels; ``0 < |dx| < W``. Positive keeps the left edge
            (the window is ``[0, W - dx]``), negative keeps the right edge (``[-dx, W]``).
        dy (int): Vertical shift, likewise with ``0 < |dy| < H``.

    Returns:
        np.ndarray: ``[3, 3]`` float64 ``A`` with ``(x', y', 1) = A @ (x, y, 1)``, box corners
        and pixel edges included (pixel ``i`` covers ``[i, i + 1)``).

    Raises:
        ValueError: If a shift is zero or not smaller than the frame.
    """
    if not (0 < abs(dx) < width and 0 < abs(dy) < height):
        raise ValueError(
            f"shifts must satisfy 0 < |dx| < width and 0 < |dy| < height, got dx={dx}, "
            f"dy={dy} for a {width}x{height} frame"
        )
    scale_x = width / (width - abs(dx))
    scale_y = height / (height - abs(dy))
    x0, y0 = max(0, -dx), max(0, -dy)
    return np.array(
        [[scale_x, 0.0, -scale_x * x0], [0.0, scale_y, -scale_y * y0], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def _warp_image(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp ``[H, W, C]`` (or ``[H, W]``) by a continuous-coordinate affine matrix.

    OpenCV puts pixel centres at integer coordinates; boxes put them at ``i + 0.5``. Conjugating
    with a half-pixel shift makes the image move exactly with the boxes.
    """
    height, width = img.shape[:2]
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    unhalf = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    centred = unhalf @ matrix @ half
    return cv2.warpAffine(
        img,
        centred[:2],
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,  # never reached: each window lies inside the image
    )


def _warp_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map ``[N, 4]`` xyxy boxes through an axis-aligned affine matrix (scale + shift)."""
    out = boxes.astype(np.float64).copy()
    out[:, 0::2] = boxes[:, 0::2] * matrix[0, 0] + matrix[0, 2]
    out[:, 1::2] = boxes[:, 1::2] * matrix[1, 1] + matrix[1, 2]
    return out


@TRANSFORMS.register_module()
class PseudoClipFromImage(BaseTransform):
    """Make a ``num_frames`` clip out of one annotated image by a constant pan-and-zoom.

    Place it after ``LoadImageFromFile`` and ``LoadAnnotations`` of a still-image dataset
    (mmdet's ``CocoDataset``, e.g. CrowdHuman from ``crowdhuman_to_coco.py``) and before the
    ``TransformBroadcaster`` that applies the clip-shared flip and resize.

    Args:
        num_frames (int): Frames of the clip; MOTRv2 uses its video clip length, 5.
        max_shift (int): Largest per-frame shift in pixels of the loaded image; each of
            ``|dx|``, ``|dy|`` is drawn from ``1..max_shift`` (MOTRv2: 50). Clamped to leave
            at least half of the frame.

    Reads ``img`` ``[H, W, 3]``, ``gt_bboxes`` (``N`` boxes, array or mmdet boxes),
    ``gt_bboxes_labels`` ``[N]``, ``gt_ignore_flags`` ``[N]`` (optional), ``img_id``,
    ``img_path`` and optionally ``homography_matrix``. Writes, for every key, a list over the
    frames: ``img``, ``img_shape``, ``ori_shape``, ``gt_bboxes`` (``[M, 4]`` float32 xyxy, as
    ``LoadTrackAnnotations`` gives them), ``gt_bboxes_labels``, ``gt_ignore_flags``,
    ``gt_instances_ids`` (box ``i`` of the image is identity ``i`` in every frame),
    ``homography_matrix``, ``instances`` (the frame's boxes as annotation dicts), ``frame_id``
    (0..``num_frames - 1``), ``video_id`` (-1: no video), ``video_length`` and
    ``ori_video_length`` (``num_frames``), ``frame_stride`` (1), ``fps`` (None: a still image has
    no frame rate; the key is there so that pseudo clips carry the same metainfo as the video
    clips of ``MOTChallengeVideoDataset`` they are mixed with), ``pseudo_clip_shift``
    (``(dx, dy)``), and the image's other keys repeated. Boxes whose clipped area is zero are
    dropped from that frame and every later one.
    """

    def __init__(self, num_frames: int = 5, max_shift: int = 50) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if max_shift < 1:
            raise ValueError(f"max_shift must be >= 1, got {max_shift}")
        self.num_frames = num_frames
        self.max_shift = max_shift

    def _draw_shift(self, width: int, height: int) -> tuple[int, int]:
        """One ``(dx, dy)`` per clip, ``1..max_shift`` pixels each with a random sign."""
        limit_x = max(1, min(self.max_shift, width // 2))
        limit_y = max(1, min(self.max_shift, height // 2))
        # np.random: the global state that mmcv's transforms and their seeding use.
        dx = int(np.random.randint(1, limit_x + 1)) * (1 if np.random.rand() < 0.5 else -1)  # noqa: NPY002
        dy = int(np.random.randint(1, limit_y + 1)) * (1 if np.random.rand() < 0.5 else -1)  # noqa: NPY002
        return dx, dy

    def transform(self, results: dict) -> dict[str, Any]:
        """Build the clip.

        Args:
            results (dict): One loaded image and its annotations (see the class docstring).

        Returns:
            dict[str, Any]: Every key a list of ``num_frames`` per-frame values.

        Raises:
            KeyError: If the image or its boxes were not loaded (names the image).
        """
        where = results.get("img_path", "<image>")
        for key in ("img", "gt_bboxes", "gt_bboxes_labels"):
            if key not in results:
                raise KeyError(
                    f"PseudoClipFromImage needs '{key}' for {where}: put it after "
                    "LoadImageFromFile and LoadAnnotations(with_bbox=True)"
                )
        img = results["img"]
        height, width = img.shape[:2]
        boxes_in = results["gt_bboxes"]
        # LoadAnnotations gives box objects, the video pipeline (LoadTrackAnnotations) float32
        # arrays, which is what PackTrackInputs can pack: hand out arrays.
        if isinstance(boxes_in, BaseBoxes):
            boxes_in = boxes_in.tensor.numpy()
        boxes = np.asarray(boxes_in, dtype=np.float64).reshape(-1, 4)
        num_boxes = boxes.shape[0]
        labels = np.asarray(results["gt_bboxes_labels"]).reshape(-1)
        ignore = np.asarray(results.get("gt_ignore_flags", np.zeros(num_boxes, dtype=bool)))
        ids = np.arange(num_boxes, dtype=np.int32)  # as LoadTrackAnnotations
        base_h = np.asarray(results.get("homography_matrix", np.eye(3)), dtype=np.float64)

        dx, dy = self._draw_shift(width, height)
        step = pseudo_clip_step_matrix(width, height, dx, dy)
        matrix = np.eye(3)
        alive = np.ones(num_boxes, dtype=bool)
        frames: list[dict[str, Any]] = []
        for index in range(self.num_frames):
            if index > 0:
                matrix = step @ matrix
            warped = _warp_boxes(boxes, matrix)
            warped[:, 0::2] = warped[:, 0::2].clip(0, width)
            warped[:, 1::2] = warped[:, 1::2].clip(0, height)
            # Once out, always out (the nesting guarantees it; this guards float rounding).
            alive &= (warped[:, 2] > warped[:, 0]) & (warped[:, 3] > warped[:, 1])
            frames.append(
                self._frame(
                    results,
                    index,
                    _warp_image(img, matrix) if index > 0 else img.copy(),
                    warped[alive].astype(np.float32),
                    labels[alive],
                    ignore[alive],
                    ids[alive],
                    matrix @ base_h,
                    (dx, dy),
                )
            )
        return {key: [frame[key] for frame in frames] for key in frames[0]}

    def _frame(
        self,
        results: dict,
        index: int,
        img: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        ignore: np.ndarray,
        ids: np.ndarray,
        homography: np.ndarray,
        shift: tuple[int, int],
    ) -> dict[str, Any]:
        """One frame's results: the image's other keys, then this frame's values."""
        frame = {
            key: copy.deepcopy(value)
            for key, value in results.items()
            if key not in ("img", "gt_bboxes", "instances")
        }
        height, width = img.shape[:2]
        frame.update(
            img=img,
            img_shape=(height, width),
            ori_shape=(height, width),
            gt_bboxes=boxes,
            gt_bboxes_labels=labels.copy(),
            gt_ignore_flags=ignore.astype(bool),
            gt_instances_ids=ids.copy(),
            homography_matrix=homography.astype(np.float32),
            instances=[
                dict(
                    bbox=box.tolist(),
                    bbox_label=int(label),
                    ignore_flag=int(flag),
                    instance_id=int(inst),
                )
                for box, label, flag, inst in zip(boxes, labels, ignore, ids)
            ],
            frame_id=index,
            video_id=-1,
            video_length=self.num_frames,
            ori_video_length=self.num_frames,
            frame_stride=1,
            fps=None,
            pseudo_clip_shift=shift,
        )
        return frame

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_frames={self.num_frames}, max_shift={self.max_shift})"
        )
