"""FairMOT targets built in the pipeline (BuildFairMOTTargets) equal the in-loss ones exactly.

The reference, :func:`_reference_targets`, is the per-box loop that ``FairMOTHead`` ran in its
loss before issue 14 (a new Gaussian kernel per box, torch scalars), kept here verbatim in
behaviour: every target of the transform, of the numpy batch builder and one training step of
the synthetic FairMOT config are compared with it bit for bit.
"""

from __future__ import annotations

import copy
import math
import random

import numpy as np
import pytest
import torch
from fairmot_testing import FAIRMOT_CONFIGS, REDUCED_HRNET_EXTRA
from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData

import mmdistillmot.datasets.transforms.fairmot_targets  # noqa: F401  (registers)
from mmdistillmot.datasets.transforms.fairmot_targets import BuildFairMOTTargets
from mmdistillmot.models.dense_heads import fairmot_head
from mmdistillmot.models.dense_heads.centernet_targets import (
    CenterNetTargets,
    build_centernet_targets,
    centernet_gaussian_radii,
)
from mmdistillmot.models.dense_heads.fairmot_head import FairMOTHead

FIELDS = ("heatmap", "indices", "mask", "ltrb", "offset", "identities")


# ---------------------------------------------------------------- the pre-issue-14 reference
def _reference_radius(height: float, width: float, min_overlap: float) -> float:
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    a2, b2, c2 = 4.0, 2 * (height + width), (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def _reference_draw(heatmap: torch.Tensor, center: tuple[int, int], radius: int) -> None:
    sigma = (2 * radius + 1) / 6
    coords = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma * sigma))
    kernel[kernel < torch.finfo(torch.float64).eps * kernel.max()] = 0
    kernel = kernel.to(heatmap.dtype)
    height, width = heatmap.shape
    x, y = center
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = kernel[radius - top : radius + bottom, radius - left : radius + right]
    if region.numel() > 0:
        torch.maximum(region, patch, out=region)


def _reference_targets(
    batch_bboxes, batch_labels, batch_identities, feat_shape, stride=4, num_classes=1,
    min_overlap=0.7, max_objects=500,
) -> CenterNetTargets:  # fmt: skip
    grid_h, grid_w = feat_shape
    batch_size = len(batch_bboxes)
    counts = [min(len(boxes), max_objects) for boxes in batch_bboxes]
    k = max([1, *counts])
    heatmap = torch.zeros(batch_size, num_classes, grid_h, grid_w)
    indices = torch.zeros(batch_size, k, dtype=torch.long)
    mask = torch.zeros(batch_size, k, dtype=torch.bool)
    ltrb = torch.zeros(batch_size, k, 4)
    offset = torch.zeros(batch_size, k, 2)
    identities = torch.full((batch_size, k), -1, dtype=torch.long)
    for b in range(batch_size):
        boxes = batch_bboxes[b][: counts[b]].detach().double().cpu() / stride
        labels = batch_labels[b][: counts[b]].long().cpu()
        ids = batch_identities[b]
        ids_cpu = None if ids is None else ids[: counts[b]].long().cpu()
        for j in range(counts[b]):
            x1, y1, x2, y2 = boxes[j].tolist()
            width, height = x2 - x1, y2 - y1
            if width <= 0 or height <= 0:
                continue
            label = int(labels[j])
            cx = min(max((x1 + x2) / 2, 0.0), grid_w - 1.0)
            cy = min(max((y1 + y2) / 2, 0.0), grid_h - 1.0)
            cx_int, cy_int = int(cx), int(cy)
            radius = max(
                0, int(_reference_radius(math.ceil(height), math.ceil(width), min_overlap))
            )
            _reference_draw(heatmap[b, label], (cx_int, cy_int), radius)
            indices[b, j] = cy_int * grid_w + cx_int
            mask[b, j] = True
            ltrb[b, j] = torch.tensor([cx - x1, cy - y1, x2 - cx, y2 - cy])
            offset[b, j] = torch.tensor([cx - cx_int, cy - cy_int])
            if ids_cpu is not None:
                identities[b, j] = int(ids_cpu[j])
    return CenterNetTargets(heatmap, indices, mask, ltrb, offset, identities)


# ---------------------------------------------------------------- test images
def _frame(boxes, labels=None, ids=None) -> DetDataSample:
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    gt = InstanceData(
        bboxes=HorizontalBoxes(boxes),
        labels=torch.zeros(len(boxes), dtype=torch.long)
        if labels is None
        else torch.as_tensor(labels, dtype=torch.long),
    )
    if ids is not None:
        gt.instances_ids = torch.as_tensor(ids, dtype=torch.long)
    sample = DetDataSample()
    sample.gt_instances = gt
    return sample


