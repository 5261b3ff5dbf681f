"""The boxes a teacher embedding store holds: read through mmdet's ``CocoDataset``.

A store must have a row for every box that a training dataset built from the same COCO /
CocoVID file yields (``LoadTeacherEmbeddings`` refuses a box it does not find), with exactly
the coordinates mmdet's ``LoadAnnotations`` gives it. So the boxes are not read by a second
copy of mmdet's rules: the file is loaded by mmdet's own ``CocoDataset`` (its COCO API, its
``parse_data_info`` with its box filters), with one addition, the annotation id of every
instance it keeps, which is the store's row key. What mmdet's ``CocoDataset.parse_data_info``
decides, per annotation:

- ``ignore: true`` -> dropped (counted as ``ignore``);
- a box with no overlap with the image, a width or height under 1 pixel, or ``area <= 0``
  -> dropped (counted as ``degenerate``);
- ``iscrowd: 1`` -> kept with ``ignore_flag=1``: the training pipeline packs it into
  ``ignored_instances``; the store leaves it out (counted as ``crowd``) unless ``skip_crowd``
  is false;
- otherwise kept, box ``[x, y, x + w, y + h]`` (input ``bbox = [x, y, w, h]``).

Every category of the file is kept (``classes=()``: pycocotools' ``getCatIds`` then returns all
of them), whatever subset a training config's ``metainfo.classes`` selects, so one store serves
every such config. The file's structure is checked first, so that a missing field or a
dangling ``image_id`` (which mmdet's COCO API would silently leave out) stops the extraction
with the file and the annotation named.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mmdet.datasets import CocoDataset

__all__ = [
    "AnnotationFileError",
    "ImageBoxes",
    "StoreBoxTable",
    "read_store_boxes",
]

IMAGE_KEYS = ("id", "file_name", "height", "width")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "area")


class AnnotationFileError(ValueError):
    """A COCO / CocoVID file mmdet cannot read as meant; the message names file and entry."""


@dataclass
class ImageBoxes:
    """One image and the boxes of it that go into the store.

    Attributes:
        image_id: The image's ``id``.
        file_name: Its ``file_name`` (relative to the image root).
        ann_ids: int64 ``[K]`` annotation ids, in file order.
        boxes: float32 ``[K, 4]`` ``x1, y1, x2, y2`` in pixels, as ``LoadAnnotations`` gives them.
    """

    image_id: int
    file_name: str
    ann_ids: np.ndarray
    boxes: np.ndarray


@dataclass
class StoreBoxTable:
    """What the extraction needs from an annotation file.

    Attributes:
        images: Images with at least one kept box, sorted by image id.
        num_images: Images in the file.
        num_annotations: Annotations in the file.
        skipped: Boxes left out, by reason: ``ignore``, ``crowd``, ``degenerate``.
    """

    images: list[ImageBoxes]
    num_images: int
    num_annotations: int
    skipped: dict[str, int] = field(default_factory=dict)


class _CocoDatasetWithAnnIds(CocoDataset):
    """mmdet's ``CocoDataset``, its instances tagged with the annotation id they come from.

    ``CocoDataset.parse_data_info`` decides about each annotation on its own; it is run on
    each annotation separately so that every instance it keeps is known by its annotation id,
    and once on all of them, whose instances must equal the tagged ones (a dataset class that
    judged annotations together would fail here rather than give other boxes).
    """

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """``CocoDataset.parse_data_info`` plus ``ann_id`` in every instance and the drops.

        Args:
            raw_data_info: ``raw_img_info`` and ``raw_ann_info`` of one image.

        Returns:
            mmdet's data info, whose instances carry ``ann_id``, plus ``dropped_ann_ids``:
            annotations of the image mmdet does not turn into an instance.

        Raises:
            RuntimeError: The per-annotation instances differ from mmdet's for the image.
        """
        img_info = raw_data_info["raw_img_info"]
        whole = super().parse_data_info(raw_data_info)
        assert isinstance(whole, dict)
        tagged, dropped = [], []
        for ann in raw_data_info["raw_ann_info"]:
            one = super().parse_data_info(dict(raw_img_info=img_info, raw_ann_info=[ann]))
            assert isinstance(one, dict)
            if not one["instances"]:
                dropped.append(int(ann["id"]))
            for instance in one["instances"]:
                tagged.append(dict(instance, ann_id=int(ann["id"])))
        untagged = [{k: v for k, v in inst.items() if k != "ann_id"} for inst in tagged]
        if untagged != whole["instances"]:
            raise RuntimeError(
                f"{type(self).__name__}: parsing the annotations of image {img_info['img_id']} "
                "one by one gives other instances than parsing them together."
            )
        whole["instances"] = tagged
        whole["dropped_ann_ids"] = dropped
        return whole


def _load_json(ann_file: str) -> dict[str, Any]:
    """The file's dictionary, with its structure checked (see :func:`read_store_boxes`)."""
    try:
        with open(ann_file) as file:
            data = json.load(file)
    except (OSError, json.JSONDecodeError) as err:
        raise AnnotationFileError(f"cannot read annotation file '{ann_file}': {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationFileError(f"'{ann_file}': expected a COCO dict with an 'images' list.")
    if not isinstance(data.get("categories"), list):
        raise AnnotationFileError(f"'{ann_file}': expected a 'categories' list.")
    image_ids: set[int] = set()
    for i, image in enumerate(data["images"]):
        missing = [key for key in IMAGE_KEYS if key not in image]
        if missing:
            raise AnnotationFileError(f"'{ann_file}': images[{i}] lacks {missing}.")
        if int(image["id"]) in image_ids:
            raise AnnotationFileError(f"'{ann_file}': image id {image['id']} appears twice.")
        image_ids.add(int(image["id"]))
    ann_ids: set[int] = set()
    for i, ann in enumerate(data.get("annotations", [])):
        where = f"'{ann_file}': annotations[{i}]"
        missing = [key for key in ANNOTATION_KEYS if key not in ann]
        if missing:
            raise AnnotationFileError(f"{where} lacks {missing}.")
        ann_id = int(ann["id"])
        if ann_id in ann_ids:
            raise AnnotationFileError(f"{where}: annotation id {ann_id} appears twice.")
        ann_ids.add(ann_id)
        if int(ann["image_id"]) not in image_ids:
            raise AnnotationFileError(f"{where} (id {ann_id}): unknown image_id {ann['image_id']}.")
        bbox = ann["bbox"]
        if not isinstance(bbox, Sequence) or isinstance(bbox, str) or len(bbox) != 4:
            raise AnnotationFileError(
                f"{where} (id {ann_id}): bbox must be [x, y, w, h], got {bbox}."
            )
    return data


def read_store_boxes(ann_file: str, skip_crowd: bool = True) -> StoreBoxTable:
    """Read the boxes of a COCO or CocoVID file as mmdet's ``CocoDataset`` yields them.

    Args:
        ann_file: COCO / CocoVID json (local path).
        skip_crowd: Leave crowd boxes (``iscrowd=1``, mmdet's ignored instances) out.

    Returns:
        The images with kept boxes (sorted by image id; boxes in file order) and the counts.

    Raises:
        AnnotationFileError: Unreadable file, missing fields, repeated ids, an annotation of an
            unknown image or a malformed ``bbox`` (the message names the file and the entry).
    """
    data = _load_json(ann_file)
    annotations = {int(a["id"]): a for a in data.get("annotations", [])}
    file_names = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
    # mmdet's COCO API prints its progress; the tool prints its own
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = _CocoDatasetWithAnnIds(
            ann_file=ann_file,
            metainfo=dict(classes=()),  # every category (see the module docstring)
            data_prefix=dict(img=""),
            test_mode=True,
            serialize_data=False,
            pipeline=[],
        )
    skipped = {"ignore": 0, "crowd": 0, "degenerate": 0}
    images = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        for ann_id in info["dropped_ann_ids"]:
            skipped["ignore" if annotations[ann_id].get("ignore", False) else "degenerate"] += 1
        kept = []
        for instance in info["instances"]:
            if instance["ignore_flag"] and skip_crowd:
                skipped["crowd"] += 1
            else:
                kept.append(instance)
        if not kept:
            continue
        images.append(
            ImageBoxes(
                image_id=int(info["img_id"]),
                file_name=file_names[int(info["img_id"])],
                ann_ids=np.array([inst["ann_id"] for inst in kept], dtype=np.int64),
                # float32 of the same [x, y, x + w, y + h] as LoadAnnotations
                boxes=np.array([inst["bbox"] for inst in kept], dtype=np.float32).reshape(-1, 4),
            )
        )
    images.sort(key=lambda image: image.image_id)
    return StoreBoxTable(images, len(data["images"]), len(annotations), skipped)
