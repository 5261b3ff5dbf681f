"""TorchreidTeacher: the generic torchreid teacher; OSNetTeacher narrows it to OSNets."""

from __future__ import annotations

import pytest
import torch

from mmdistillmot.models.teachers import OSNetTeacher
from mmdistillmot.models.teachers.base_teacher import TeacherNotReadyError
from mmdistillmot.models.teachers.torchreid_teacher import TORCHREID_ARCHS, TorchreidTeacher


def test_resnet_teacher_embeds_boxes_and_checks_options_by_its_own_name() -> None:
    torch.manual_seed(0)
    teacher = TorchreidTeacher(arch="resnet18", allow_random_init=True, crop_size=(64, 32))
    assert teacher.embed_dim == 512  # ResNet-18: global average pooling of 512 channels
    frame = torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8)
    boxes = torch.tensor([[4.0, 8.0, 40.0, 90.0], [60.0, 10.0, 100.0, 80.0]])
    out = teacher([frame], [boxes])[0]
    assert out.shape == (2, 512)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)  # L2-normalised
    assert not any(p.requires_grad for p in teacher.parameters())
    assert set(TorchreidTeacher.supported_archs) > set(OSNetTeacher.supported_archs)
    assert "resnet50" in TORCHREID_ARCHS
    with pytest.raises(ValueError, match=r"^TorchreidTeacher: arch must be one of"):
        TorchreidTeacher(arch="vit_b", allow_random_init=True)
    with pytest.raises(ValueError, match=r"^TorchreidTeacher: crop_mode"):
        TorchreidTeacher(arch="resnet18", crop_mode="nearest", allow_random_init=True)
    with pytest.raises(ValueError, match=r"^OSNetTeacher: arch must be one of"):
        OSNetTeacher(arch="resnet50", allow_random_init=True)
    unready = TorchreidTeacher(arch="resnet18", crop_size=(64, 32))  # no weights, no opt-in
    with pytest.raises(TeacherNotReadyError, match="has no weights"):
        unready([frame], [boxes])


def test_the_generic_teacher_is_the_base_and_osnet_the_special_case() -> None:
    """OSNetTeacher(TorchreidTeacher), not the reverse (issue 14 item 13)."""
    assert issubclass(OSNetTeacher, TorchreidTeacher)
    assert not issubclass(TorchreidTeacher, OSNetTeacher)
    assert TorchreidTeacher.__init__.__defaults__[0] == "resnet50"
    assert OSNetTeacher(allow_random_init=True, crop_size=(64, 32)).arch == "osnet_x1_0"
