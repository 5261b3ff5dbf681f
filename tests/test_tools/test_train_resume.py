"""tools/train.py trains a tiny config, --resume continues it, unsafe checkpoints are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"


def write_tiny_config(path: Path, data_root: Path) -> Path:
    """A config inheriting the real baseline, shrunk to tiny images and 2 iterations an epoch."""
    path.write_text(
        f"""
_base_ = ['{BASE_CONFIG}']
data_root = '{data_root}/'
img_scale = (160, 96)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=img_scale, keep_ratio=True),
        dict(type='PackDetInputs')]))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val_cocoformat.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=100)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=1)]
default_hooks = dict(logger=dict(interval=1))
model = dict(backbone=dict(depth=18, num_stages=4, norm_eval=False))
"""
    )
    return path


def run_train(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(REPO / "tools" / "train.py"), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)


@pytest.mark.slow
def test_train_one_epoch_then_resume_to_second(tmp_path: Path, tiny_synthetic_mot: Path) -> None:
    config = write_tiny_config(tmp_path / "tiny.py", tiny_synthetic_mot)
    work_dir = tmp_path / "work"
    first = run_train(str(config), "--work-dir", str(work_dir))
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt1 = torch.load(work_dir / "epoch_1.pth", map_location="cpu", weights_only=True)
    iters_per_epoch = ckpt1["meta"]["iter"]
    assert ckpt1["meta"]["epoch"] == 1 and iters_per_epoch >= 1

    second = run_train(
        str(config), "--work-dir", str(work_dir), "--resume",
        "--cfg-options", "train_cfg.max_epochs=2",
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "resumed epoch: 1" in log, log[-3000:]
    ckpt2 = torch.load(work_dir / "epoch_2.pth", map_location="cpu", weights_only=True)
    # the second run continued the first: the iteration counter kept counting
    assert ckpt2["meta"]["epoch"] == 2
    assert ckpt2["meta"]["iter"] == 2 * iters_per_epoch
    # and it trained: the weights moved during epoch 2
    key = "bbox_head.retina_cls.weight"
    assert not torch.equal(ckpt1["state_dict"][key], ckpt2["state_dict"][key])


class _Smuggler:
    """Pickles as a call to os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused(tmp_path: Path, tiny_synthetic_mot: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"payload": _Smuggler(marker)}}, evil)
    config = write_tiny_config(tmp_path / "tiny.py", tiny_synthetic_mot)
    result = run_train(str(config), "--work-dir", str(tmp_path / "work"), "--resume", str(evil))
    assert result.returncode != 0
    assert "UnsafeCheckpointError" in result.stderr
    assert str(evil) in result.stderr and "system" in result.stderr
    assert not marker.exists(), "the smuggled command ran"
