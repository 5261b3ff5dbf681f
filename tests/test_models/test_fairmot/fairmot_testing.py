"""Helpers of the FairMOT tests: registration, a reduced HRNet, frames with drawn boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from mmdet.utils import register_all_modules

# Import the modules directly so that registration happens even before the subpackage
# __init__ files list them.
import mmdistillmot.datasets.jde_mix_dataset  # noqa: F401
import mmdistillmot.datasets.transforms.fairmot_augment  # noqa: F401
import mmdistillmot.datasets.transforms.fairmot_targets  # noqa: F401
import mmdistillmot.datasets.transforms.letterbox  # noqa: F401
import mmdistillmot.models.dense_heads.fairmot_head  # noqa: F401
import mmdistillmot.models.mot.fairmot  # noqa: F401
import mmdistillmot.models.necks.hrnet_upsample_concat  # noqa: F401
import mmdistillmot.models.trackers.jde_tracker  # noqa: F401

register_all_modules(init_default_scope=True)

REPO_ROOT = Path(__file__).resolve().parents[3]
FAIRMOT_CONFIGS = sorted((REPO_ROOT / "configs" / "fairmot").glob("fairmot_*.py"))

#: HRNetV2-W18 channels with one module of one block per stage: same topology and neck
#: width (270), a fraction of the compute, for tests that take several optimisation steps.
REDUCED_HRNET_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,),
                num_channels=(16,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1),
                num_channels=(18, 36)),
    stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1),
                num_channels=(18, 36, 72)),
    stage4=dict(num_modules=1, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1),
                num_channels=(18, 36, 72, 144)),
)  # fmt: skip


def draw_frame(size_wh: tuple[int, int], boxes: np.ndarray, colors: list) -> np.ndarray:
    """A grey frame with filled rectangles (BGR uint8)."""
    width, height = size_wh
    img = np.full((height, width, 3), 90, np.uint8)
    for (x1, y1, x2, y2), color in zip(boxes.astype(int), colors):
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), color, thickness=-1)
    return img
