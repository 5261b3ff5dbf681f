"""Pipeline side of offline distillation: stored teacher embeddings follow their boxes.

Two registered transforms:

* :class:`LoadTeacherEmbeddings` (right after ``LoadAnnotations``) looks up each box's
  embedding in a :class:`~mmdistillmot.datasets.teacher_embedding_store.TeacherEmbeddingStore`
  and adds, aligned with ``gt_bboxes``::

      gt_teacher_embeds      float32 [N, D]
      gt_has_teacher_embed   bool    [N]   (False: no embedding, e.g. a crowd box)

* :class:`KeepTeacherEmbedsAligned` wraps the rest of the pipeline (geometric transforms and
  the packer). mmdet's transforms drop, reorder and concatenate instances through a fixed set
  of keys (boxes, labels, ignore flags, masks) and ``PackDetInputs`` packs only those; any other
  per-instance key silently falls out of step. The wrapper lets the instance index ride along
  *inside the labels* (every transform keeps labels aligned with boxes), then decodes it and
  restores the labels. If the inner transforms pack the sample, the embeddings land in
  ``data_samples.gt_instances.teacher_embeds`` / ``.has_teacher_embed`` (and the same in
  ``ignored_instances``); otherwise the two ``gt_*`` keys are re-aligned in the results dict.

Config::

    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='LoadTeacherEmbeddings', store_dir='data/osnet_store', ann_file=ann_file,
             expected_teacher=dict(name='OSNetTeacher', arch='osnet_x1_0')),
        dict(type='KeepTeacherEmbedsAligned', transforms=[
            dict(type='RandomResize', scale=(1088, 608), ratio_range=(0.5, 1.5)),
            dict(type='RandomCrop', crop_size=(608, 1088)),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackDetInputs'),
        ]),
    ]

Instances the inner transforms bring in from other images (``Mosaic``, ``MixUp``) have no
embedding here: they get ``has_teacher_embed=False``. Inner transforms must not interpret label
values (none of mmdet's geometric or photometric transforms do).

A box that a crop (or an affine warp) leaves with less than ``min_visible_fraction`` (10 %, as
FairMOT's affine augmentation drops boxes under 10 % of their area) of its area keeps its box but
loses its embedding target (``has_teacher_embed=False``, zero embedding): the teacher embedded
the whole person, the student would see a sliver. The area left is known from the cumulative
``homography_matrix`` that mmdet 3.3's geometric transforms record (``Resize`` and what wraps
it: ``RandomResize``, ``FixShapeResize``, ``ResizeShortestEdge``; ``RandomFlip``, ``RandomCrop``,
the ``GeomTransform`` family ``Rotate``, ``ShearX/Y``, ``TranslateX/Y``): each original box is
mapped through it (the enclosing box of its four corners) and the surviving, clipped box's area
is compared to the mapped box's area. The wrapper runs the transforms before the packer
(``Pack*``) one by one and checks after each that the boxes moved exactly as the recorded matrix
says (up to clipping to the image). mmdet 3.3's ``RandomAffine``, ``RandomShift``, ``Mosaic``,
``Expand``, ``MinIoURandomCrop`` and ``RandomCenterCropPad`` move boxes without recording it, so
the visible fraction cannot be known: such a transform raises a ``RuntimeError`` naming it
rather than passing silently. Transforms that do not move boxes (``Pad``, photometric ones,
``FilterAnnotations``, ``MixUp`` for the sample's own boxes) pass. ``min_visible_fraction=0``
turns measuring and checking off (every box keeps its embedding, as before).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmdet.registry import TRANSFORMS

from mmdistillmot.datasets.teacher_embedding_store import (
    StaleTeacherStoreError,
    TeacherEmbeddingStore,
)

__all__ = ["LoadTeacherEmbeddings", "KeepTeacherEmbedsAligned"]

EMBED_KEY = "gt_teacher_embeds"
HAS_EMBED_KEY = "gt_has_teacher_embed"

#: Labels are encoded as (instance index + 1) * _LABEL_BASE + label inside the wrapper.
_LABEL_BASE = 1 << 20


def _as_numpy_boxes(boxes: Any) -> np.ndarray:
    """``[N, 4]`` float32 numpy boxes from mmdet ``BaseBoxes``, a tensor or an array."""
    tensor = getattr(boxes, "tensor", boxes)
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy().astype(np.float32).reshape(-1, 4)
    return np.asarray(tensor, dtype=np.float32).reshape(-1, 4)


@TRANSFORMS.register_module()
class LoadTeacherEmbeddings(BaseTransform):
    """Attach each ground-truth box's stored teacher embedding.

    Must come after ``LoadAnnotations`` and before any geometric transform: a box is found in
    the store by its exact original coordinates within its image.

    Required keys: ``img_id``, ``gt_bboxes``. Optional: ``gt_ignore_flags``.

    Added keys: ``gt_teacher_embeds`` (float32 ``[N, D]``), ``gt_has_teacher_embed``
    (bool ``[N]``).

    Args:
        store_dir: Directory written by ``tools/distill/extract_teacher_embeddings.py``.
        ann_file: The dataset's annotation file; when given, the store must have been extracted
            from this exact file (sha256).
        expected_teacher: Teacher fingerprint fields the store must match, e.g.
            ``dict(name='OSNetTeacher', arch='osnet_x1_0', weights='osnet.pth')``
            (``weights`` is compared by file hash; ``weights_sha256='...'`` pins the hash
            without the file).
        allow_random_init_teacher: Accept a store made by a random-init teacher (or one whose
            fingerprint does not say); refused by default (tests and smoke runs opt in).
        embed_dim: Keep only the first ``embed_dim`` dims (None: all).
        box_atol: Largest coordinate difference when matching boxes to stored boxes.
        verify_files: Re-hash the store's arrays when opening it.

    Raises:
        StaleTeacherStoreError: At construction for a mismatched store; in ``transform`` for a
            box the store does not have (the annotations changed since extraction).
    """

    def __init__(
        self,
        store_dir: str,
        ann_file: str | None = None,
        expected_teacher: Mapping[str, Any] | None = None,
        embed_dim: int | None = None,
        box_atol: float = 1e-2,
        verify_files: bool = True,
        allow_random_init_teacher: bool = False,
    ) -> None:
        self.store_dir = store_dir
        self.ann_file = ann_file
        self.expected_teacher = dict(expected_teacher) if expected_teacher else None
        self.store = TeacherEmbeddingStore(
            store_dir,
            expected_teacher=self.expected_teacher,
            ann_file=ann_file,
            verify_files=verify_files,
            allow_random_init_teacher=allow_random_init_teacher,
        )
        if embed_dim is not None and not 0 < embed_dim <= self.store.embed_dim:
            raise ValueError(
                f"LoadTeacherEmbeddings: embed_dim={embed_dim}, but the store '{store_dir}' has "
                f"{self.store.embed_dim}-d embeddings."
            )
        self.embed_dim = embed_dim or self.store.embed_dim
        self.box_atol = box_atol

    def _rows(self, results: dict) -> np.ndarray:
        """Store rows of the sample's boxes (-1 where the store has none).

        By exact original coordinates within the image: mmdet's ``CocoDataset`` keeps no
        annotation id per instance, so the box is the key (the store keeps the ids for tools).
        """
        boxes = _as_numpy_boxes(results["gt_bboxes"])
        return self.store.match_boxes(int(results["img_id"]), boxes, atol=self.box_atol)

    def transform(self, results: dict) -> dict:
        """Add ``gt_teacher_embeds`` and ``gt_has_teacher_embed`` (see the class docstring).

        Args:
            results: The pipeline's results dict.

        Returns:
            The same dict with the two keys added.
        """
        where = results.get("img_path", f"img_id={results.get('img_id')}")
        if "gt_bboxes" not in results:
            raise KeyError(
                f"LoadTeacherEmbeddings needs 'gt_bboxes' ({where}): put it after "
                "LoadAnnotations(with_bbox=True)."
            )
        if "img_id" not in results:
            raise KeyError(f"LoadTeacherEmbeddings needs 'img_id' in the results ({where}).")
        applied = [k for k in ("scale_factor", "flip", "homography_matrix") if k in results]
        if applied:
            raise RuntimeError(
                f"LoadTeacherEmbeddings must run before geometric transforms (found {applied} "
                f"for {where}): boxes are looked up by their original coordinates."
            )
        rows = self._rows(results)
        missing = rows < 0
        ignored = np.asarray(results.get("gt_ignore_flags", np.zeros(len(rows))), dtype=bool)
        allowed = ignored & self.store.skip_crowd  # crowd boxes were skipped at extraction
        unexplained = missing & ~allowed
        if unexplained.any():
            i = int(np.flatnonzero(unexplained)[0])
            box = _as_numpy_boxes(results["gt_bboxes"])[i].tolist()
            raise StaleTeacherStoreError(
                f"teacher embedding store '{self.store_dir}' has no embedding for box {box} of "
                f"image id {results['img_id']} ({where}); {int(unexplained.sum())} of "
                f"{len(rows)} boxes of this image are unknown to it. The annotations changed "
                "since extraction, or the store belongs to another dataset: re-run "
                "tools/distill/extract_teacher_embeddings.py."
            )
        results[EMBED_KEY] = self.store.get(rows)[:, : self.embed_dim]
        results[HAS_EMBED_KEY] = ~missing
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(store_dir={self.store_dir!r}, ann_file={self.ann_file!r}, "
            f"embed_dim={self.embed_dim})"
        )


def _decode(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Split encoded labels into (instance index or -1, original label)."""
    values = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    values = values.astype(np.int64)
    index = values // _LABEL_BASE - 1
    return index, values % _LABEL_BASE


