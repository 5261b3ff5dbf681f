"""Teacher embedding store and the pipeline transforms that carry its embeddings to the model."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import RandomCrop
from mmdet.registry import TRANSFORMS
from mmengine.registry import DefaultScope

import mmdistillmot.datasets.transforms.load_teacher_embeddings  # noqa: F401  (registers)
from mmdistillmot.datasets.teacher_embedding_store import (
    StaleTeacherStoreError,
    TeacherEmbeddingStore,
    write_teacher_embedding_store,
)
from mmdistillmot.models.teachers.weights import file_sha256

EMBED_DIM = 6

# Two 40x60 images. Image 1: three people and a crowd box; image 2: two people, one box twice
# (two annotations of the same pixels), and a 2-pixel-wide sliver.
IMAGES = [
    dict(id=1, file_name="a.png", width=60, height=40),
    dict(id=2, file_name="b.png", width=60, height=40),
]
ANNOTATIONS = [
    dict(id=11, image_id=1, category_id=1, bbox=[2, 3, 10, 20], area=200, iscrowd=0),
    dict(id=12, image_id=1, category_id=1, bbox=[30.5, 5.25, 12, 30], area=360, iscrowd=0),
    dict(id=13, image_id=1, category_id=1, bbox=[45, 1, 14, 25], area=350, iscrowd=0),
    dict(id=14, image_id=1, category_id=1, bbox=[15, 20, 20, 15], area=300, iscrowd=1),
    dict(id=21, image_id=2, category_id=1, bbox=[5, 5, 10, 30], area=300, iscrowd=0),
    dict(id=22, image_id=2, category_id=1, bbox=[5, 5, 10, 30], area=300, iscrowd=0),
    dict(id=23, image_id=2, category_id=1, bbox=[40, 10, 2, 20], area=40, iscrowd=0),
]


def embedding_of(ann_id: int) -> np.ndarray:
    """A float16-exact embedding that names its annotation id."""
    return np.array([ann_id, -ann_id, 0.5, 1.0, 2.0, ann_id / 4], dtype=np.float32)


def ann_id_of(embedding: torch.Tensor) -> int:
    return int(round(float(embedding[0])))


def original_box(ann_id: int) -> np.ndarray:
    x, y, w, h = next(a["bbox"] for a in ANNOTATIONS if a["id"] == ann_id)
    return np.array([x, y, x + w, y + h], dtype=np.float32)


@pytest.fixture()
def coco(tmp_path: Path) -> dict:
    """Annotation file, images and a store (built by hand, crowd box skipped)."""
    ann_file = tmp_path / "ann.json"
    categories = [dict(id=1, name="person")]
    ann_file.write_text(
        json.dumps(dict(images=IMAGES, annotations=ANNOTATIONS, categories=categories))
    )
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    for image in IMAGES:
        pixels = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "img" / image["file_name"]), pixels)
    kept = [a for a in ANNOTATIONS if not a["iscrowd"]]
    store_dir = tmp_path / "store"
    write_teacher_embedding_store(
        str(store_dir),
        embeddings=np.stack([embedding_of(a["id"]) for a in kept]),
        ann_ids=np.array([a["id"] for a in kept]),
        image_ids=np.array([a["image_id"] for a in kept]),
        boxes=np.stack([original_box(a["id"]) for a in kept]),
        teacher_fingerprint=dict(
            name="OSNetTeacher", arch="osnet_x0_25", weights_sha256="ab12", random_init=False
        ),
        annotations=dict(sha256=file_sha256(str(ann_file))),
        extraction=dict(skip_crowd=True),
    )
    return dict(ann_file=str(ann_file), img_dir=str(tmp_path / "img"), store=str(store_dir))


def make_dataset(coco: dict, pipeline: list) -> CocoDataset:
    with DefaultScope.overwrite_default_scope("mmdet"):
        return CocoDataset(
            ann_file=coco["ann_file"],
            data_root="",
            data_prefix=dict(img=coco["img_dir"] + "/"),
            metainfo=dict(classes=("person",)),
            filter_cfg=None,
            pipeline=pipeline,
            test_mode=False,
        )


def loading(coco: dict, **kwargs) -> list:
    return [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_bbox=True),
        dict(type="LoadTeacherEmbeddings", store_dir=coco["store"], **kwargs),
    ]


def project(
    boxes: np.ndarray, homography: np.ndarray, width: float, height: float, clip: bool = True
) -> np.ndarray:
    """Map xyxy boxes through a 3x3 homography (the enclosing box of the 4 corners).

    Clipped to the image unless ``clip`` is False.
    """
    corners = np.stack(
        [boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], 1
    )  # [N, 4, 2]
    ones = np.ones((*corners.shape[:2], 1))
    mapped = np.concatenate([corners, ones], -1) @ np.asarray(homography, np.float64).T
    mapped = mapped[..., :2] / mapped[..., 2:]
    out = np.concatenate([mapped.min(1), mapped.max(1)], -1)
    if clip:
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def visible_fraction(ann_id: int, homography: np.ndarray, width: float, height: float) -> float:
    """Area of the box left in the image over the area of the whole transformed box."""

    def area(box: np.ndarray) -> float:
        return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))

    box = original_box(ann_id)[None]
    whole = project(box, homography, width, height, clip=False)[0]
    return area(project(box, homography, width, height)[0]) / area(whole)


def test_store_round_trip_and_lookup(coco: dict) -> None:
    store = TeacherEmbeddingStore(coco["store"], ann_file=coco["ann_file"])
    assert len(store) == 6 and store.embed_dim == EMBED_DIM and store.skip_crowd
    assert np.load(Path(coco["store"]) / "embeddings.npy").dtype == np.float16
    rows = store.rows_of_ann_ids(np.array([22, 11, 14, 99]))
    assert rows[2] == -1 and rows[3] == -1  # crowd box skipped, unknown id
    got = store.get(rows)
    assert np.array_equal(got[0], embedding_of(22)) and np.array_equal(got[1], embedding_of(11))
    assert np.array_equal(got[2], np.zeros(EMBED_DIM))
    # rows of one image are contiguous and sorted by annotation id
    span = store.image_rows(1)
    assert store.ann_ids[span.start : span.stop].tolist() == [11, 12, 13]
    assert store.image_rows(7).start == store.image_rows(7).stop
    # duplicate boxes: each stored row used once
    matched = store.match_boxes(2, np.stack([original_box(21), original_box(22)]))
    assert sorted(store.ann_ids[matched].tolist()) == [21, 22]


def test_embeddings_follow_boxes_through_geometric_transforms(coco: dict) -> None:
    pipeline = loading(coco, ann_file=coco["ann_file"]) + [
        dict(
            type="KeepTeacherEmbedsAligned",
            transforms=[
                dict(type="Resize", scale=(120, 80), keep_ratio=True),  # x2
                dict(type="RandomFlip", prob=1.0, direction="horizontal"),
                dict(type="RandomCrop", crop_size=(50, 70)),  # drops and clips boxes
                dict(type="FilterAnnotations", min_gt_bbox_wh=(5, 5)),  # drops slivers
                dict(
                    type="PackDetInputs",
                    meta_keys=("img_id", "img_shape", "homography_matrix"),
                ),
            ],
        ),
    ]
    dataset = make_dataset(coco, pipeline)
    seen_ids: set[int] = set()
    dropped_ids: set[int] = set()
    for seed in range(12):
        np.random.seed(seed)  # noqa: NPY002  (mmdet transforms draw from the global RNG)
        for index in range(len(dataset)):
            sample = dataset[index]["data_samples"]
            instances = sample.gt_instances
            assert instances.teacher_embeds.shape == (len(instances), EMBED_DIM)
            assert instances.has_teacher_embed.dtype == torch.bool
            assert instances.labels.tolist() == [0] * len(instances)  # labels restored
            height, width = sample.img_shape
            for box, embed, has in zip(
                instances.bboxes.numpy(), instances.teacher_embeds, instances.has_teacher_embed
            ):
                if not has:  # cropped to a sliver: which one?
                    assert not embed.any()
                    image_ids = [11, 12, 13] if sample.img_id == 1 else [21, 22, 23]
                    ann_id = next(
                        i
                        for i in image_ids
                        if np.allclose(
                            box,
                            project(original_box(i)[None], sample.homography_matrix, width, height),
                            atol=1e-3,
                        )
                    )
                    fraction = visible_fraction(ann_id, sample.homography_matrix, width, height)
                    assert fraction < 0.1, (ann_id, fraction)
                    dropped_ids.add(ann_id)
                    continue
                ann_id = ann_id_of(embed)
                assert np.array_equal(embed.numpy(), embedding_of(ann_id))
                expected = project(
                    original_box(ann_id)[None], sample.homography_matrix, width, height
                )
                assert np.allclose(box, expected[0], atol=1e-3), (ann_id, box, expected)
                assert visible_fraction(ann_id, sample.homography_matrix, width, height) >= 0.1
                seen_ids.add(ann_id)
            # the crowd box (image 1) is packed as ignored and has no embedding
            ignored = sample.ignored_instances
            assert ignored.teacher_embeds.shape == (len(ignored), EMBED_DIM)
            assert not ignored.has_teacher_embed.any()
    assert {11, 12, 13, 21, 22} <= seen_ids and 23 not in seen_ids  # 23 is 4 px wide after x2


def test_without_packer_the_results_keys_stay_aligned(coco: dict) -> None:
    pipeline = loading(coco) + [
        dict(
            type="KeepTeacherEmbedsAligned",
            transforms=[dict(type="FilterAnnotations", min_gt_bbox_wh=(3, 3))],
        )
    ]
    results = make_dataset(coco, pipeline)[1]
    assert results["gt_bboxes_labels"].tolist() == [0, 0]
    ids = sorted(ann_id_of(torch.from_numpy(e)) for e in results["gt_teacher_embeds"])
    assert ids == [21, 22]
    assert results["gt_has_teacher_embed"].tolist() == [True, True]


def test_instances_brought_in_by_a_mixing_transform_have_no_embedding(coco: dict) -> None:
    @TRANSFORMS.register_module(force=True)
    class _AppendForeignBox:
        """Stands for Mosaic/MixUp: adds a box from another image."""

        def __call__(self, results: dict) -> dict:
            results["gt_bboxes"] = results["gt_bboxes"].cat(
                [results["gt_bboxes"], type(results["gt_bboxes"])([[1.0, 1.0, 9.0, 9.0]])]
            )
            results["gt_bboxes_labels"] = np.append(results["gt_bboxes_labels"], 0)
            results["gt_ignore_flags"] = np.append(results["gt_ignore_flags"], False)
            return results

    pipeline = loading(coco) + [
        dict(
            type="KeepTeacherEmbedsAligned",
            transforms=[dict(type="_AppendForeignBox"), dict(type="PackDetInputs")],
        )
    ]
    instances = make_dataset(coco, pipeline)[0]["data_samples"].gt_instances
    assert instances.has_teacher_embed.tolist() == [True, True, True, False]
    assert not instances.teacher_embeds[3].any()
    assert [ann_id_of(e) for e in instances.teacher_embeds[:3]] == [11, 12, 13]


def test_boxes_are_found_by_their_coordinates_in_any_order(coco: dict) -> None:
    """The key is the box (mmdet's CocoDataset keeps no annotation id per instance).

    Two boxes of image 2 in reverse order get their own embeddings; a box moved by 3 px (the
    annotations changed since extraction) is refused, naming the box.
    """
    transform = TRANSFORMS.build(
        dict(type="LoadTeacherEmbeddings", store_dir=coco["store"], ann_file=coco["ann_file"])
    )
    boxes = np.stack([original_box(23), original_box(21)])
    results = dict(img_id=2, gt_bboxes=boxes, gt_ignore_flags=np.zeros(2, bool))
    out = transform(copy.deepcopy(results))
    assert [ann_id_of(torch.from_numpy(e)) for e in out["gt_teacher_embeds"]] == [23, 21]
    results["gt_bboxes"] = boxes + np.array([0, 0, 3, 0], dtype=np.float32)
    with pytest.raises(StaleTeacherStoreError, match="no embedding for box"):
        transform(results)


def test_changed_annotation_file_is_stale(coco: dict) -> None:
    data = json.loads(Path(coco["ann_file"]).read_text())
    data["annotations"][1]["bbox"] = [31, 5.25, 12, 30]  # someone fixed a box
    Path(coco["ann_file"]).write_text(json.dumps(data))
    # with the dataset's annotation file named: refused when the pipeline is built
    with pytest.raises(StaleTeacherStoreError, match="stale: it was extracted from"):
        TRANSFORMS.build(
            dict(type="LoadTeacherEmbeddings", store_dir=coco["store"], ann_file=coco["ann_file"])
        )
    # without it: refused at the first sample whose box is unknown to the store
    dataset = make_dataset(coco, loading(coco))
    with pytest.raises(StaleTeacherStoreError, match=r"no embedding for box \[31.0, 5.25"):
        dataset[0]


def test_mismatched_teacher_and_damaged_store_are_errors(coco: dict, tmp_path: Path) -> None:
    with pytest.raises(StaleTeacherStoreError, match="arch: store has 'osnet_x0_25'"):
        TeacherEmbeddingStore(coco["store"], expected_teacher=dict(arch="osnet_x1_0"))
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"other weights")
    with pytest.raises(StaleTeacherStoreError, match="weights: store made with sha256 ab12"):
        TeacherEmbeddingStore(coco["store"], expected_teacher=dict(weights=str(weights)))
    TeacherEmbeddingStore(coco["store"], expected_teacher=dict(name="OSNetTeacher"))  # fine
    embeddings = Path(coco["store"]) / "embeddings.npy"
    array = np.load(embeddings)
    array[0, 0] += 1
    np.save(embeddings, array)
    with pytest.raises(StaleTeacherStoreError, match="does not match the sha256"):
        TeacherEmbeddingStore(coco["store"])
    (Path(coco["store"]) / "fingerprint.json").unlink()
    with pytest.raises(StaleTeacherStoreError, match="not a complete teacher embedding store"):
        TeacherEmbeddingStore(coco["store"])


def _set_random_init(store: str, value: object) -> None:
    fingerprint = Path(store) / "fingerprint.json"
    data = json.loads(fingerprint.read_text())
    if value is None:
        del data["teacher"]["random_init"]
    else:
        data["teacher"]["random_init"] = value
    fingerprint.write_text(json.dumps(data))


@pytest.mark.parametrize("random_init", [True, None], ids=["random-init", "silent"])
def test_random_init_or_silent_stores_are_refused_unless_opted_in(
    coco: dict, random_init: object
) -> None:
    """Issue 14 item 3: a random-init teacher's store does not train silently."""
    _set_random_init(coco["store"], random_init)
    said = "ran on random weights" if random_init else "has no 'random_init' field"
    with pytest.raises(StaleTeacherStoreError, match=said + ".*allow_random_init_teacher=True"):
        TeacherEmbeddingStore(coco["store"])
    with pytest.raises(StaleTeacherStoreError, match=said):
        TRANSFORMS.build(dict(type="LoadTeacherEmbeddings", store_dir=coco["store"]))
    TeacherEmbeddingStore(coco["store"], allow_random_init_teacher=True)  # opted in: fine
    TRANSFORMS.build(
        dict(type="LoadTeacherEmbeddings", store_dir=coco["store"], allow_random_init_teacher=True)
    )


def test_a_config_can_pin_the_teacher_weights_by_hash(coco: dict) -> None:
    """``weights_sha256`` in expected_teacher: other weights (Market vs MSMT17) are refused."""
    TeacherEmbeddingStore(coco["store"], expected_teacher=dict(weights_sha256="ab12"))
    with pytest.raises(StaleTeacherStoreError, match="weights_sha256: store has 'ab12'"):
        TeacherEmbeddingStore(coco["store"], expected_teacher=dict(weights_sha256="cd34"))


def test_pipeline_order_errors(coco: dict) -> None:
    late = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_bbox=True),
        dict(type="Resize", scale=(120, 80), keep_ratio=True),
        dict(type="LoadTeacherEmbeddings", store_dir=coco["store"]),
    ]
    with pytest.raises(RuntimeError, match="before geometric transforms"):
        make_dataset(coco, late)[0]
    dropped = loading(coco) + [
        dict(type="FilterAnnotations", min_gt_bbox_wh=(3, 3)),
        dict(type="KeepTeacherEmbedsAligned", transforms=[dict(type="PackDetInputs")]),
    ]
    with pytest.raises(ValueError, match="move it inside the wrapper"):
        make_dataset(coco, dropped)[1]
    with pytest.raises(ValueError, match="embed_dim=7"):
        TRANSFORMS.build(dict(type="LoadTeacherEmbeddings", store_dir=coco["store"], embed_dim=7))
    first_dims = loading(coco, embed_dim=2)
    assert make_dataset(coco, first_dims)[0]["gt_teacher_embeds"].shape == (4, 2)


