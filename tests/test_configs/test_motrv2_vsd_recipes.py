"""MOTRv2 / VSD-MOT recipes: alpha of the table configs, the clip augmentation, YOLOX schedules.

* alpha: the published VSD-MOT numbers are Table VII's alpha 0.4 rows, so every config of
  Tables I-VI is 0.4; 0.2 / 0.6 are Table VII's other rows and 0.5 the text's value.
* augmentation: MOTRv2's flip, resize-or-resize-crop-resize (p 0.5) and HSV jitter, drawn once
  per clip (every frame gets the same flip, branch, sizes, crop window and HSV gains); the crop
  of boxes worked by hand.
* the YOLOX proposal detectors of the two mixes: the paper's 20 / 50 epochs, on the 2:1 mix.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdistillmot  # noqa: F401  (registers everything)
from mmdistillmot.utils import check_config_types

REPO = Path(__file__).resolve().parents[2]
VSD = REPO / "configs" / "vsd_mot"
MOTRV2 = REPO / "configs" / "motrv2"
LOADERS = ("LoadImageFromFile", "LoadTrackAnnotations", "LoadDetDBProposals")


# ----------------------------------------------------------------------------- alpha
def test_every_table_config_resolves_to_alpha_0_4():
    table = [
        p
        for p in sorted(VSD.glob("vsd-mot_r50_*.py"))
        if "synthetic" not in p.name and "_alpha" not in p.name
    ]
    names = {p.name for p in table}
    for row in ("clip-distill", "dcsd", "dcsd-dswr"):  # Tables I-V (and VI's 2:1)
        for mix in ("lqmot-mot-2to1", "lqdancetrack-dancetrack-2to1"):
            assert f"vsd-mot_r50_{row}_{mix}.py" in names
    for mix in ("all-hq", "1to1", "all-lq"):  # Table VI
        assert f"vsd-mot_r50_dcsd-dswr_lqmot-mot-{mix}.py" in names
    assert sum(n.endswith("_crowdhuman-joint.py") for n in names) == 4
    for path in table:
        assert Config.fromfile(str(path)).model.alpha == 0.4, path.name
    # Table VII: 0.2 and 0.6 beside the main config's 0.4; the text's 0.5 as its own config
    for alpha in (0.2, 0.5, 0.6):
        cfg = Config.fromfile(str(VSD / f"vsd-mot_r50_dcsd-dswr_alpha{alpha}_lqmot-mot-2to1.py"))
        assert cfg.model.alpha == alpha
    assert not (VSD / "vsd-mot_r50_dcsd-dswr_alpha0.4_lqmot-mot-2to1.py").exists()
    # the recorded CPU pair keeps the value it ran with
    assert (
        Config.fromfile(str(VSD / "vsd-mot_r18_dcsd-dswr_synthetic-lq_cpu.py")).model.alpha == 0.5
    )


# ----------------------------------------------------------------------------- augmentation
TRAIN_CONFIGS = [
    MOTRV2 / "motrv2_r50_mot17.py",
    MOTRV2 / "motrv2_r50_dancetrack.py",
    VSD / "vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py",
    VSD / "vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1.py",
    VSD / "motrv2_r50_lqdancetrack-dancetrack-2to1.py",
]


def _augmentation(path: Path) -> list:
    """The clip-shared transforms of a config's training pipeline, without the loaders."""
    cfg = Config.fromfile(str(path))
    broadcaster = cfg.train_dataloader.dataset.pipeline[1]
    assert broadcaster.type == "TransformBroadcaster" and broadcaster.share_random_params
    return [t for t in broadcaster.transforms if t.type not in LOADERS]


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.stem)
def test_train_pipelines_run_motrv2_augmentation(path):
    augment = _augmentation(path)
    assert [t.type for t in augment] == ["RandomFlip", "MOTRRandomSelect", "YOLOXHSVRandomAug"]
    plain, crop = augment[1].transforms1, augment[1].transforms2
    scales = [(1536, s) for s in range(608, 993, 32)]
    assert [t.type for t in plain] == ["RandomChoiceResize"] and plain[0].scales == scales
    assert [t.type for t in crop] == ["RandomChoiceResize", "RandomCrop", "RandomChoiceResize"]
    assert [s for _, s in crop[0].scales] == [800, 1000, 1200]
    assert min(w for w, _ in crop[0].scales) >= 100_000  # no limit on the long side
    assert (crop[1].crop_type, tuple(crop[1].crop_size)) == ("absolute_range", (800, 1200))
    assert crop[1].allow_negative_crop and crop[2].scales == scales
    assert augment[1].p == 0.5  # MotRandomSelect's
    hsv = augment[2]
    assert (hsv.get("hue_delta", 5), hsv.get("saturation_delta", 30)) == (5, 30)
    # the CrowdHuman pseudo clips get the same augmentation (copy in their base file)
    crowd = Config.fromfile(str(REPO / "configs/_base_/datasets/crowdhuman_motrv2_pseudo_clip.py"))
    assert crowd.crowdhuman_clip_augment == augment


