"""HRNetUpsampleConcat on mmdet's HRNet with the hrnetv2p-w18 settings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from fairmot_testing import REPO_ROOT
from mmdet.registry import MODELS
from mmengine.config import Config


def test_neck_concatenates_upsampled_branches_in_order() -> None:
    neck = MODELS.build(dict(type="HRNetUpsampleConcat", in_channels=(2, 3)))
    fine, coarse = torch.randn(1, 2, 4, 6), torch.randn(1, 3, 2, 3)
    out = neck([fine, coarse])
    assert out.shape == (1, 5, 4, 6) and neck.out_channels == 5
    torch.testing.assert_close(out[:, :2], fine)  # the finest branch is not resampled
    expected = F.interpolate(coarse, size=(4, 6), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, 2:], expected)
    assert not list(neck.parameters())  # no extra convolution
    with pytest.raises(ValueError, match="channels"):
        neck([fine, torch.randn(1, 4, 2, 3)])


@torch.no_grad()
def test_hrnet_w18_neck_gives_270_channels_at_quarter_resolution() -> None:
    cfg = Config.fromfile(str(REPO_ROOT / "configs/_base_/models/fairmot_hrnetv2_w18.py"))
    backbone = MODELS.build(cfg.model.backbone)
    backbone.eval()  # mmdet HRNet.train() returns None: no chaining
    neck = MODELS.build(cfg.model.neck)
    branches = backbone(torch.rand(2, 3, 64, 128))
    assert [b.shape[1] for b in branches] == [18, 36, 72, 144]
    assert branches[0].shape[-2:] == (16, 32)  # mmdet's HRNet stem: stride 4
    out = neck(branches)
    assert out.shape == (2, 270, 16, 32)