# --------------------------------------------------------------------- boxes cropped to a sliver
@TRANSFORMS.register_module(force=True)
class _FixedOffsetCrop(RandomCrop):
    """mmdet's RandomCrop (its cropping, clipping and homography) at a chosen offset."""

    def __init__(self, offset: tuple[int, int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.offset = tuple(offset)  # (offset_h, offset_w)

    def _rand_offset(self, margin: tuple[int, int]) -> tuple[int, int]:
        assert self.offset[0] <= margin[0] and self.offset[1] <= margin[1]
        return self.offset


@TRANSFORMS.register_module(force=True)
class _ShiftBoxesUnrecorded:
    """Moves every box 3 px right without recording a homography (as Mosaic or Expand do)."""

    def __call__(self, results: dict) -> dict:
        results["gt_bboxes"].translate_([3.0, 0.0])
        return results


def wrapped(coco: dict, transforms: list, **kwargs) -> list:
    meta_keys = ("img_id", "img_shape", "homography_matrix")
    packer = dict(type="PackDetInputs", meta_keys=meta_keys)
    return loading(coco) + [
        dict(type="KeepTeacherEmbedsAligned", transforms=[*transforms, packer], **kwargs)
    ]


@pytest.mark.parametrize(
    ("crop_width", "box_13", "keeps_13"),
    [
        (46, [45.0, 1.0, 46.0, 26.0], False),  # 1 of its 14 px wide left: 7 %
        (52, [45.0, 1.0, 52.0, 26.0], True),  # 7 of 14: 50 %
    ],
)
def test_box_cropped_to_a_sliver_keeps_its_box_but_loses_its_embedding(
    coco: dict, crop_width: int, box_13: list, keeps_13: bool
) -> None:
    # image 1 (60 x 40): boxes 11 [2, 3, 12, 23], 12 [30.5, 5.25, 42.5, 35.25], 13 [45, 1, 59, 26];
    # keep x in [0, crop_width] (mmdet's absolute crop_size is (w, h))
    crop = dict(type="_FixedOffsetCrop", offset=(0, 0), crop_size=(crop_width, 40))
    instances = make_dataset(coco, wrapped(coco, [crop]))[0]["data_samples"].gt_instances
    expected_boxes = [original_box(11).tolist(), original_box(12).tolist(), box_13]
    assert np.allclose(instances.bboxes.numpy(), expected_boxes)  # the box stays for detection
    assert instances.has_teacher_embed.tolist() == [True, True, keeps_13]
    assert np.array_equal(instances.teacher_embeds[0].numpy(), embedding_of(11))
    assert np.array_equal(instances.teacher_embeds[1].numpy(), embedding_of(12))
    third = embedding_of(13) if keeps_13 else np.zeros(EMBED_DIM)
    assert np.array_equal(instances.teacher_embeds[2].numpy(), third)


def test_visible_fraction_follows_resize_flip_and_crop(coco: dict) -> None:
    transforms = [
        dict(type="Resize", scale=(120, 80), keep_ratio=True),  # x2
        dict(type="RandomFlip", prob=1.0, direction="horizontal"),
        dict(type="_FixedOffsetCrop", offset=(0, 28), crop_size=(60, 80)),  # x in [28, 88]
        dict(type="Pad", size_divisor=32),  # does not move boxes
    ]
    instances = make_dataset(coco, wrapped(coco, transforms))[0]["data_samples"].gt_instances
    # x2 then flipped in a 120 px wide image: 11 -> [96, 6, 116, 46] (cropped away),
    # 12 -> [35, 10.5, 59, 70.5] (inside), 13 -> [2, 2, 30, 52] (2 of its 28 px left: 7 %)
    assert np.allclose(instances.bboxes.numpy(), [[7.0, 10.5, 31.0, 70.5], [0.0, 2.0, 2.0, 52.0]])
    assert instances.has_teacher_embed.tolist() == [True, False]
    assert np.array_equal(instances.teacher_embeds[0].numpy(), embedding_of(12))
    assert not instances.teacher_embeds[1].any()


def test_resize_flip_and_photometric_transforms_keep_every_embedding(coco: dict) -> None:
    transforms = [
        dict(type="RandomResize", scale=(120, 80), ratio_range=(0.5, 1.5), keep_ratio=True),
        dict(type="RandomFlip", prob=0.5, direction=["horizontal", "vertical"]),
        dict(type="PhotoMetricDistortion"),
        dict(type="Pad", size_divisor=32),
    ]
    dataset = make_dataset(coco, wrapped(coco, transforms))
    for seed in range(6):
        np.random.seed(seed)  # noqa: NPY002  (mmdet transforms draw from the global RNG)
        for index, ann_ids in ((0, [11, 12, 13]), (1, [21, 22, 23])):
            instances = dataset[index]["data_samples"].gt_instances
            # 23 is 2 px wide to begin with, not a sliver of a person
            assert instances.has_teacher_embed.all()
            assert [ann_id_of(e) for e in instances.teacher_embeds] == ann_ids


@pytest.mark.parametrize(
    "transform",
    [
        dict(type="_ShiftBoxesUnrecorded"),
        # mmdet 3.3's RandomAffine and RandomShift move boxes without recording a homography
        dict(type="RandomAffine", max_rotate_degree=15, border=(0, 0)),
        dict(type="RandomShift", prob=1.0, max_shift_px=8),
    ],
    ids=lambda t: t["type"],
)
def test_transform_moving_boxes_without_recording_them_is_an_error(
    coco: dict, transform: dict
) -> None:
    np.random.seed(0)  # noqa: NPY002  (mmdet transforms draw from the global RNG)
    random.seed(1)  # RandomShift draws its shift from python's RNG (seed 1: a non-zero shift)
    with pytest.raises(RuntimeError, match=f"{transform['type']} moved box"):
        make_dataset(coco, wrapped(coco, [transform]))[0]


def test_the_check_can_be_switched_off(coco: dict) -> None:
    shift = [dict(type="_ShiftBoxesUnrecorded")]
    # checking switched off: the old behaviour, every box keeps its embedding
    instances = make_dataset(coco, wrapped(coco, shift, min_visible_fraction=0))[0][
        "data_samples"
    ].gt_instances
    assert instances.has_teacher_embed.tolist() == [True, True, True]
    with pytest.raises(ValueError, match="min_visible_fraction"):
        TRANSFORMS.build(
            dict(type="KeepTeacherEmbedsAligned", transforms=[], min_visible_fraction=2)
        )
