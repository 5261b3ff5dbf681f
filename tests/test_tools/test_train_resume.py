"""tools/train.py: resuming after a kill is exact; unsafe checkpoints are refused.

A run SIGKILLed after a checkpoint and resumed with ``--resume`` ends with the weights of the
uninterrupted run (plain detector; distillation with an alpha schedule and EMA).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from kill_switch_hook import KILL_ENV

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BASE_CONFIG = REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"
DISTILL_CONFIG = (
    REPO / "configs" / "examples" / "retinanet_r18_fpn_distill-dinov2-small_synthetic.py"
)


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


def run_train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(REPO / "tools" / "train.py"), *args]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        # the training processes import kill_switch_hook from this folder
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


# ------------------------------------------------------------------ exact resume after a kill
#: The baseline at the frames' own size (160x96), batch 2, with the config's RandomFlip, its
#: two dataloader workers (persistent) and its warm-up + step schedule; seeded, deterministic.
PLAIN_RESUME_CONFIG = """
_base_ = ['{base}']
custom_imports = dict(imports=['mmdistillmot', 'kill_switch_hook'], allow_failed_imports=False)
data_root = '{data_root}/'
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(160, 96), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')]))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val_cocoformat.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=100)
default_hooks = dict(logger=dict(interval=1))
custom_hooks = [dict(type='KillSwitchHook')]
randomness = dict(seed=0, deterministic=True)
"""

#: The distillation example (FeatureDistiller, the baseline student, DINOv2 teacher) with a
#: 2-block random teacher, an alpha that changes every iteration, EMA of the weights, and the
#: data in the main process (num_workers=0: the augmentations draw from its generators).
DISTILL_RESUME_CONFIG = """
_base_ = ['{base}']
custom_imports = dict(imports=['mmdistillmot', 'kill_switch_hook'], allow_failed_imports=False)
data_root = '{data_root}/'
model = dict(
    teacher=dict(
        weights=None, allow_random_init=True,
        model_kwargs=dict(depth=2, embed_dim=48, num_heads=2, img_size=56)),
    connectors=dict(p3_to_teacher=dict(out_channels=48)))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(160, 96), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')]))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val_cocoformat.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=100)
