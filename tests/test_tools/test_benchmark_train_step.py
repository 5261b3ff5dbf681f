"""tools/analysis/benchmark_train_step.py: step memory, argument errors, a tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "configs" / "fairmot" / "fairmot_hrnetv2-w18_synthetic.py"
DISTILLED = REPO / "configs" / "fairmot_dinov2" / "fairmot_dinov2-small_synthetic.py"

# HRNetV2-W18 widths with one block per stage: the same 270-channel neck, a fraction of the cost
REDUCED_HRNET = """dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,),
                num_channels=(16,)),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                num_channels=(18, 36)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                num_channels=(18, 36, 72)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                num_channels=(18, 36, 72, 144)))"""


def _load_tool():
    sys.path.insert(0, str(REPO / "tools" / "analysis"))
    spec = importlib.util.spec_from_file_location(
        "benchmark_train_step", REPO / "tools" / "analysis" / "benchmark_train_step.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_cpu_step_memory_sees_an_allocation_made_inside_the_step() -> None:
    memory = tool.StepMemory(torch.device("cpu"))
    memory.start()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB of float32, touched (ones), so resident
    peak = memory.stop()
    assert block[-1] == 1
    if memory.method == "VmHWM":
        # the high-water mark was reset at start(): the step's peak is the block, not the past
        assert 60 * 2**20 <= peak <= 200 * 2**20
    else:
        assert peak >= 0


def test_needs_two_configs(capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main([str(BASELINE)]) == 1
    assert "at least two configs" in capsys.readouterr().err


def test_rejects_a_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.py"
    assert tool.main([str(BASELINE), str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err


def _tiny_configs(tmp_path: Path) -> tuple[Path, Path]:
    baseline = tmp_path / "tiny_fairmot.py"
    baseline.write_text(
        f"_base_ = ['{BASELINE}']\n"
        f"model = dict(backbone=dict(extra={REDUCED_HRNET}), bbox_head=dict(feat_channels=32))\n"
    )
    distilled = tmp_path / "tiny_fairmot_dinov2.py"
    distilled.write_text(
        f"_base_ = ['{DISTILLED}']\n"
        f"model = dict(student=dict(backbone=dict(extra={REDUCED_HRNET}),\n"
        "                          bbox_head=dict(feat_channels=32)),\n"
        "             teacher=dict(model_kwargs=dict(depth=1)))\n"
    )
    return baseline, distilled


@pytest.mark.slow  # ~10-20 s on the shared 2-core machine (two models built, four steps)
def test_reports_a_row_per_config_with_positive_times(
    tmp_path: Path, tiny_synthetic_mot: Path
) -> None:
    baseline, distilled = _tiny_configs(tmp_path)
    num_ids = json.loads((tiny_synthetic_mot / "annotations/train_cocoformat.json").read_text())[
        "num_instances"
    ]
    out = tmp_path / "steps.json"
    code = tool.main(
        [
            str(baseline),
            str(distilled),
            "--steps", "2",
            "--warmup", "0",
            "--random-init-teachers",
            "--out", str(out),
            "--cfg-options",
            f"train_dataloader.dataset.data_root={tiny_synthetic_mot}/",
            "train_dataloader.batch_size=1",
            "train_dataloader.dataset.pipeline.1.transforms.3.scale=(64,32)",
            f"model.bbox_head.num_identities={num_ids}",
            f"model.student.bbox_head.num_identities={num_ids}",
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    rows = result["models"]
    assert [row["name"] for row in rows] == ["A: tiny_fairmot", "B: tiny_fairmot_dinov2"]
    for row in rows:
        assert row["steps"] == 2
        assert 0 < row["min_s"] <= row["median_s"]
        assert row["peak_mib"] >= 0
        assert math.isfinite(row["last_loss"]), row["last_loss"]  # neither NaN nor +-inf
    assert rows[0]["overhead_vs_first"] == 1.0
    assert rows[1]["overhead_vs_first"] == pytest.approx(rows[1]["median_s"] / rows[0]["median_s"])
    assert rows[1]["min_overhead_vs_first"] == pytest.approx(rows[1]["min_s"] / rows[0]["min_s"])
    # the options went only where their parent exists
    assert any("model.bbox_head.num_identities" in n for n in rows[0]["notes"])
    assert not any("model.student" in n for n in rows[0]["notes"])
    assert any("model.student.bbox_head.num_identities" in n for n in rows[1]["notes"])
    assert any(
        "RANDOM-WEIGHT TEACHERS" in n and "DINOv2Teacher(small)" in n for n in rows[1]["notes"]
    )
    # same data pipeline and seed: both models trained on the same batch
    assert "same input batches as A" in rows[1]["notes"]
    # the distiller adds a frozen teacher (not trainable) and a trainable 1x1 conv 270 -> 384
    assert rows[1]["trainable"] - rows[0]["trainable"] == 270 * 384 + 384
    assert rows[1]["params"] > rows[1]["trainable"]