#: Boxes count as moved as the homography says when within this many pixels (float32 maths).
_BOX_ATOL = 0.05
_BOX_RTOL = 1e-4


def _homography(results: dict) -> np.ndarray:
    """The results' cumulative ``homography_matrix`` as float64 (identity when none yet)."""
    matrix = results.get("homography_matrix")
    return np.eye(3) if matrix is None else np.asarray(matrix, dtype=np.float64).reshape(3, 3)


def _warp_boxes(boxes: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map ``[N, 4]`` xyxy boxes through a 3x3 homography: the enclosing box of the corners.

    Args:
        boxes: ``[N, 4]`` xyxy.
        homography: ``[3, 3]``.

    Returns:
        ``[N, 4]`` xyxy float64 (not clipped).
    """
    x1, y1, x2, y2 = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T
    one = np.ones_like(x1)
    corners = np.array([[x1, y1, one], [x2, y1, one], [x1, y2, one], [x2, y2, one]])  # [4, 3, N]
    points = np.einsum("ij,cjn->cin", homography, corners)
    xy = points[:, :2] / points[:, 2:]  # [4, 2, N]
    return np.concatenate([xy.min(0), xy.max(0)]).T


def _area(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``[N, 4]`` xyxy boxes (0 for empty ones)."""
    return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)