default_hooks = dict(logger=dict(interval=1))
custom_hooks = [
    dict(type='DistillHook', by_epoch=False, interpolation='linear',
         alpha_schedule=[(0, 0.2), (12, 0.8)]),
    dict(type='EMAHook', momentum=0.1),
    dict(type='KillSwitchHook'),
]
randomness = dict(seed=0, deterministic=True)
"""

#: Checkpoint entries holding tensors that must continue exactly.
TENSOR_ENTRIES = ("state_dict", "ema_state_dict", "distill_state_dict", "ema_distill_state_dict")


def max_differences(a: dict, b: dict) -> dict[str, float]:
    """Largest absolute difference per checkpoint entry (weights, EMA, connectors, momentum)."""
    out: dict[str, float] = {}
    for entry in TENSOR_ENTRIES:
        assert (entry in a) == (entry in b), entry
        if entry not in a:
            continue
        assert a[entry].keys() == b[entry].keys(), entry
        out[entry] = max(
            (a[entry][k].double() - b[entry][k].double()).abs().max().item()
            for k in a[entry]
            if a[entry][k].is_floating_point()
        )
    momenta_a = a["optimizer"]["state"]
    momenta_b = b["optimizer"]["state"]
    assert momenta_a.keys() == momenta_b.keys()
    out["optimizer"] = max(
        (momenta_a[i]["momentum_buffer"] - momenta_b[i]["momentum_buffer"]).abs().max().item()
        for i in momenta_a
    )
    return out


def logged(work_dir: Path, key: str, run: int = -1) -> dict[int, float]:
    """``key`` per iteration from the scalars.json of one run in ``work_dir`` (-1: the last)."""
    path = sorted(work_dir.glob("*/vis_data"))[run] / "scalars.json"  # timestamped folders
    values: dict[int, float] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if key in record:
            values[int(record["step"])] = float(record[key])
    return values


def kill_resume_and_compare(
    tmp_path: Path, config_text: str, loss_keys: tuple[str, ...] = ("loss", "lr")
) -> tuple[Path, Path]:
    """Train 2 epochs; train again, SIGKILLed 2 iterations into epoch 2, resume; compare.

    Args:
        tmp_path: Work folder.
        config_text: The config.
        loss_keys: Logged values that must match per resumed iteration.

    Returns:
        The uninterrupted and the killed-then-resumed work dirs.
    """
    config = tmp_path / "resume.py"
    config.write_text(config_text)
    full, resumed = tmp_path / "full", tmp_path / "killed"

    first = run_train(str(config), "--work-dir", str(full))
    assert first.returncode == 0, first.stderr[-3000:]
    per_epoch = torch.load(full / "epoch_1.pth", map_location="cpu", weights_only=False)["meta"][
        "iter"
    ]
    assert per_epoch >= 3

    killed = run_train(str(config), "--work-dir", str(resumed), env={KILL_ENV: str(per_epoch + 2)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (resumed / "epoch_1.pth").is_file() and not (resumed / "epoch_2.pth").exists()
    # the killed process trained past its checkpoint: its lost iterations were really run
    assert max(logged(resumed, "loss", run=0)) == per_epoch + 2

    second = run_train(str(config), "--work-dir", str(resumed), "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resumed epoch: 1, iter: {per_epoch}" in second.stdout + second.stderr

    want = torch.load(full / "epoch_2.pth", map_location="cpu", weights_only=False)
    got = torch.load(resumed / "epoch_2.pth", map_location="cpu", weights_only=False)
    assert got["meta"]["epoch"] == 2 and got["meta"]["iter"] == 2 * per_epoch
    differences = max_differences(want, got)
    assert max(differences.values()) <= 1e-6, differences
    # the comparison is not vacuous: epoch 2 moved the weights
    epoch1 = torch.load(full / "epoch_1.pth", map_location="cpu", weights_only=False)
    assert max_differences(epoch1, want)["state_dict"] > 1e-4
    # every resumed iteration had the uninterrupted run's losses (same data, augmentations)
    for key in loss_keys:
        want_loss, got_loss = logged(full, key), logged(resumed, key)
        assert sorted(got_loss) == list(range(per_epoch + 1, 2 * per_epoch + 1)), key
        for step, value in got_loss.items():
            assert value == pytest.approx(want_loss[step], abs=1e-6), (key, step)
    return full, resumed


@pytest.mark.slow
def test_resume_after_kill_is_exact_plain_detector(
    tmp_path: Path, tiny_synthetic_mot: Path
) -> None:
    """The baseline detector, its RandomFlip drawn in 2 persistent workers."""
    kill_resume_and_compare(
        tmp_path, PLAIN_RESUME_CONFIG.format(base=BASE_CONFIG, data_root=tiny_synthetic_mot)
    )


@pytest.mark.slow
def test_resume_after_kill_is_exact_distillation(tmp_path: Path, tiny_synthetic_mot: Path) -> None:
    """FeatureDistiller with a per-iteration alpha schedule and EMA, data in the main process."""
    # distill.loss_dinov2 is alpha x L_kd: the scheduled alpha, iteration by iteration
    full, _ = kill_resume_and_compare(
        tmp_path,
        DISTILL_RESUME_CONFIG.format(base=DISTILL_CONFIG, data_root=tiny_synthetic_mot),
        loss_keys=("loss", "lr", "distill.loss_dinov2"),
    )
    want = torch.load(full / "epoch_2.pth", map_location="cpu", weights_only=False)
    assert {"distill_state_dict", "ema_distill_state_dict", "ema_state_dict"} <= set(want)


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


def test_truncated_checkpoint_is_named_and_left_alone(
    tmp_path: Path, tiny_synthetic_mot: Path
) -> None:
    """``--resume`` from a checkpoint cut short (an interrupted copy): one line naming it."""
    whole = tmp_path / "whole.pth"
    torch.save({"state_dict": {"w": torch.ones(64, 64)}, "meta": {"epoch": 1, "iter": 2}}, whole)
    truncated = tmp_path / "epoch_1.pth"
    truncated.write_bytes(whole.read_bytes()[:-1000])
    before = truncated.read_bytes()
    config = write_tiny_config(tmp_path / "tiny.py", tiny_synthetic_mot)
    work_dir = tmp_path / "work"
    result = run_train(str(config), "--work-dir", str(work_dir), "--resume", str(truncated))
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: CorruptCheckpointError: Checkpoint '{truncated}'"), last
    assert "truncated" in last
    assert truncated.read_bytes() == before
    assert not list(work_dir.glob("*.pth"))  # nothing written in its place
