"""Tiny data and scores for the "it learned" tests: each model family against its own init.

Frames are drawn with the embedded synthetic dataset's own parts
(:mod:`mmdistillmot.datasets.synthetic`): a scene's background, and people of
:func:`sample_appearance` looks drawn by :func:`draw_figure`, their boxes measured on the owner
map like the generator's ground truth. Unlike the generator's sequences, the layout is chosen
here: a fixed set of identities in every frame, each in its own column (no occlusion), so that
a handful of frames is a well-posed training set.

* :func:`render_people` -- frames, boxes and identity indices (``shuffle=True``: every frame
  puts the identities in other columns, with other sizes and poses, so that identity is a
  matter of appearance, not position; ``shuffle=False``: a clip, everyone walking right);
* :func:`detection_ap` -- AP at IoU 0.5 of per-image detections (mmdet's ``eval_map``);
* :func:`recall_at_iou` -- share of ground-truth boxes covered at IoU 0.5;
* :func:`identity_gap` -- mean cosine of same-identity pairs minus that of different-identity
  pairs;
* :func:`torch_threads` -- a block run with one intra-op thread (speed, fixed reduction order).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from mmdistillmot.datasets.synthetic import FigurePose, draw_figure, sample_appearance
from mmdistillmot.datasets.synthetic.render import measure_sprite, paste_sprite
from mmdistillmot.datasets.synthetic.scene import sample_scene

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS = REPO_ROOT / "tests"


def quiet_init(model: torch.nn.Module) -> torch.nn.Module:
    """``model.init_weights()`` (as a Runner calls it) without mmengine's per-parameter log."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def use_helpers_of(*folders: str) -> None:
    """Make the helper modules of other test folders importable (``distill_testing``...)."""
    for folder in folders:
        path = str(TESTS / folder)
        if path not in sys.path:
            sys.path.insert(0, path)


@dataclass
class PeopleFrames:
    """Rendered frames and their ground truth.

    Attributes:
        images: BGR uint8 frames, each ``(H, W, 3)``.
        boxes: Per frame ``[n, 4]`` float32 ``(x1, y1, x2, y2)`` pixel boxes.
        ids: Per frame ``[n]`` int64 identity indices (``0 .. num_people - 1``).
    """

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)

    def __add__(self, other: PeopleFrames) -> PeopleFrames:
        return PeopleFrames(
            self.images + other.images, self.boxes + other.boxes, self.ids + other.ids
        )

    def tensors(self) -> list[torch.Tensor]:
        """The frames as ``[3, H, W]`` uint8 tensors (what a dataloader yields)."""
        return [torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))) for im in self.images]


def render_people(
    num_frames: int,
    num_people: int,
    size: tuple[int, int] = (192, 96),
    heights: tuple[float, float] = (56.0, 76.0),
    shuffle: bool = True,
    seed: int = 0,
    look_seed: int | None = None,
    start: int = 0,
) -> PeopleFrames:
    """Draw ``num_frames`` frames that each show the same ``num_people`` identities.

    Args:
        num_frames: Frames to draw.
        num_people: Identities; each stands in its own column of width ``W / num_people``.
        size: ``(W, H)`` of the frames.
        heights: Range of the figures' heights in pixels.
        shuffle: Per frame a new order of the identities over the columns and new sizes,
            headings and gait phases; otherwise identity ``k`` walks right in column ``k``
            (2 px a frame) with a fixed size, a clip.
        seed: Seed of the frames (background, placement, poses).
        look_seed: Seed of the identities' looks (default: ``seed``); two sets of frames with
            the same ``look_seed`` and other ``seed`` show the same people elsewhere.
        start: Index of the first frame (a clip's continuation, ``shuffle=False``).

    Returns:
        The frames with one box and identity per person.
    """
    width, height = size
    looks_rng = np.random.default_rng([seed if look_seed is None else look_seed, 1])
    looks = [sample_appearance(looks_rng) for _ in range(num_people)]
    rng = np.random.default_rng([seed, 2])
    scene = sample_scene(rng, width, height, num_frames + start, style="plaza")
    column = width / num_people
    clip_heights = rng.uniform(*heights, size=num_people)
    clip_u = (np.arange(num_people) + 0.35) * column
    images, boxes, ids = [], [], []
    for t in range(start, start + num_frames):
        frame = scene.empty_frame(0)  # a still camera: the scene's lighting schedule unused
        labels = np.zeros((height, width), np.int32)
        order = rng.permutation(num_people) if shuffle else np.arange(num_people)
        sprites = []
        for slot, person in enumerate(order):
            if shuffle:
                h = float(rng.uniform(*heights))
                u = (slot + float(rng.uniform(0.35, 0.65))) * column
                heading = float(rng.choice([0.0, np.pi])) + float(rng.normal(0, 0.3))
                phase = float(rng.uniform(0, 2 * np.pi))
            else:
                h = float(clip_heights[person])
                u = float(clip_u[person]) + 2.0 * t
                heading, phase = 0.0, 0.9 * t
            v = min(height - 2.0, h + float(rng.uniform(4.0, 12.0)))
            pose = FigurePose(u=u, v=v, height_px=h, heading=heading, phase=phase, gait=1.0)
            sprite = draw_figure(looks[person], pose)
            paste_sprite(frame, labels, sprite, int(person) + 1)
            sprites.append((int(person), sprite))
        frame_boxes, frame_ids = [], []
        for person, sprite in sprites:
            measured = measure_sprite(labels, sprite, person + 1)
            if measured is None:
                continue
            (x, y, w, h), _ = measured
            frame_boxes.append([x, y, x + w, y + h])
            frame_ids.append(person)
        images.append(frame)
        boxes.append(np.asarray(frame_boxes, np.float32).reshape(-1, 4))
        ids.append(np.asarray(frame_ids, np.int64))
    return PeopleFrames(images, boxes, ids)


