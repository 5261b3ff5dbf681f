"""A real mmengine Runner: two epochs of distillation, student-only checkpoints, resume, export."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
import torch
from distill_testing import IMG_H, IMG_W, tiny_distiller_cfg, tiny_student_cfg
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

import mmdistillmot  # noqa: F401
from mmdistillmot.compat import safe_load_checkpoint

REPO = Path(__file__).resolve().parents[3]


def _export_tool() -> ModuleType:
    """tools/distill/export_student.py as a module (in-process: no second package import)."""
    path = REPO / "tools" / "distill" / "export_student.py"
    spec = importlib.util.spec_from_file_location("export_student", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_coco(root: Path, n: int = 4) -> None:
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(n):
        name = f"{i:03d}.png"
        cv2.imwrite(str(root / name), rng.integers(0, 256, (IMG_H, IMG_W, 3), dtype=np.uint8))
        images.append(dict(id=i, file_name=name, height=IMG_H, width=IMG_W))
        annotations.append(
            dict(id=i, image_id=i, category_id=1, bbox=[10, 12, 30, 38], area=1140, iscrowd=0)
        )
    coco = dict(images=images, annotations=annotations, categories=[dict(id=1, name="pedestrian")])
    (root / "ann.json").write_text(json.dumps(coco))


def _config(tmp_path: Path, **overrides) -> Config:
    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_bbox=True),
        dict(type="PackDetInputs"),
    ]
    cfg = dict(
        default_scope="mmdet",
        model=tiny_distiller_cfg(alpha=0.5),
        work_dir=str(tmp_path / "work"),
        train_dataloader=dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type="DefaultSampler", shuffle=False),
            dataset=dict(
                type="CocoDataset",
                data_root=str(tmp_path),
                ann_file="ann.json",
                data_prefix=dict(img=""),
                metainfo=dict(classes=("pedestrian",)),
                pipeline=pipeline,
            ),
        ),
        train_cfg=dict(type="EpochBasedTrainLoop", max_epochs=2, val_interval=100),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type="CheckpointHook", interval=1),
            logger=dict(type="LoggerHook", interval=1),
        ),
        custom_hooks=[dict(type="DistillHook", alpha_schedule=[(1, 0.25)])],
        randomness=dict(seed=0),
        log_level="WARNING",
    )
    cfg.update(overrides)
    return Config(cfg)


@pytest.mark.slow
def test_train_save_resume_export(tmp_path: Path) -> None:
    _tiny_coco(tmp_path)
    runner = Runner.from_cfg(_config(tmp_path))
    runner.train()
    model = runner.model
    assert model.alpha == 0.25  # second epoch (index 1) follows the schedule
    assert "train/distill_cos_sim_dino" in runner.message_hub.log_scalars
    logged = runner.message_hub.log_scalars
    assert {"train/student.loss_cls", "train/student.loss_bbox", "train/distill.loss_dino"} <= set(
        logged
    )
    # the logged total is the alpha-weighted sum of the logged (already weighted) parts
    parts = ("train/student.loss_cls", "train/student.loss_bbox", "train/distill.loss_dino")
    assert logged["train/loss"].current() == pytest.approx(
        sum(logged[k].current() for k in parts), rel=1e-5
    )

    ckpt_path = tmp_path / "work" / "epoch_2.pth"
    ckpt = safe_load_checkpoint(str(ckpt_path), map_location="cpu")
    assert not any(k.startswith(("teacher.", "student.")) for k in ckpt["state_dict"])
    assert set(ckpt["distill_state_dict"]) == {
        "connectors.s2t.conv.weight",
        "connectors.s2t.conv.bias",
    }

    # the plain student config loads it strictly
    plain = MODELS.build(tiny_student_cfg())
    load_checkpoint(plain, str(ckpt_path), map_location="cpu", strict=True)
    for key, value in model.student.state_dict().items():
        assert torch.equal(plain.state_dict()[key], value), key

    # resuming the distillation from epoch 1 restores student and connectors
    epoch1 = safe_load_checkpoint(str(tmp_path / "work" / "epoch_1.pth"), map_location="cpu")
    resumed = Runner.from_cfg(
        _config(
            tmp_path,
            resume=True,
            load_from=str(tmp_path / "work" / "epoch_1.pth"),
            work_dir=str(tmp_path / "work2"),
        )
    )
    teacher_before = {k: v.clone() for k, v in resumed.model.teacher.state_dict().items()}
    resumed.load_or_resume()
    assert resumed.epoch == 1
    for key, value in epoch1["state_dict"].items():
        assert torch.equal(resumed.model.student.state_dict()[key], value), key
    for key, value in epoch1["distill_state_dict"].items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    for key, value in teacher_before.items():
        assert torch.equal(resumed.model.teacher.state_dict()[key], value), key

    # export: a full distiller checkpoint -> plain student checkpoint, never over the input
    full = tmp_path / "full.pth"
    torch.save({"meta": {}, "state_dict": model.state_dict(), "optimizer": {}}, full)
    out = tmp_path / "student.pth"
    tool = _export_tool()
    tool.main([str(full), str(out)])
    exported = torch.load(out, weights_only=True)
    assert set(exported) == {"meta", "state_dict"}
    assert exported["meta"]["distill"]["removed_entries"] == ["optimizer", "distill_state_dict"]
    plain2 = MODELS.build(tiny_student_cfg())
    plain2.load_state_dict(exported["state_dict"], strict=True)
    with pytest.raises(SystemExit, match="Refusing to write over the input"):
        tool.main([str(full), str(full)])
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        tool.main([str(full), str(out)])
