"""Connectors: output shapes, the resize/conv commutation, the two-layer variant."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS

import mmdistillmot  # noqa: F401


def test_student_to_teacher_shapes() -> None:
    # FairMOT's 270-ch 1/4 map -> DINOv2-B's 768 channels on the 1/14 grid (a 152x272 frame:
    # 38x68 at 1/4, 11x19 patches after rounding to 154x266)
    connector = MODELS.build(dict(type="ConvResizeConnector", in_channels=270, out_channels=768))
    student = torch.randn(1, 270, 38, 68)
    teacher = torch.randn(1, 768, 11, 19)
    assert connector(student, teacher).shape == (1, 768, 11, 19)


def test_teacher_to_student_shapes_and_commutation() -> None:
    torch.manual_seed(0)
    connector = MODELS.build(dict(type="ResizeConvConnector", in_channels=48, out_channels=27))
    teacher = torch.randn(2, 48, 5, 7)
    student = torch.randn(2, 27, 16, 24)
    out = connector(teacher, student)
    assert out.shape == (2, 27, 16, 24)
    # the paper's order, literally: upsample the teacher map, then the 1x1 conv
    upsampled = F.interpolate(teacher, size=(16, 24), mode="bilinear", align_corners=False)
    literal = connector.conv(upsampled)
    assert torch.allclose(out, literal, atol=1e-5)


@pytest.mark.parametrize("resize", ["after", "before"])
def test_two_layer_shapes_and_relu(resize: str) -> None:
    connector = MODELS.build(
        dict(type="TwoLayerConvConnector", in_channels=16, out_channels=32, resize=resize)
    )
    out = connector(torch.randn(2, 16, 8, 12), torch.randn(2, 32, 5, 7))
    assert out.shape == (2, 32, 5, 7)
    assert (out >= 0).all()
    kinds = [type(m).__name__ for m in connector.modules()]
    assert kinds.count("Conv2d") == 2 and kinds.count("BatchNorm2d") == 2
    assert [m.kernel_size for m in connector.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (1, 1),
        (3, 3),
    ]


def test_same_grid_is_not_resampled() -> None:
    connector = MODELS.build(dict(type="ConvResizeConnector", in_channels=4, out_channels=4))
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(connector(x, x), connector.conv(x))


def test_wrong_channels_named() -> None:
    connector = MODELS.build(dict(type="ConvResizeConnector", in_channels=270, out_channels=768))
    with pytest.raises(ValueError, match=r"expected a \[B, 270, h, w\] map, got \(1, 256, 4, 4\)"):
        connector(torch.zeros(1, 256, 4, 4), torch.zeros(1, 768, 2, 2))