def _images(rng: np.random.Generator, width: int, height: int) -> list[DetDataSample]:
    """Hand-made hard cases, then random crowds (fractional corners, some degenerate)."""
    w, h = float(width), float(height)
    frames = [
        # at every border, partly outside, centre outside (clipped into the grid)
        _frame(
            [
                [-30, 10, 10, 60],
                [w - 9, -20, w + 30, 15],
                [5, h - 3, 40, h + 50],
                [-50, -40, -2, -1],
                [w + 1, h + 1, w + 40, h + 80],
                [0, 0, w, h],
            ],
            ids=[0, 1, 2, 3, 4, 5],
        ),
        # overlapping: same centre, nested, shifted by a fraction of a cell
        _frame(
            [
                [20, 20, 60, 100],
                [20, 20, 60, 100],
                [30, 40, 50, 80],
                [20.5, 20.25, 60.5, 99],
                [22, 24, 64, 108],
            ],
            ids=[3, -1, 7, 8, 9],
        ),
        # tiny: under a cell, one pixel, zero / negative width or height, radius 0
        _frame(
            [
                [10, 10, 10.5, 10.75],
                [40, 12, 41, 13],
                [50, 50, 50, 60],
                [60, 30, 70, 30],
                [80, 20, 79, 30],
                [3.9, 3.9, 4.1, 4.1],
                [1, 1, 3, 9],
            ]
        ),
        _frame(np.zeros((0, 4))),  # no boxes
    ]
    for _ in range(6):
        n = int(rng.integers(1, 40))
        x1 = rng.uniform(-0.2 * w, w, n)
        y1 = rng.uniform(-0.2 * h, h, n)
        bw = rng.choice([0.0, 0.5, 3.0, 20.0, 90.0], n) * rng.uniform(0.0, 1.5, n)
        bh = rng.choice([0.0, 1.0, 8.0, 40.0, 150.0], n) * rng.uniform(0.0, 1.5, n)
        boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).astype(np.float32)
        frames.append(_frame(boxes, ids=rng.integers(-1, 60, n)))
    return frames


def _pack(frames: list[DetDataSample], height: int, width: int) -> dict:
    track = TrackDataSample()
    track.video_data_samples = frames
    return dict(inputs=torch.zeros(len(frames), 3, height, width), data_samples=track)


def _gt(frames):
    boxes = [f.gt_instances.bboxes.tensor for f in frames]
    labels = [f.gt_instances.labels for f in frames]
    ids = [f.gt_instances.get("instances_ids") for f in frames]
    return boxes, labels, ids


def _assert_equal(got: CenterNetTargets, expected: CenterNetTargets) -> None:
    for name in FIELDS:
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert torch.equal(a, b), name