def _broadcaster(augment: list, branch: int | None = None):
    init_default_scope("mmdet")
    transform = TRANSFORMS.build(
        dict(type="TransformBroadcaster", share_random_params=True, transforms=augment)
    )
    if branch is not None:
        select = next(t for t in transform.transforms.transforms if hasattr(t, "branches"))
        select.p = 1.0 - branch  # force the branch
    return transform


def _clip(num_frames: int, height: int, width: int, boxes: np.ndarray, same: bool) -> dict:
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    frames = [first.copy() if same else rng.integers(0, 256, first.shape, dtype=np.uint8)
              for _ in range(num_frames)]  # fmt: skip
    n = len(boxes)
    return dict(
        img=frames,
        img_shape=[(height, width)] * num_frames,
        ori_shape=[(height, width)] * num_frames,
        gt_bboxes=[HorizontalBoxes(np.asarray(boxes, dtype=np.float32)) for _ in frames],
        gt_bboxes_labels=[np.zeros(n, dtype=np.int64) for _ in frames],
        gt_ignore_flags=[np.zeros(n, dtype=bool) for _ in frames],
        gt_instances_ids=[np.arange(n, dtype=np.int64) for _ in frames],
    )


BOXES = np.array([[100, 200, 300, 600], [1500, 300, 1900, 1000], [0, 0, 60, 60]], np.float32)


@pytest.mark.parametrize("branch", [0, 1], ids=["resize", "resize-crop-resize"])
def test_every_frame_of_a_clip_gets_the_same_draws(branch):
    """Identical frames stay identical; every frame has the same homography and boxes."""
    transform = _broadcaster(_augmentation(TRAIN_CONFIGS[2]), branch)
    for seed in range(3):
        np.random.seed(seed)  # noqa: NPY002  (mmcv's transforms draw from the global state)
        out = transform(_clip(5, 1080, 1920, BOXES, same=True))
        for t in range(1, 5):
            assert np.array_equal(out["img"][t], out["img"][0])  # flip, sizes, crop, HSV alike
            assert np.array_equal(out["homography_matrix"][t], out["homography_matrix"][0])
            assert np.array_equal(out["gt_bboxes"][t].numpy(), out["gt_bboxes"][0].numpy())
            assert np.array_equal(out["gt_instances_ids"][t], out["gt_instances_ids"][0])
        h, w = out["img"][0].shape[:2]
        assert 608 <= min(h, w) <= 992 and max(h, w) <= 1536
        # every kept box is its original box through the frame's homography, clipped
        matrix = out["homography_matrix"][0]
        for box, kept in zip(out["gt_bboxes"][0].numpy(), out["gt_instances_ids"][0]):
            x1, y1, x2, y2 = BOXES[kept]
            corners = matrix @ np.array([[x1, x2], [y1, y2], [1, 1]], dtype=np.float64)
            xs, ys = np.sort(corners[0] / corners[2]), np.sort(corners[1] / corners[2])
            expected = [np.clip(xs[0], 0, w), np.clip(ys[0], 0, h)]
            expected += [np.clip(xs[1], 0, w), np.clip(ys[1], 0, h)]
            np.testing.assert_allclose(box, expected, atol=1e-2)
        if branch == 0:
            assert len(out["gt_instances_ids"][0]) == 3  # a resize keeps every box
    # frames of different content get the same geometry too
    np.random.seed(7)  # noqa: NPY002
    out = transform(_clip(3, 1080, 1920, BOXES, same=False))
    assert len({m.tobytes() for m in out["homography_matrix"]}) == 1
    assert len({tuple(i.shape) for i in out["img"]}) == 1


