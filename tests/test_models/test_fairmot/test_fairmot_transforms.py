"""Letterbox and FairMOT's augmentations keep boxes on the pixels they cover."""

from __future__ import annotations

import numpy as np
import pytest
from fairmot_testing import draw_frame
from mmdet.structures.bbox import HorizontalBoxes

from mmdistillmot.datasets.transforms.fairmot_augment import (
    FairMOTHSVAugment,
    FairMOTRandomAffine,
)
from mmdistillmot.datasets.transforms.letterbox import Letterbox

WHITE = (255, 255, 255)


def _white_extent(img: np.ndarray) -> np.ndarray:
    """``x1, y1, x2, y2`` (pixel edges) of the pixels brighter than 200 in every channel."""
    ys, xs = np.nonzero((img > 200).all(axis=2))
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def _results(img: np.ndarray, boxes: np.ndarray, **extra) -> dict:
    return dict(img=img, img_shape=img.shape[:2], gt_bboxes=boxes, **extra)


@pytest.mark.parametrize("box_type", ["numpy", "hbox"])
def test_letterbox_boxes_cover_the_same_pixels(box_type: str) -> None:
    box = np.array([[30.0, 20.0, 70.0, 90.0]], dtype=np.float32)
    img = draw_frame((200, 100), box, [WHITE])
    boxes = HorizontalBoxes(box.copy()) if box_type == "hbox" else box.copy()
    out = Letterbox(scale=(160, 160))(_results(img, boxes))
    assert out["img"].shape == (160, 160, 3)
    # 200x100 -> ratio 0.8 -> 160x80, padded 40 rows on top and at the bottom.
    assert out["scale_factor"] == (0.8, 0.8) and out["letterbox_offset"] == (0.0, 40.0)
    assert (out["img"][:40] == 128).all() and (out["img"][-40:] == 128).all()  # 127.5 rounded
    moved = out["gt_bboxes"].numpy() if box_type == "hbox" else out["gt_bboxes"]
    np.testing.assert_allclose(moved[0], [24.0, 56.0, 56.0, 112.0])
    np.testing.assert_allclose(_white_extent(out["img"]), moved[0], atol=1.0)


def test_letterbox_uneven_padding_follows_fairmot_rounding() -> None:
    # 100x100 into 161x100: no resize, 61 columns of padding split 30 left / 31 right.
    img = draw_frame((100, 100), np.array([[10.0, 10.0, 20.0, 20.0]]), [WHITE])
    out = Letterbox(scale=(161, 100))(_results(img, np.array([[10.0, 10.0, 20.0, 20.0]])))
    assert out["letterbox_offset"] == (30.0, 0.0)
    np.testing.assert_allclose(out["gt_bboxes"][0], [40.0, 10.0, 50.0, 20.0])


def _affine(monkeypatch: pytest.MonkeyPatch, **params) -> FairMOTRandomAffine:
    transform = FairMOTRandomAffine()
    drawn = dict(angle=0.0, scale=1.0, translate=(0.0, 0.0), shear=(0.0, 0.0))
    drawn.update(params)
    monkeypatch.setattr(transform, "_draw_params", lambda: drawn)
    return transform


def test_affine_scale_and_translate_keep_boxes_on_their_pixels(monkeypatch) -> None:
    box = np.array([[40.0, 30.0, 80.0, 110.0]], dtype=np.float32)
    img = draw_frame((160, 128), box, [WHITE])
    transform = _affine(monkeypatch, scale=0.7, translate=(0.1, -0.05))
    out = transform(_results(img, box.copy(), gt_bboxes_labels=np.array([0]),
                             gt_instances_ids=np.array([5])))  # fmt: skip
    np.testing.assert_allclose(_white_extent(out["img"]), out["gt_bboxes"][0], atol=1.5)
    assert out["gt_instances_ids"].tolist() == [5]


