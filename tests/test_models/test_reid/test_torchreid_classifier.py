"""TorchreidClassifier trains a torchreid OSNet whose export loads into OSNetTeacher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from mmdet.structures import ReIDDataSample

from mmdistillmot.models.reid import ReIDBatchPreprocessor, TorchreidClassifier
from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher

REPO = Path(__file__).resolve().parents[3]


def _samples(labels: list[int]) -> list[ReIDDataSample]:
    sample = ReIDDataSample()
    sample.set_gt_label(torch.tensor(labels))
    return [sample]


def test_loss_step_and_export_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TorchreidClassifier(arch="osnet_x0_25", num_classes=3)
    batch = ReIDBatchPreprocessor()(
        dict(inputs=[torch.randint(0, 255, (4, 3, 64, 32), dtype=torch.uint8)],
             data_samples=_samples([0, 0, 1, 2])),
    )  # fmt: skip
    assert batch["inputs"].shape == (4, 3, 64, 32)
    losses = model(batch["inputs"], batch["data_samples"], mode="loss")
    # label-smoothed CE of an untrained 3-way classifier is close to ln 3
    assert abs(losses["loss_cls"].item() - torch.log(torch.tensor(3.0)).item()) < 0.5
    assert torch.isfinite(losses["loss_triplet"])
    (losses["loss_cls"] + losses["loss_triplet"]).backward()
    assert model.net.conv1.conv.weight.grad is not None
    model.eval()
    embeddings = model(batch["inputs"], mode="tensor")
    assert embeddings.shape == (4, 512)

    ckpt = tmp_path / "iter_1.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, ckpt)
    out = tmp_path / "osnet.pth"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools/distill/export_reid_teacher.py"), str(ckpt), str(out)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    teacher = OSNetTeacher(
        arch="osnet_x0_25", weights=str(out), crop_size=(64, 32), precision="fp32"
    )
    # the teacher embeds a full-frame box exactly as the trained network embeds the crop
    frame = torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
    (teacher_embed,) = teacher([frame], [torch.tensor([[0.0, 0.0, 32.0, 64.0]])])
    rgb = frame.flip(0).float().unsqueeze(0)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    direct = torch.nn.functional.normalize(model.net((rgb - mean) / std), dim=1)
    torch.testing.assert_close(teacher_embed, direct, atol=2e-3, rtol=0)