def test_motrv2_crop_worked_by_hand():
    """A 900 x 800 (w x h) window at x 50, y 100 of a 1200 x 1000 frame, two frames."""
    cfg = Config.fromfile(str(TRAIN_CONFIGS[0]))
    init_default_scope("mmdet")
    crop = TRANSFORMS.build(copy.deepcopy(cfg.motrv2_random_crop))
    calls = []
    crop._get_crop_size = lambda size: calls.append(size) or (800, 900)  # (h, w)
    crop._rand_offset = lambda margin: calls.append(margin) or (100, 50)  # (y, x)
    transform = TRANSFORMS.build(
        dict(type="TransformBroadcaster", share_random_params=True, transforms=[crop])
    )
    boxes = np.array(
        [
            [100, 200, 300, 600],  # inside: shifted to 50, 100, 250, 500
            [0, 50, 120, 400],  # over the top-left corner: -50, -50, 70, 300 -> 0, 0, 70, 300
            [900, 850, 1100, 1000],  # over the bottom-right: 850, 750, 1050, 900 -> .., 900, 800
            [1000, 100, 1150, 300],  # right of the window (x 950..1100 > 900): dropped
            [10, 920, 60, 990],  # below the window (y 820..890 > 800): dropped
        ],
        dtype=np.float32,
    )
    out = transform(_clip(2, 1000, 1200, boxes, same=False))
    # (h, w) of the frame, then the margins (1000 - 800, 1200 - 900); the stand-ins are plain
    # functions, called per frame (the real draws are shared: the test above)
    assert calls == [(1000, 1200), (200, 300)] * 2
    for t in range(2):
        np.testing.assert_array_equal(
            out["gt_bboxes"][t].numpy(),
            [[50, 100, 250, 500], [0, 0, 70, 300], [850, 750, 900, 800]],
        )
        assert out["gt_instances_ids"][t].tolist() == [0, 1, 2]
        assert len(out["gt_bboxes_labels"][t]) == len(out["gt_ignore_flags"][t]) == 3
        assert out["img_shape"][t] == (800, 900)
        np.testing.assert_array_equal(
            out["homography_matrix"][t], [[1, 0, -50], [0, 1, -100], [0, 0, 1]]
        )
    source = _clip(2, 1000, 1200, boxes, same=False)["img"]
    for t in range(2):
        assert np.array_equal(out["img"][t], source[t][100:900, 50:950])


def test_crop_draws_follow_fixed_mot_random_crop():
    """Height and width each in [800, min(side, 1200)] (FixedMotRandomCrop(800, 1200))."""
    cfg = Config.fromfile(str(TRAIN_CONFIGS[0]))
    init_default_scope("mmdet")
    crop = TRANSFORMS.build(copy.deepcopy(cfg.motrv2_random_crop))
    np.random.seed(0)  # noqa: NPY002
    sizes = {crop._get_crop_size((1000, 1778)) for _ in range(5000)}  # short side 1000
    heights, widths = {h for h, _ in sizes}, {w for _, w in sizes}
    assert (min(heights), max(heights), min(widths), max(widths)) == (800, 1000, 800, 1200)
    assert len(heights) == 201 and len(widths) > 390  # every integer in between (nearly)
    assert {crop._get_crop_size((800, 1422)) for _ in range(50)} >= {(800, 800), (800, 1200)}


# ----------------------------------------------------------------------------- YOLOX
@pytest.mark.parametrize(
    ("name", "root", "epochs"),
    [
        ("yolox_x_proposals_lqmot-mot-2to1.py", "data/lqmot_mot/", 50),
        ("yolox_x_proposals_lqdancetrack-dancetrack-2to1.py", "data/lqdancetrack_dancetrack/", 20),
        ("yolox_x_proposals_mot17.py", "data/MOT17/", 80),
        ("yolox_x_proposals_dancetrack.py", "data/dancetrack/", 80),
    ],
)
def test_yolox_proposal_detectors_train_the_papers_schedule(name, root, epochs):
    path = MOTRV2 / name
    cfg = Config.fromfile(str(path))
    check_config_types(cfg, str(path))
    assert cfg.train_cfg.max_epochs == epochs and epochs % cfg.train_cfg.val_interval == 0
    assert epochs % cfg.default_hooks.checkpoint.interval == 0  # epoch_<E>.pth is written
    warmup, cosine, constant = cfg.param_scheduler
    assert warmup.end == cosine.begin and cosine.end == constant.begin == cosine.T_max
    assert constant.end == epochs
    switch = next(h for h in cfg.custom_hooks if h.type == "YOLOXModeSwitchHook")
    assert switch.num_last_epochs == epochs - cosine.end
    data = cfg.train_dataloader.dataset.dataset
    assert data.data_root == root
    assert cfg.model.bbox_head.num_classes == 1
    if "2to1" in name:
        assert data.ann_file == "annotations/train_lq2-hq1_cocoformat.json"
        assert data.data_prefix == dict(img="")
        assert cfg.val_dataloader.dataset.ann_file == "annotations/val_lq_cocoformat.json"
        text = path.read_text()
        for split in ("train_lq", "train_hq", "val_lq", "val_hq"):
            assert split in text  # the det-db recipe covers every frame
    # the checkpoint the det-db recipe names is the one this schedule writes
    assert f"epoch_{epochs}.pth" in path.read_text()