def test_affine_rotation_keeps_box_centred_on_the_object(monkeypatch) -> None:
    box = np.array([[50.0, 30.0, 80.0, 100.0]], dtype=np.float32)
    img = draw_frame((160, 128), box, [WHITE])
    out = _affine(monkeypatch, angle=5.0, shear=(2.0, -2.0))(_results(img, box.copy()))
    ys, xs = np.nonzero((out["img"] > 200).all(axis=2))
    new = out["gt_bboxes"][0]
    np.testing.assert_allclose([(new[0] + new[2]) / 2, (new[1] + new[3]) / 2],
                               [xs.mean() + 0.5, ys.mean() + 0.5], atol=1.0)  # fmt: skip
    extent = _white_extent(out["img"])
    # FairMOT shrinks the rotated hull by sqrt(cos 5deg): the box lies inside the hull.
    assert new[0] >= extent[0] - 1 and new[2] <= extent[2] + 1
    assert new[1] >= extent[1] - 1 and new[3] <= extent[3] + 1


def test_affine_drops_boxes_pushed_out_and_keeps_arrays_aligned(monkeypatch) -> None:
    boxes = np.array([[4.0, 4.0, 24.0, 44.0], [120.0, 40.0, 150.0, 100.0],
                      [60.0, 40.0, 62.0, 80.0]], dtype=np.float32)  # fmt: skip
    img = draw_frame((160, 128), boxes, [WHITE] * 3)
    results = _results(
        img, HorizontalBoxes(boxes), gt_bboxes_labels=np.array([0, 0, 0]),
        gt_ignore_flags=np.array([False, True, False]), gt_instances_ids=np.array([7, 8, 9]),
    )  # fmt: skip
    # Shift 40 px left: box 0 leaves the image, box 2 (2 px wide) is too thin; box 1 stays.
    out = _affine(monkeypatch, translate=(-0.25, 0.0))(results)
    assert isinstance(out["gt_bboxes"], HorizontalBoxes)
    np.testing.assert_allclose(out["gt_bboxes"].numpy(), [[80.0, 40.0, 110.0, 100.0]], atol=1e-4)
    assert out["gt_instances_ids"].tolist() == [8]
    assert out["gt_ignore_flags"].tolist() == [True]
    assert out["gt_bboxes_labels"].tolist() == [0]


def test_affine_clips_to_the_image(monkeypatch) -> None:
    box = np.array([[100.0, 20.0, 150.0, 100.0]], dtype=np.float32)
    out = _affine(monkeypatch, translate=(0.1, 0.0))(
        _results(draw_frame((160, 128), box, [WHITE]), box.copy())
    )
    np.testing.assert_allclose(out["gt_bboxes"][0], [116.0, 20.0, 160.0, 100.0], atol=1e-4)


def test_affine_refuses_misaligned_instance_arrays() -> None:
    results = _results(np.zeros((32, 32, 3), np.uint8), np.zeros((2, 4), np.float32),
                       gt_instances_ids=np.array([1]))  # fmt: skip
    with pytest.raises(ValueError, match="gt_instances_ids"):
        FairMOTRandomAffine()(results)


def test_hsv_gains_scale_saturation_and_value(monkeypatch) -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[...] = (50, 100, 200)  # BGR: V = 200, S = 255 * (200 - 50) / 200
    transform = FairMOTHSVAugment()
    monkeypatch.setattr(transform, "_draw_gains", lambda: (1.0, 0.5))
    out = transform(dict(img=img.copy()))["img"]
    # Halving V with S and H unchanged halves every channel.
    np.testing.assert_allclose(out[0, 0], [25, 50, 100], atol=2)
    monkeypatch.setattr(transform, "_draw_gains", lambda: (1.0, 1.0))
    np.testing.assert_allclose(transform(dict(img=img.copy()))["img"], img, atol=2)


def test_hsv_gains_are_drawn_in_range() -> None:
    transform = FairMOTHSVAugment(saturation_gain=0.5, value_gain=0.5)
    gains = np.array([transform._draw_gains() for _ in range(200)])
    assert gains.min() >= 0.5 and gains.max() <= 1.5
    assert gains.min() < 0.7 and gains.max() > 1.3
