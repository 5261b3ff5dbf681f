"""The boxes of a teacher store are exactly those mmdet's CocoDataset + LoadAnnotations yield.

The reference is mmdet itself, used as a training config uses it (``CocoDataset`` with
``metainfo.classes`` and ``LoadAnnotations`` in its pipeline), on a file holding every kind of
box its filters treat differently: ignored, crowd, under a pixel wide / tall, zero area, outside
the image, partly outside, negative corners, fractional coordinates, a second category, an
image without boxes and image / annotation ids in no particular order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mmdet.datasets import CocoDataset

import mmdistillmot.datasets.transforms.load_teacher_embeddings  # noqa: F401  (registers)
from mmdistillmot.datasets.teacher_embedding_store import write_teacher_embedding_store
from mmdistillmot.datasets.teacher_store_boxes import AnnotationFileError, read_store_boxes
from mmdistillmot.models.teachers.weights import file_sha256

W, H = 64, 48
#: (id, image_id, category_id, bbox, extra, what mmdet does with it)
ANNOTATIONS = [
    (40, 3, 1, [1.25, 2.5, 10.75, 20.0], {}, "kept"),
    (12, 3, 2, [30.0, 5.0, 8.0, 16.0], {}, "kept"),  # another category
    (13, 3, 1, [5.0, 5.0, 10.0, 10.0], {"iscrowd": 1}, "crowd"),
    (14, 3, 1, [5.0, 5.0, 10.0, 10.0], {"ignore": True}, "ignore"),
    (15, 3, 1, [5.0, 5.0, 0.5, 10.0], {}, "degenerate"),  # under a pixel wide
    (16, 3, 1, [5.0, 5.0, 10.0, 0.9], {}, "degenerate"),  # under a pixel tall
    (17, 3, 1, [5.0, 5.0, 10.0, 10.0], {"area": 0}, "degenerate"),
    (18, 3, 1, [W + 2.0, 5.0, 10.0, 10.0], {}, "degenerate"),  # right of the image
    (19, 3, 1, [-20.0, 5.0, 15.0, 10.0], {}, "degenerate"),  # left of the image
    (20, 3, 1, [58.0, 40.0, 20.0, 20.0], {}, "kept"),  # partly outside: kept unclipped
    (21, 3, 1, [-4.5, -3.25, 12.0, 12.0], {}, "kept"),  # negative corner
    (5, 1, 1, [0.0, 0.0, 1.0, 1.0], {}, "kept"),  # exactly one pixel
    (6, 1, 1, [10.0, 10.0, 30.0, 30.0], {"iscrowd": 1, "ignore": True}, "ignore"),
    (7, 1, 1, [20.0, 12.0, 8.5, 30.125], {}, "kept"),
    (99, 7, 1, [3.0, 3.0, 10.0, 10.0], {"iscrowd": 1}, "crowd"),  # image of crowd boxes only
]


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("store_boxes")
    images = [
        dict(id=image_id, file_name=f"{image_id:06d}.jpg", width=W, height=H)
        for image_id in (3, 1, 2, 7)  # 2: no boxes
    ]
    annotations = []
    for ann_id, image_id, category_id, bbox, extra, _ in ANNOTATIONS:
        ann = dict(id=ann_id, image_id=image_id, category_id=category_id, bbox=bbox)
        ann["area"] = bbox[2] * bbox[3]
        ann.update(extra)
        annotations.append(ann)
    path = root / "ann.json"
    categories = [dict(id=1, name="pedestrian"), dict(id=2, name="car")]
    path.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return str(path)


def _mmdet_boxes(ann_file: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per image id: mmdet's ``gt_bboxes`` float32 [N, 4] and ``gt_ignore_flags`` bool [N]."""
    dataset = CocoDataset(
        ann_file=ann_file,
        metainfo=dict(classes=("pedestrian", "car")),
        data_prefix=dict(img=""),
        pipeline=[dict(type="LoadAnnotations", with_bbox=True)],
        filter_cfg=dict(filter_empty_gt=False),
    )
    out = {}
    for index in range(len(dataset)):
        results = dataset[index]
        out[int(results["img_id"])] = (
            results["gt_bboxes"].numpy(),
            np.asarray(results["gt_ignore_flags"], dtype=bool),
        )
    return out


@pytest.mark.parametrize("skip_crowd", [True, False])
def test_boxes_equal_mmdet_datasets_exactly(ann_file: str, skip_crowd: bool) -> None:
    table = read_store_boxes(ann_file, skip_crowd=skip_crowd)
    mmdet = _mmdet_boxes(ann_file)
    ours = {image.image_id: image for image in table.images}
    assert [image.image_id for image in table.images] == sorted(ours)  # sorted by image id
    for image_id, (boxes, ignored) in mmdet.items():
        expected = boxes[~ignored] if skip_crowd else boxes
        if not len(expected):
            assert image_id not in ours
            continue
        image = ours[image_id]
        assert image.boxes.dtype == np.float32 and image.ann_ids.dtype == np.int64
        assert np.array_equal(image.boxes, expected)  # bit for bit, in mmdet's order
        assert image.file_name == f"{image_id:06d}.jpg"
    assert set(ours) == ({3, 1} if skip_crowd else {3, 1, 7})