def render_scenes(
    num_scenes: int, frames_per_scene: int, num_people: int, seed: int = 0, **kwargs
) -> PeopleFrames:
    """:func:`render_people` on ``num_scenes`` backgrounds, frames concatenated.

    Backgrounds use seeds ``seed, seed + 1, ...``; the people are the same (``look_seed=seed``).
    """
    out = render_people(frames_per_scene, num_people, seed=seed, look_seed=seed, **kwargs)
    for k in range(1, num_scenes):
        out = out + render_people(
            frames_per_scene, num_people, seed=seed + k, look_seed=seed, **kwargs
        )
    return out


def detection_ap(
    detections: list[tuple[np.ndarray, np.ndarray]], gt_boxes: list[np.ndarray]
) -> float:
    """AP at IoU 0.5 (one class, VOC area-under-curve) over a set of images.

    Args:
        detections: Per image ``(boxes [k, 4], scores [k])``.
        gt_boxes: Per image ``[n, 4]`` ground-truth boxes.

    Returns:
        mmdet's ``eval_map`` mean AP.
    """
    from mmdet.evaluation.functional import eval_map

    results = [
        [np.concatenate([np.asarray(b, np.float32).reshape(-1, 4),
                         np.asarray(s, np.float32).reshape(-1, 1)], axis=1)]
        for b, s in detections
    ]  # fmt: skip
    annotations = [dict(bboxes=g.astype(np.float32), labels=np.zeros(len(g), np.int64))
                   for g in gt_boxes]  # fmt: skip
    mean_ap, _ = eval_map(results, annotations, iou_thr=0.5, logger="silent")
    return float(mean_ap)


def recall_at_iou(pred_boxes: list[torch.Tensor], gt_boxes: list[np.ndarray], thr: float = 0.5
                  ) -> float:  # fmt: skip
    """Share of ground-truth boxes with a predicted box of IoU >= ``thr`` in their frame."""
    hit = total = 0
    for pred, gt in zip(pred_boxes, gt_boxes, strict=True):
        total += len(gt)
        if len(gt) and len(pred):
            iou = box_iou(torch.as_tensor(gt, dtype=torch.float32), pred.float().reshape(-1, 4))
            hit += int((iou.max(dim=1).values >= thr).sum())
    return hit / max(total, 1)


def identity_gap(embeddings: torch.Tensor, ids: torch.Tensor) -> float:
    """Mean cosine of same-identity pairs minus mean cosine of different-identity pairs.

    Args:
        embeddings: ``[N, D]`` one embedding per box.
        ids: ``[N]`` identity of each box.

    Returns:
        The gap (0 for embeddings that know nothing of identity, up to 2).
    """
    unit = F.normalize(embeddings.float(), dim=1)
    cos = unit @ unit.T
    same = ids[:, None] == ids[None, :]
    not_self = ~torch.eye(len(ids), dtype=torch.bool)
    return float(cos[same & not_self].mean() - cos[~same].mean())


@contextmanager
def torch_threads(num_threads: int = 1) -> Iterator[None]:
    """Run the block with ``num_threads`` intra-op threads, then restore the previous count.

    The tiny models of these tests are bound by per-op overhead: one thread is about twice as
    fast as two on a shared two-core machine, and it fixes the reduction order (same numbers
    on machines with other core counts).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
