"""MOTRRandomSelect: one branch per clip, shared draws inside a TransformBroadcaster."""

from __future__ import annotations

import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from mmengine.registry import init_default_scope

from mmdistillmot.datasets.transforms import MOTRRandomSelect

RESIZES = [dict(type="RandomChoiceResize", scales=[(40, 20), (60, 30), (80, 40)], keep_ratio=True)]
CROP = [
    dict(type="RandomCrop", crop_type="absolute_range", crop_size=(4, 8), allow_negative_crop=True)
]


def _clip(num_frames: int = 4) -> dict:
    frame = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    return dict(img=[frame.copy() for _ in range(num_frames)], img_shape=[(10, 20)] * num_frames)


def _broadcast(select: dict, share: bool = True):
    init_default_scope("mmdet")
    return TRANSFORMS.build(
        dict(type="TransformBroadcaster", share_random_params=share, transforms=[select])
    )


def test_one_branch_and_one_draw_per_clip():
    transform = _broadcast(dict(type="MOTRRandomSelect", transforms1=RESIZES, transforms2=CROP))
    branches = []
    for seed in range(40):
        np.random.seed(seed)  # noqa: NPY002
        out = transform(_clip())
        shapes = {img.shape for img in out["img"]}
        assert len(shapes) == 1  # the same branch and the same size / window for every frame
        assert all(np.array_equal(img, out["img"][0]) for img in out["img"])
        branches.append(shapes.pop()[0] >= 20)  # a resize (short side >= 20) or a 4..8 crop
    assert 10 < sum(branches) < 30  # p 0.5


def test_branch_probability_and_checks():
    np.random.seed(0)  # noqa: NPY002
    init_default_scope("mmdet")
    always_first = TRANSFORMS.build(
        dict(type="MOTRRandomSelect", transforms1=RESIZES, transforms2=CROP, p=1.0)
    )
    assert all(always_first._branch() == 0 for _ in range(20))
    assert [type(b).__name__ for b in always_first] == ["Compose", "Compose"]
    with pytest.raises(ValueError, match="p must lie"):
        MOTRRandomSelect(RESIZES, CROP, p=1.5)


def test_mmcv_random_choice_cannot_share_its_draw():
    """The reason for MOTRRandomSelect (see its module docstring); if mmcv fixes it, this fails."""
    transform = _broadcast(dict(type="RandomChoice", transforms=[RESIZES, CROP]))
    with pytest.raises(RuntimeError, match="invoked at most once"):
        transform(_clip())
