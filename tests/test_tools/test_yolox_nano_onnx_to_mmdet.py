"""tools/model_converters/yolox_nano_onnx_to_mmdet.py as a user runs it.

On a synthetic graph with YOLOX-Nano's layout (113 Conv nodes, random weights; no assets
needed) the tool writes a checkpoint that loads with strict=True into the model of
configs/yolox/yolox_nano_416_coco-onnx.py and records the source's sha256; a graph with one
wrong tensor ends it with one line naming the file and that tensor, exit status 1. With the real
``yolox_nano.onnx`` (marked ``assets``), ``--check`` compares it with onnxruntime on MOT17
frames.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from yolox_onnx_testing import write_layout_graph

from mmdistillmot.models.model_converters import yolox_conv_slots

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "model_converters" / "yolox_nano_onnx_to_mmdet.py"
CONFIG = REPO / "configs" / "yolox" / "yolox_nano_416_coco-onnx.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("yolox_nano_onnx_to_mmdet", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env,
    )


@pytest.fixture(scope="module")
def nano_cfg() -> Config:
    return Config.fromfile(str(CONFIG))


def test_tool_writes_a_strict_checkpoint(tmp_path: Path, nano_cfg: Config) -> None:
    src = tmp_path / "nano_layout.onnx"
    write_layout_graph(src, yolox_conv_slots(MODELS.build(nano_cfg.model)), seed=1)
    out = tmp_path / "ckpt" / "nano.pth"
    done = _run(str(src), str(out))
    assert done.returncode == 0, done.stderr
    assert "mapped 113 Conv nodes onto 642 tensors" in done.stdout
    assert done.stdout.splitlines()[-1] == f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}"
    model = MODELS.build(nano_cfg.model)
    meta = load_checkpoint(model, str(out), map_location="cpu", strict=True)["meta"]
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta["config"] == "configs/yolox/yolox_nano_416_coco-onnx.py"


def test_tool_fails_in_one_line_at_the_first_wrong_tensor(
    tmp_path: Path, nano_cfg: Config, capsys
) -> None:
    src = tmp_path / "bad.onnx"
    slots = yolox_conv_slots(MODELS.build(nano_cfg.model))

    def shrink(index: int, weight: np.ndarray) -> np.ndarray:
        return weight[:-1] if index == 100 else weight  # one output channel short

    write_layout_graph(src, slots, mutate=shrink)
    out = tmp_path / "never.pth"
    assert tool.main([str(src), str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: YOLOXOnnxConversionError: {src}: Conv node #100 'Conv_100'")
    assert f"'{slots[100].weight_key}'" in err
    assert not out.exists()
    assert tool.main([str(tmp_path / "missing.onnx"), str(out)]) == 1
    assert "missing.onnx: ONNX file does not exist" in capsys.readouterr().err


@pytest.mark.assets
def test_tool_checks_the_real_yolox_nano_against_onnxruntime(
    assets_root: Path, tmp_path: Path
) -> None:
    src = assets_root / "weights" / "yolox_nano.onnx"
    frames = sorted((assets_root / "mot17_mini" / "train").glob("*/img1/000001.jpg"))
    assert len(frames) == 4
    out = tmp_path / "yolox_nano_coco_onnx.pth"
    done = _run(str(src), str(out), "--check", *map(str, frames))
    assert done.returncode == 0, done.stderr
    assert "sha256 695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14" in done.stdout
    found = re.search(r"max abs difference to onnxruntime on 4 images: (\S+)", done.stdout)
    assert found, done.stdout
    assert float(found[1]) <= 1e-3