@pytest.mark.parametrize("skip_crowd", [True, False])
def test_row_keys_are_the_annotation_ids_of_the_kept_boxes(ann_file: str, skip_crowd) -> None:
    table = read_store_boxes(ann_file, skip_crowd=skip_crowd)
    kept = {"kept", "crowd"} if not skip_crowd else {"kept"}
    expected = {a[0]: a for a in ANNOTATIONS if a[5] in kept}
    got = {
        int(ann_id): box
        for image in table.images
        for ann_id, box in zip(image.ann_ids, image.boxes, strict=True)
    }
    assert set(got) == set(expected)
    for ann_id, (_, image_id, _, (x, y, w, h), _, _) in expected.items():
        assert np.array_equal(got[ann_id], np.float32([x, y, x + w, y + h]))
        assert ann_id in next(i.ann_ids for i in table.images if i.image_id == image_id)
    counts = {k: sum(a[5] == k for a in ANNOTATIONS) for k in ("ignore", "crowd", "degenerate")}
    if not skip_crowd:
        counts["crowd"] = 0
    assert table.skipped == counts
    assert (table.num_images, table.num_annotations) == (4, len(ANNOTATIONS))


def test_a_store_of_these_boxes_serves_mmdets_pipeline(ann_file: str, tmp_path: Path) -> None:
    """LoadTeacherEmbeddings finds every non-crowd box mmdet's dataset gives, with its embedding."""
    table = read_store_boxes(ann_file)
    ann_ids = np.concatenate([i.ann_ids for i in table.images])
    embeddings = np.random.default_rng(0).standard_normal((len(ann_ids), 8)).astype(np.float16)
    write_teacher_embedding_store(
        str(tmp_path),
        embeddings=embeddings,
        ann_ids=ann_ids,
        image_ids=np.concatenate([np.full(len(i.ann_ids), i.image_id) for i in table.images]),
        boxes=np.concatenate([i.boxes for i in table.images]),
        teacher_fingerprint=dict(name="T", random_init=False),
        annotations=dict(sha256=file_sha256(ann_file)),
        extraction=dict(skip_crowd=True),
    )
    dataset = CocoDataset(
        ann_file=ann_file,
        metainfo=dict(classes=("pedestrian",)),  # a training config's subset of the classes
        data_prefix=dict(img=""),
        pipeline=[
            dict(type="LoadAnnotations", with_bbox=True),
            dict(type="LoadTeacherEmbeddings", store_dir=str(tmp_path), ann_file=ann_file),
        ],
    )
    by_ann_id = dict(zip(ann_ids.tolist(), embeddings, strict=True))
    seen = 0
    for index in range(len(dataset)):
        results = dataset[index]
        has = results["gt_has_teacher_embed"]
        assert np.array_equal(has, ~results["gt_ignore_flags"])  # crowd boxes only lack one
        for box, embed in zip(results["gt_bboxes"].numpy()[has], results["gt_teacher_embeds"][has]):
            x1, y1, x2, y2 = box.tolist()
            ann_id = next(
                a[0] for a in ANNOTATIONS
                if np.array_equal(np.float32([a[3][0], a[3][1], a[3][0] + a[3][2],
                                              a[3][1] + a[3][3]]), box) and a[2] == 1
            )  # fmt: skip
            assert np.array_equal(embed, by_ann_id[ann_id].astype(np.float32))
            seen += 1
    assert seen == sum(a[5] == "kept" and a[2] == 1 for a in ANNOTATIONS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"][4].update(image_id=99), r"annotations\[4\] \(id 15\): unknown"),
        (lambda d: d["annotations"][2].pop("area"), r"annotations\[2\] lacks \['area'\]"),
        (lambda d: d["annotations"][3].update(id=40), r"annotation id 40 appears twice"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"bbox must be \[x, y, w, h\]"),
        (lambda d: d["images"][1].pop("height"), r"images\[1\] lacks \['height'\]"),
        (lambda d: d.pop("categories"), "expected a 'categories' list"),
    ],
)
def test_malformed_files_name_the_entry(ann_file: str, tmp_path: Path, change, message) -> None:
    data = json.loads(Path(ann_file).read_text())
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(AnnotationFileError, match=f"bad.json'.*{message}"):
        read_store_boxes(str(bad))


def test_categories_without_names_are_read(tmp_path: Path) -> None:
    """Every category is kept, so a file whose categories carry no name can be read."""
    path = tmp_path / "ann.json"
    bbox = [2.0, 3.0, 10.0, 12.0]
    path.write_text(
        json.dumps(
            dict(
                images=[dict(id=1, file_name="a.png", width=W, height=H)],
                annotations=[dict(id=8, image_id=1, category_id=5, bbox=bbox, area=120.0)],
                categories=[dict(id=5)],
            )
        )
    )
    (image,) = read_store_boxes(str(path)).images
    assert image.ann_ids.tolist() == [8] and image.boxes.tolist() == [[2.0, 3.0, 12.0, 15.0]]