# ---------------------------------------------------------------- equality with the reference
@pytest.mark.parametrize(
    ("size", "settings"),
    [
        ((192, 320), dict()),
        ((64, 128), dict(max_objects=5)),  # only the first five boxes get slots
        ((608, 1088), dict(min_overlap=0.5)),
        ((100, 150), dict(stride=2, num_classes=2)),  # padded to 128x160 by the divisor
    ],
)
def test_transform_targets_equal_the_in_loss_loop(size, settings) -> None:
    height, width = size
    rng = np.random.default_rng(height)
    frames = _images(rng, width, height)
    if settings.get("num_classes") == 2:
        for f in frames:
            f.gt_instances.labels = torch.as_tensor(rng.integers(0, 2, len(f.gt_instances)))
    transform = BuildFairMOTTargets(**settings, pad_size_divisor=32)
    packed = transform(_pack(frames, height, width))
    grid = transform.grid_shape(height, width)
    stride = settings.get("stride", 4)
    assert grid == (math.ceil(height / 32) * 32 // stride, math.ceil(width / 32) * 32 // stride)
    head = FairMOTHead(num_identities=60, in_channels=8, feat_channels=8, **settings)
    elements = [f.centernet_targets for f in packed["data_samples"].video_data_samples]
    got = head.prebuilt_targets(elements, grid, torch.device("cpu"))
    expected = _reference_targets(*_gt(frames), grid, **settings)
    _assert_equal(got, expected)
    # the fallback of pipelines without the transform: the same numbers
    _assert_equal(build_centernet_targets(*_gt(frames), grid, **settings), expected)
    assert 0 < int(expected.mask.sum()) < expected.mask.numel()  # skipped and kept boxes
    assert float(expected.heatmap.max()) == 1.0


def test_radii_equal_the_scalar_formula_for_every_box_up_to_400_cells() -> None:
    sizes = np.arange(1, 401, dtype=np.float64)
    heights, widths = np.meshgrid(sizes, sizes, indexing="ij")
    for min_overlap in (0.7, 0.5):
        radii = centernet_gaussian_radii(heights.ravel(), widths.ravel(), min_overlap)
        expected = [
            _reference_radius(int(h), int(w), min_overlap)
            for h, w in zip(heights.ravel(), widths.ravel(), strict=True)
        ]
        assert np.array_equal(radii.astype(np.int64), np.array(expected).astype(np.int64))
        assert np.allclose(radii, expected, rtol=1e-14, atol=0)


# ---------------------------------------------------------------- the head's checks
def test_head_refuses_targets_of_other_settings_or_grids_and_mixed_batches() -> None:
    frames = _images(np.random.default_rng(0), 128, 64)[:2]
    packed = BuildFairMOTTargets(max_objects=100)(_pack(frames, 64, 128))
    elements = [f.centernet_targets for f in packed["data_samples"].video_data_samples]
    head = FairMOTHead(num_identities=60, in_channels=8, feat_channels=8)
    with pytest.raises(ValueError, match="'max_objects': 100"):
        head.prebuilt_targets(elements, (16, 32), torch.device("cpu"))
    same = BuildFairMOTTargets()(_pack(copy.deepcopy(frames), 64, 128))
    elements = [f.centernet_targets for f in same["data_samples"].video_data_samples]
    with pytest.raises(ValueError, match=r"heatmap of shape \(1, 16, 32\), the head outputs"):
        head.prebuilt_targets(elements, (24, 32), torch.device("cpu"))
    samples = list(same["data_samples"].video_data_samples)
    del samples[1].centernet_targets
    feats = torch.zeros(2, 8, 16, 32)
    with pytest.raises(ValueError, match="only some samples"):
        head.loss(feats, samples)


def test_transform_needs_the_packer_and_a_grid_the_stride_divides() -> None:
    with pytest.raises(KeyError, match="after PackTrackInputs"):
        BuildFairMOTTargets()(dict(img=np.zeros((64, 128, 3))))
    with pytest.raises(ValueError, match="not a multiple of stride 4"):
        BuildFairMOTTargets()(_pack([_frame([[0, 0, 8, 8]])], 66, 128))


def test_plain_det_data_samples_get_targets_too() -> None:
    sample = _frame([[4, 4, 20, 30]], ids=[2])
    out = BuildFairMOTTargets()(dict(inputs=torch.zeros(3, 32, 64), data_samples=sample))
    targets = out["data_samples"].centernet_targets
    assert targets.heatmap.shape == (1, 8, 16) and targets.identities.tolist() == [2]
    assert targets.metainfo == dict(stride=4, num_classes=1, min_overlap=0.7, max_objects=500)


# ---------------------------------------------------------------- one training step
def _shrink(pipeline: list) -> None:
    for step in pipeline:
        if step.get("type") == "Letterbox":
            step["scale"] = (128, 64)
        if "transforms" in step:
            _shrink(step["transforms"])


def test_synthetic_config_step_gives_the_losses_of_the_in_loss_loop(
    tiny_mot_root, monkeypatch
) -> None:
    """Same seed, same batch: the pipeline's targets give the old losses and gradients exactly."""
    config = next(p for p in FAIRMOT_CONFIGS if p.name == "fairmot_hrnetv2-w18_synthetic.py")
    cfg = Config.fromfile(str(config))
    assert cfg.train_pipeline[-1] == dict(type="BuildFairMOTTargets", pad_size_divisor=32)
    assert cfg.model.data_preprocessor.pad_size_divisor == 32
    cfg.model.bbox_head.num_identities = 4
    cfg.model.backbone.extra = REDUCED_HRNET_EXTRA
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.update(
        data_root=str(tiny_mot_root), ann_file="annotations/train_cocoformat.json",
        data_prefix=dict(img_path=""),
    )  # fmt: skip
    _shrink(dataset_cfg["pipeline"])
    train_set = DATASETS.build(dataset_cfg)
    random.seed(0)  # FairMOT's augmentations draw from python's random
    np.random.seed(0)  # noqa: NPY002  (mmcv's RandomFlip draws from numpy's global state)
    batch = pseudo_collate([train_set[(0, 1)], train_set[(1, 2)], train_set[(0, 2)]])
    frames = [f for s in batch["data_samples"] for f in s.video_data_samples]
    assert all("centernet_targets" in f for f in frames)
    assert sum(int(f.centernet_targets.mask.sum()) for f in frames) >= 4
    without = copy.deepcopy(batch)
    for sample in without["data_samples"]:
        for frame in sample.video_data_samples:
            del frame.centernet_targets

    def step(data: dict) -> tuple[dict, dict]:
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.train()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        log_vars = model.train_step(data, optim_wrapper)
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        return log_vars, params

    calls = []

    def reference(*args, **kwargs):
        calls.append(1)
        return _reference_targets(*args, **kwargs)

    monkeypatch.setattr(fairmot_head, "build_centernet_targets", reference)
    new_logs, new_params = step(batch)
    assert calls == []  # the pipeline's targets were used
    old_logs, old_params = step(without)
    assert calls == [1]  # the old in-loss path ran, once
    assert set(new_logs) == set(old_logs)
    for key in old_logs:
        assert torch.equal(torch.as_tensor(new_logs[key]), torch.as_tensor(old_logs[key])), key
    assert all(torch.equal(new_params[k], old_params[k]) for k in old_params)
    assert math.isfinite(float(new_logs["loss"])) and float(new_logs["loss_hm"]) > 0
