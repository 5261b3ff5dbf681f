"""The TDT configs crop back to their input size (TDT Sec. 4.2), not to a transposed one.

mmdet 3.3's ``RandomCrop(crop_type='absolute')`` reads ``crop_size`` as (w, h), like
``img_scale``; passing (h, w) trained on 608-wide portrait crops of 1088x608 inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["retinanet_r34_embed.py", "ablation_r34-fpn_d512.py"])
def test_random_crop_gives_the_configs_input_size(name: str) -> None:
    cfg = Config.fromfile(str(REPO / "configs" / "tdt" / name))
    crop_cfg = next(t for t in cfg.train_transforms if t["type"] == "RandomCrop")
    width, height = cfg.img_scale
    with DefaultScope.overwrite_default_scope("mmdet"):
        crop = TRANSFORMS.build(crop_cfg)
    # an image twice the input size in both directions, as RandomResize(ratio 2.0) gives
    image = np.zeros((2 * height, 2 * width, 3), dtype=np.uint8)
    boxes = np.array([[0.0, 0.0, 2.0 * width, 2.0 * height]], dtype=np.float32)  # in any crop
    out = crop(dict(img=image, img_shape=image.shape[:2], gt_bboxes=boxes,
                    gt_bboxes_labels=np.zeros(1, dtype=np.int64),
                    gt_ignore_flags=np.zeros(1, dtype=bool)))  # fmt: skip
    assert out is not None
    assert out["img"].shape[:2] == (height, width)
