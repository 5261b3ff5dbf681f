"""PseudoClipFromImage: a still image as a MOTRv2 clip (CrowdHuman joint training).

Checks, on a drawn synthetic image with a fixed shift: the warp matrix against a hand
computation, that the pixels move exactly with the boxes, that identities hold over the clip,
that a box pushed out of the frame is gone from every later frame of the packed targets, and
that det-db proposals (both key styles) come out transformed exactly like the boxes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import init_default_scope

import mmdistillmot.datasets.transforms  # noqa: F401  (registers the transforms)
from mmdistillmot.datasets.transforms.pseudo_clip_from_image import (
    PseudoClipFromImage,
    pseudo_clip_step_matrix,
)

H, W = 120, 160
DX, DY = 20, -10  # keep the left edge (window [0, 140]) and the bottom edge (window [10, 120])
# A: stays; B: right edge, out at frame 1; C: top edge, out at frame 1;
# D: out at frame 3 (x1 * (8/7)^2 < 160 <= x1 * (8/7)^3); E: an ignore region (iscrowd)
BOXES = np.array(
    [
        [40, 30, 90, 80],
        [150, 20, 159, 60],
        [60, 0, 80, 8],
        [115, 40, 130, 70],
        [10, 90, 30, 110],
    ],
    dtype=np.float32,
)
IGNORE = np.array([False, False, False, False, True])
ALIVE = [[0, 1, 2, 3], [0, 3], [0, 3], [0], [0]]  # non-ignored ids present in frames 0..4


def _image() -> np.ndarray:
    """Black BGR frame with box A filled white (the box edges are pixel edges)."""
    img = np.zeros((H, W, 3), dtype=np.uint8)
    x1, y1, x2, y2 = BOXES[0].astype(int)
    img[y1:y2, x1:x2] = 255
    return img


def _results(img_path: str = "data/CrowdHuman/Images/273271,c9db000d5146c15.jpg") -> dict:
    return dict(
        img=_image(),
        img_shape=(H, W),
        ori_shape=(H, W),
        img_id=7,
        img_path=img_path,
        gt_bboxes=HorizontalBoxes(BOXES.copy()),
        gt_bboxes_labels=np.zeros(len(BOXES), dtype=np.int64),
        gt_ignore_flags=IGNORE.copy(),
    )


def _fixed(transform: PseudoClipFromImage) -> PseudoClipFromImage:
    transform._draw_shift = lambda width, height: (DX, DY)  # type: ignore[method-assign]
    return transform


def test_step_matrix_by_hand():
    step = pseudo_clip_step_matrix(W, H, DX, DY)
    # x' = 160/140 * x ; y' = 120/110 * (y - 10)
    np.testing.assert_allclose(step @ [40, 30, 1], [40 * 8 / 7, 20 * 12 / 11, 1])
    np.testing.assert_allclose(step @ [140, 120, 1], [160, 120, 1])  # window corner -> frame
    left = pseudo_clip_step_matrix(W, H, -DX, -DY)  # keeps the right and top edges
    np.testing.assert_allclose(left @ [20, 0, 1], [0, 0, 1])
    np.testing.assert_allclose(left @ [160, 110, 1], [160, 120, 1])
    with pytest.raises(ValueError, match="0 < \\|dx\\| < width"):
        pseudo_clip_step_matrix(W, H, 0, 5)


def test_pixels_move_exactly_with_the_box():
    clip = _fixed(PseudoClipFromImage(num_frames=5)).transform(_results())
    assert len(clip["img"]) == 5
    np.testing.assert_array_equal(clip["img"][0], _image())
    for frame in range(5):
        img = clip["img"][frame][..., 0].astype(int)
        x1, y1, x2, y2 = clip["gt_bboxes"][frame][0]  # box A, always first
        if frame:
            s_x = (8 / 7) ** frame
            expected_y = np.array([30.0, 80.0])
            for _ in range(frame):
                expected_y = (expected_y - 10) * 12 / 11
            np.testing.assert_allclose([x1, x2], [40 * s_x, 90 * s_x], rtol=1e-5)
            # the top edge passes y = 0 at frame 4 and is clipped there
            np.testing.assert_allclose([y1, y2], expected_y.clip(0, H), rtol=1e-5)
        # every pixel whose square lies 1 px inside the box is white, every pixel whose square
        # lies 1 px outside it is black (bilinear interpolation blurs only the border pixels)
        inner = img[
            int(np.ceil(y1)) + 1 : int(np.floor(y2)) - 1,
            int(np.ceil(x1)) + 1 : int(np.floor(x2)) - 1,
        ]
        assert inner.size > 0 and inner.min() == 255
        outside = np.ones_like(img, dtype=bool)
        outside[
            max(int(np.floor(y1)) - 1, 0) : int(np.ceil(y2)) + 1,
            max(int(np.floor(x1)) - 1, 0) : int(np.ceil(x2)) + 1,
        ] = False
        assert img[outside].max() == 0
        assert clip["img"][frame].shape == (H, W, 3) and clip["img_shape"][frame] == (H, W)


def test_ids_kept_and_boxes_leaving_the_frame_dropped_for_good():
    clip = _fixed(PseudoClipFromImage(num_frames=5)).transform(_results())
    for frame in range(5):
        ids = clip["gt_instances_ids"][frame]
        ignored = clip["gt_ignore_flags"][frame]
        assert ids[~ignored].tolist() == ALIVE[frame]
        assert ids[ignored].tolist() == [4]  # the ignore region stays inside
        assert len(clip["gt_bboxes"][frame]) == len(ids) == len(clip["gt_bboxes_labels"][frame])
        boxes = clip["gt_bboxes"][frame]
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert boxes[:, 0::2].min() >= 0 and boxes[:, 0::2].max() <= W
        assert clip["frame_id"][frame] == frame and clip["video_length"][frame] == 5
        assert clip["img_path"][frame] == clip["img_path"][0]
        inst = clip["instances"][frame]
        assert [d["instance_id"] for d in inst] == ids.tolist()
    # box D's height is untouched by the x shift and scaled by 12/11 per frame until it leaves
    for frame in (1, 2):
        row = clip["gt_instances_ids"][frame].tolist().index(3)
        d = clip["gt_bboxes"][frame][row]
        assert d[3] - d[1] == pytest.approx(30 * (12 / 11) ** frame, rel=1e-5)


def _write_det_db(path: Path, key: str) -> None:
    lines = [
        f"{x1},{y1},{x2 - x1},{y2 - y1},{0.5 + i / 10}\n"
        for i, (x1, y1, x2, y2) in enumerate(BOXES)
    ]
    path.write_text(json.dumps({key: lines, "crowdhuman/train_image/other.txt": []}))


@pytest.mark.parametrize(
    "key",
    [
        "Images/273271,c9db000d5146c15.jpg",  # make_det_db.py detector over crowdhuman_to_coco
        "crowdhuman/train_image/273271,c9db000d5146c15.txt",  # MOTRv2's public det_db.json
    ],
)
def test_packed_clip_proposals_move_like_the_boxes(tmp_path, key):
    init_default_scope("mmdet")
    det_db = tmp_path / "det_db.json"
    _write_det_db(det_db, key)
    pipeline = Compose(
        [
            dict(type="PseudoClipFromImage", num_frames=5),
            dict(
                type="TransformBroadcaster",
                share_random_params=True,
                transforms=[
                    dict(type="RandomFlip", prob=1.0),
                    dict(type="RandomChoiceResize", scales=[(240, 90)], keep_ratio=True),
                    dict(type="LoadDetDBProposals", det_db=str(det_db)),
                ],
            ),
            dict(type="PackTrackInputs", meta_keys=("det_proposals", "frame_stride")),
        ]
    )
    _fixed(pipeline.transforms[0])
    packed = pipeline(_results())
    clip = packed["data_samples"]
    assert tuple(packed["inputs"].shape) == (5, 3, 90, 120)
    for frame in range(5):
        sample = clip[frame]
        assert sample.flip and sample.img_shape == (90, 120) and sample.frame_stride == 1
        gt = sample.gt_instances
        assert gt.instances_ids.tolist() == ALIVE[frame]
        assert sample.ignored_instances.instances_ids.tolist() == [4]
        proposals = sample.det_proposals
        # the proposals equal the GT boxes: after the pseudo-clip warp, the flip and the resize
        # they still do, and they are dropped exactly where the boxes are
        alive = ALIVE[frame] + [4]
        kept = sorted(alive)
        np.testing.assert_allclose(proposals[:, 4], [0.5 + i / 10 for i in kept], rtol=1e-6)
        boxes = {int(i): b for i, b in zip(gt.instances_ids, gt.bboxes.numpy())}
        boxes[4] = sample.ignored_instances.bboxes.numpy()[0]
        np.testing.assert_allclose(proposals[:, :4], [boxes[i] for i in kept], atol=1e-3)
    # flipped: box A (x 40..90 of 160, at 3/4 scale) sits at 120 - 90*0.75 .. 120 - 40*0.75
    np.testing.assert_allclose(clip[0].gt_instances.bboxes.numpy()[0, [0, 2]], [52.5, 90.0])


def test_errors_and_randomness():
    with pytest.raises(ValueError, match="num_frames"):
        PseudoClipFromImage(num_frames=0)
    results = _results()
    del results["gt_bboxes"]
    with pytest.raises(KeyError, match="273271.*LoadAnnotations"):
        PseudoClipFromImage().transform(results)
    np.random.seed(0)  # noqa: NPY002
    shifts = {
        PseudoClipFromImage(max_shift=50).transform(_results())["pseudo_clip_shift"][0]
        for _ in range(40)
    }
    assert len(shifts) > 20  # drawn per clip
    for dx, dy in shifts:
        assert 1 <= abs(dx) <= 50 and 1 <= abs(dy) <= 50
    assert {np.sign(dx) for dx, _ in shifts} == {-1, 1} and {np.sign(dy) for _, dy in shifts} == {
        -1,
        1,
    }
