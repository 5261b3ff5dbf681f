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
    connector = MODELS.build(dict(type="Conv1x1Connector", in_channels=270, out_channels=768))
    student = torch.randn(1, 270, 38, 68)
    teacher = torch.randn(1, 768, 11, 19)
    assert connector(student, teacher).shape == (1, 768, 11, 19)


def test_teacher_to_student_shapes_and_commutation() -> None:
    torch.manual_seed(0)
    connector = MODELS.build(dict(type="Conv1x1Connector", in_channels=48, out_channels=27))
    teacher = torch.randn(2, 48, 5, 7)
    student = torch.randn(2, 27, 16, 24)
    out = connector(teacher, student)
    assert out.shape == (2, 27, 16, 24)
    # the paper's order, literally: upsample the teacher map, then the 1x1 conv
    upsampled = F.interpolate(teacher, size=(16, 24), mode="bilinear", align_corners=False)
    literal = connector.conv(upsampled)
    assert torch.allclose(out, literal, atol=1e-5)


def _conv_input_grid(connector: torch.nn.Module, feature, reference) -> tuple[int, int]:  # noqa: ANN001
    seen = []
    handle = connector.conv.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-2:]))
    connector(feature, reference)
    handle.remove()
    return tuple(seen[0])


def test_student_to_teacher_runs_the_conv_on_the_patch_grid_with_the_papers_output() -> None:
    """Downsampling: resize first (12x fewer pixels for 1/4 -> 1/14), same output as conv first."""
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 27, 38, 68), torch.randn(2, 48, 11, 19)
    auto = MODELS.build(dict(type="Conv1x1Connector", in_channels=27, out_channels=48))
    literal = MODELS.build(
        dict(type="Conv1x1Connector", in_channels=27, out_channels=48, order="conv_first")
    )
    literal.load_state_dict(auto.state_dict())
    assert _conv_input_grid(auto, student, teacher) == (11, 19)
    assert _conv_input_grid(literal, student, teacher) == (38, 68)
    torch.testing.assert_close(auto(student, teacher), literal(student, teacher), atol=1e-5, rtol=0)
    # and it is the paper's order, written out
    paper = F.interpolate(
        literal.conv(student), size=(11, 19), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(auto(student, teacher), paper, atol=1e-5, rtol=0)


def test_teacher_to_student_runs_the_conv_on_the_patch_grid_too() -> None:
    auto = MODELS.build(dict(type="Conv1x1Connector", in_channels=48, out_channels=27))
    assert _conv_input_grid(auto, torch.randn(1, 48, 5, 7), torch.randn(1, 27, 16, 24)) == (5, 7)
    forced = MODELS.build(
        dict(type="Conv1x1Connector", in_channels=48, out_channels=27, order="resize_first")
    )
    assert _conv_input_grid(forced, torch.randn(1, 48, 5, 7), torch.randn(1, 27, 16, 24)) == (
        16,
        24,
    )


def test_unknown_order_is_named() -> None:
    with pytest.raises(ValueError, match="order must be .* got 'later'"):
        MODELS.build(dict(type="Conv1x1Connector", in_channels=4, out_channels=4, order="later"))


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


def test_two_layer_hidden_width_is_256_unless_set() -> None:
    """A deliberate hidden width: 256 by default, not the teacher's 768 (issue 14 item 12)."""
    default = MODELS.build(dict(type="TwoLayerConvConnector", in_channels=270, out_channels=768))
    assert default.layer1[0].out_channels == 256 and default.layer2[0].in_channels == 256
    wide = MODELS.build(
        dict(type="TwoLayerConvConnector", in_channels=270, out_channels=768, hidden_channels=768)
    )
    assert wide.layer2[0].in_channels == 768


def test_same_grid_is_not_resampled() -> None:
    connector = MODELS.build(dict(type="Conv1x1Connector", in_channels=4, out_channels=4))
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(connector(x, x), connector.conv(x))


def test_wrong_channels_named() -> None:
    connector = MODELS.build(dict(type="Conv1x1Connector", in_channels=270, out_channels=768))
    with pytest.raises(ValueError, match=r"expected a \[B, 270, h, w\] map, got \(1, 256, 4, 4\)"):
        connector(torch.zeros(1, 256, 4, 4), torch.zeros(1, 768, 2, 2))