def _tracked_boxes(results: dict) -> tuple[np.ndarray, np.ndarray]:
    """(instance index or -1, ``[N, 4]`` boxes) of the results' encoded instances."""
    if "gt_bboxes" not in results or "gt_bboxes_labels" not in results:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.float64)
    index, _ = _decode(results["gt_bboxes_labels"])
    return index, _as_numpy_boxes(results["gt_bboxes"]).astype(np.float64)


@TRANSFORMS.register_module()
class KeepTeacherEmbedsAligned(BaseTransform):
    """Run transforms while keeping ``gt_teacher_embeds`` aligned with the instances.

    Args:
        transforms: The wrapped transforms (configs or callables), typically everything after
            ``LoadTeacherEmbeddings`` up to and including the packer.
        min_visible_fraction: A box left with less than this fraction of its (transformed)
            area by the transforms before the packer keeps its box but loses its teacher
            embedding (``has_teacher_embed=False``). 0 disables the check.

    Raises:
        ValueError: ``min_visible_fraction`` outside [0, 1].

    See the module docstring for how alignment is kept, how the visible fraction is measured
    and where the embeddings end up.
    """

    def __init__(self, transforms: Sequence[dict | Any], min_visible_fraction: float = 0.1) -> None:
        if not 0.0 <= min_visible_fraction <= 1.0:
            raise ValueError(
                f"min_visible_fraction must lie in [0, 1], got {min_visible_fraction}."
            )
        self.min_visible_fraction = float(min_visible_fraction)
        # Built through mmdet's registry so mmdet and mmcv transform names resolve whatever the
        # default scope is.
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms]
        self.transforms = Compose(built)
        # the visible fraction is measured on the results before the packer (Pack*) runs
        packer = next(
            (i for i, t in enumerate(built) if type(t).__name__.startswith("Pack")), len(built)
        )
        self._before_packer = built[:packer]
        self._from_packer = built[packer:]

    def _check_moves(self, step: Any, before: dict, after: dict, matrix: np.ndarray) -> None:
        """Raise if ``step`` moved the boxes otherwise than its recorded homography says.

        Args:
            step: The transform that just ran (named in the error).
            before: ``index`` [N] and ``boxes`` [N, 4] before it.
            after: The results dict after it.
            matrix: ``[3, 3]`` homography recorded before it.

        Raises:
            RuntimeError: A surviving box is neither the recorded mapping of its box before the
                transform nor that mapping clipped to the image.
        """
        index, boxes = _tracked_boxes(after)
        known = index >= 0
        if not known.any() or not len(before["index"]):
            return
        position = {int(i): k for k, i in enumerate(before["index"]) if i >= 0}
        pairs = [(k, position[int(i)]) for k, i in enumerate(index) if int(i) in position]
        if not pairs:
            return
        now, then = (np.array(p) for p in zip(*pairs, strict=True))
        step_matrix = _homography(after) @ np.linalg.inv(matrix)
        expected = _warp_boxes(before["boxes"][then], step_matrix)
        height, width = after.get("img_shape", (np.inf, np.inf))[:2]
        clipped = expected.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
        got = boxes[now]

        def close(target: np.ndarray) -> np.ndarray:
            return np.isclose(got, target, rtol=_BOX_RTOL, atol=_BOX_ATOL).all(1)

        wrong = ~(close(expected) | close(clipped))
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise RuntimeError(
                f"KeepTeacherEmbedsAligned: {type(step).__name__} moved box "
                f"{before['boxes'][then[k]].round(2).tolist()} to {got[k].round(2).tolist()}, but "
                f"its recorded homography_matrix maps it to {expected[k].round(2).tolist()}: "
                "transforms that move boxes without recording results['homography_matrix'] "
                "(mmdet 3.3's RandomAffine, RandomShift, Mosaic, Expand, MinIoURandomCrop, ...) "
                "leave the visible part of each box unknown. Use a transform that records it, or "
                "set min_visible_fraction=0 to keep every embedding."
            )

    def _run(self, results: dict) -> tuple[dict | None, np.ndarray | None]:
        """Run the transforms before the packer, measuring each instance's visible fraction.

        Args:
            results: Results dict with encoded labels.

        Returns:
            The results after those transforms (None if one rejected the sample) and, per
            original instance, whether enough of it is left to keep its embedding (None when
            the check is off).
        """
        if self.min_visible_fraction <= 0:
            for step in self._before_packer:
                results = step(results)
                if results is None:
                    return None, None
            return results, None
        start_index, start_boxes = _tracked_boxes(results)
        start_matrix = _homography(results)
        for step in self._before_packer:
            index, boxes = _tracked_boxes(results)
            before = dict(index=index, boxes=boxes)
            matrix = _homography(results)
            results = step(results)
            if results is None:
                return None, None
            self._check_moves(step, before, results, matrix)
        enough = np.ones(len(start_index), dtype=bool)
        index, boxes = _tracked_boxes(results)
        known = index >= 0
        if known.any():
            full = _warp_boxes(
                start_boxes[index[known]], _homography(results) @ np.linalg.inv(start_matrix)
            )
            full_area = _area(full)
            left = _area(boxes[known])
            # a box with no area to begin with keeps whatever it had
            fraction = np.where(full_area > 0, left / np.where(full_area > 0, full_area, 1), 1.0)
            enough[index[known]] = fraction >= self.min_visible_fraction
        return results, enough

    def transform(self, results: dict) -> dict | None:
        """Apply the wrapped transforms with the instance index encoded in the labels.

        Args:
            results: Results dict holding ``gt_bboxes_labels`` and the keys added by
                :class:`LoadTeacherEmbeddings`.

        Returns:
            The wrapped transforms' output (None if one of them rejected the sample).

        Raises:
            KeyError: The keys of :class:`LoadTeacherEmbeddings` are missing.
            ValueError: Embeddings and boxes differ in number, or labels cannot be encoded.
            RuntimeError: An inner transform moved boxes without recording its homography
                (see the module docstring).
        """
        if EMBED_KEY not in results or "gt_bboxes_labels" not in results:
            raise KeyError(
                "KeepTeacherEmbedsAligned needs 'gt_teacher_embeds' and 'gt_bboxes_labels': put "
                "it after LoadAnnotations and LoadTeacherEmbeddings "
                f"({results.get('img_path', '')})."
            )
        embeds = np.asarray(results.pop(EMBED_KEY), dtype=np.float32)
        has_embed = np.asarray(results.pop(HAS_EMBED_KEY), dtype=bool)
        labels = np.asarray(results["gt_bboxes_labels"], dtype=np.int64)
        if len(labels) != len(embeds):
            raise ValueError(
                f"{len(embeds)} teacher embeddings for {len(labels)} boxes: a transform between "
                "LoadTeacherEmbeddings and KeepTeacherEmbedsAligned dropped instances; move it "
                "inside the wrapper."
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= _LABEL_BASE):
            raise ValueError(f"labels must lie in [0, {_LABEL_BASE}) to be encoded.")
        results["gt_bboxes_labels"] = (np.arange(len(labels)) + 1) * _LABEL_BASE + labels
        out, enough = self._run(results)
        if out is None:
            return None
        if enough is not None:
            # too little of the person is left: no embedding target (the box stays)
            has_embed = has_embed & enough
            embeds = np.where(has_embed[:, None], embeds, 0).astype(np.float32)
        for step in self._from_packer:
            out = step(out)
            if out is None:
                return None

        def pick(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            known = index >= 0  # -1: brought in by a mixing transform
            picked = np.zeros((len(index), embeds.shape[1]), dtype=np.float32)
            picked[known] = embeds[index[known]]
            has = np.zeros(len(index), dtype=bool)
            has[known] = has_embed[index[known]]
            return picked, has

        if "data_samples" in out:
            sample = out["data_samples"]
            for field in ("gt_instances", "ignored_instances"):
                instances = getattr(sample, field, None)
                if instances is None or "labels" not in instances:
                    continue
                index, original = _decode(instances.labels)
                picked, known = pick(index)
                instances.labels = torch.from_numpy(original)
                instances.teacher_embeds = torch.from_numpy(picked)
                instances.has_teacher_embed = torch.from_numpy(known)
            return out
        index, original = _decode(out["gt_bboxes_labels"])
        out["gt_bboxes_labels"] = original
        out[EMBED_KEY], out[HAS_EMBED_KEY] = pick(index)
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(transforms={self.transforms}, "
            f"min_visible_fraction={self.min_visible_fraction})"
        )
