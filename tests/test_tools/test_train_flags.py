"""tools/train.py's ``--amp`` and ``--auto-scale-lr`` as a user meets them.

* ``--amp`` selects mmengine's ``AmpOptimWrapper``, which cannot run on the CPU: on a machine
  without CUDA (the suite hides it, ``tests/conftest.py``) the tool stops before building
  anything, with one line naming the flag and the missing device, exit status 1, instead of
  mmengine's bare ``AssertionError`` and traceback after the model and the data are built.
* ``--auto-scale-lr`` multiplies the optimizer's learning rate by (processes x samples per
  process) / ``auto_scale_lr.base_batch_size``: checked on the learning rate the real training
  loop logs, and refused in one line for a config without ``auto_scale_lr``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "tools" / "train.py"
BASELINE = REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"


def _load_train():
    spec = importlib.util.spec_from_file_location("_train_flags_train", TRAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = _load_train()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(TRAIN), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


# ------------------------------------------------------------------ --amp without a GPU
@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--amp"], "--amp"),
        # a config asking for AMP itself (no flag): the message names the config's wrapper
        (["--cfg-options", "optim_wrapper.type=AmpOptimWrapper"], "the config's AmpOptimWrapper"),
    ],
    ids=["--amp", "config"],
)
def test_amp_on_a_cpu_only_machine_is_one_line_naming_the_cause(
    extra: list[str], named: str, tmp_path: Path
) -> None:
    assert not torch.cuda.is_available()  # the suite hides CUDA, also from its subprocesses
    work_dir = tmp_path / "work"
    result = _run(str(BASELINE), "--work-dir", str(work_dir), *extra)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]], result.stderr[-2000:]  # one line, the last one
    message = errors[0]
    assert message.startswith(f"error: {named}: mixed-precision training")
    assert "needs a CUDA, NPU, MLU or MUSA device" in message and "CPU" in message
    # stopped before the Runner: nothing was built or written
    assert not work_dir.exists()


def test_amp_with_debug_keeps_the_traceback(tmp_path: Path) -> None:
    result = _run(str(BASELINE), "--work-dir", str(tmp_path / "work"), "--amp", "--debug")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: --amp: mixed-precision training" in result.stderr


def _cfg(optim_wrapper: dict) -> Config:
    return Config(dict(optim_wrapper=optim_wrapper))


@pytest.mark.parametrize(
    "optim_wrapper",
    [
        dict(type="AmpOptimWrapper", optimizer=dict(type="SGD", lr=0.1)),
        dict(type="mmengine.AmpOptimWrapper", optimizer=dict(type="SGD", lr=0.1)),
        dict(type=AmpOptimWrapper, optimizer=dict(type="SGD", lr=0.1)),  # a class, not a name
        # several optimizers (MultiOptimWrapperConstructor): one AMP entry is enough
        dict(
            constructor="MultiOptimWrapperConstructor",
            generator=dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.1)),
            discriminator=dict(type="AmpOptimWrapper", optimizer=dict(type="SGD", lr=0.1)),
        ),
    ],
    ids=["name", "scoped name", "class", "per-module"],
)
def test_every_spelling_of_amp_is_refused_on_the_cpu(optim_wrapper: dict) -> None:
    with pytest.raises(RuntimeError, match="the config's AmpOptimWrapper: mixed-precision"):
        train.check_amp_device(_cfg(optim_wrapper))


def test_a_subclass_of_amp_is_refused_under_its_own_name() -> None:
    class MyAmpWrapper(AmpOptimWrapper):
        pass

    with pytest.raises(RuntimeError, match="the config's MyAmpWrapper"):
        train.check_amp_device(_cfg(dict(type=MyAmpWrapper)))


def test_plain_wrappers_and_a_gpu_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    train.check_amp_device(_cfg(dict(type="OptimWrapper")))
    train.check_amp_device(Config(dict()))  # no optim_wrapper (a test config)
    train.check_amp_device(_cfg(dict(type="NotRegistered")))  # the Runner refuses it later
    monkeypatch.setattr(train, "is_cuda_available", lambda: True)
    train.check_amp_device(_cfg(dict(type="AmpOptimWrapper")), from_flag=True)


# ------------------------------------------------------------------ --auto-scale-lr
#: The baseline (lr 0.01 for base_batch_size=4) on the tiny set at its own size, constant lr,
#: one epoch of one iteration: the lr of that iteration is the scaled optimizer lr itself.
TINY = """
_base_ = ['{base}']
data_root = '{data_root}/'
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, indices={batch_size}, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs')]))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val_cocoformat.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=100)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=1)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=-1, save_last=False))
model = dict(backbone=dict(depth=18, num_stages=4, norm_eval=False))
"""


def _logged_lrs(work_dir: Path) -> list[float]:
    (scalars,) = work_dir.glob("*/vis_data/scalars.json")
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [record["lr"] for record in records if "lr" in record]


def test_auto_scale_lr_scales_the_trained_lr_by_batch_over_base(
    tmp_path: Path, tiny_synthetic_mot: Path
) -> None:
    batch_size = 6  # one process of 6 images against the config's base of 4: x 1.5
    config = tmp_path / "tiny.py"
    config.write_text(TINY.format(base=BASELINE, data_root=tiny_synthetic_mot, batch_size=6))
    base = Config.fromfile(str(config))
    assert base.optim_wrapper.optimizer.lr == 0.01 and base.auto_scale_lr.base_batch_size == 4

    args = train.parse_args([str(config), "--work-dir", str(tmp_path / "w"), "--auto-scale-lr"])
    cfg = train.build_config(args)
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=4)
    assert Config.fromfile(str(config)).auto_scale_lr.enable is False  # the file is untouched

    # the whole tool, in this process: the Runner trains one iteration and logs its lr
    # mmdet's runtime names its visualizer 'visualizer', a process-wide instance: an earlier
    # test's Runner would receive this run's scalars in its own work dir. A name of our own
    # gives this Runner a visualizer that writes under tmp_path.
    own_visualizer = f"visualizer.name=auto_scale_lr_{tmp_path.name}"
    train.main(
        [
            str(config),
            "--work-dir",
            str(tmp_path / "scaled"),
            "--auto-scale-lr",
            "--cfg-options",
            own_visualizer,
        ]
    )
    (lr,) = _logged_lrs(tmp_path / "scaled")
    world_size = 1
    assert lr == pytest.approx(0.01 * world_size * batch_size / 4, rel=1e-9)  # 0.015


REID = REPO / "configs" / "reid" / "osnet_x0_25_synthetic.py"  # a config without auto_scale_lr


@pytest.mark.parametrize(
    "text",
    [
        None,  # the Re-ID config as it is: no auto_scale_lr
        f"_base_ = ['{BASELINE}']\nauto_scale_lr = None\n",  # removed from its base
        f"_base_ = ['{BASELINE}']\nauto_scale_lr = dict(_delete_=True, enable=False)\n",
    ],
    ids=["absent", "None", "no base_batch_size"],
)
def test_auto_scale_lr_without_the_config_entry_is_one_line(
    text: str | None, tmp_path: Path
) -> None:
    config = REID
    if text is not None:
        config = tmp_path / "no_auto_scale.py"
        config.write_text(text)
    with pytest.raises(SystemExit) as done:
        train.main([str(config), "--work-dir", str(tmp_path / "w"), "--auto-scale-lr"])
    message = str(done.value.code)
    assert message.startswith(f"error: {config}: --auto-scale-lr needs `auto_scale_lr = dict(")
    assert "base_batch_size=N" in message and "\n" not in message
    assert not (tmp_path / "w").exists()
