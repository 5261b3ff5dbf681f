"""Unknown ``type`` names are reported with the file, the field path and close matches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

import mmdistillmot  # noqa: F401
from mmdistillmot.utils import ConfigTypeError, check_config_types

REPO = Path(__file__).resolve().parents[2]


def test_known_types_pass() -> None:
    cfg = Config.fromfile(str(REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"))
    check_config_types(cfg)


def test_unknown_type_names_field_and_suggests() -> None:
    cfg = Config.fromfile(str(REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"))
    cfg.model.backbone.type = "ResNett"
    with pytest.raises(ConfigTypeError) as info:
        check_config_types(cfg, "my_config.py")
    message = str(info.value)
    assert "my_config.py" in message
    assert "model.backbone.type" in message
    assert "'ResNet'" in message


def test_unknown_pipeline_type_in_list_is_located() -> None:
    cfg = Config.fromfile(str(REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"))
    cfg.train_dataloader.dataset.pipeline[1].type = "LoadAnnotationz"
    with pytest.raises(ConfigTypeError, match=r"train_dataloader\.dataset\.pipeline\[1\]\.type"):
        check_config_types(cfg)


def test_train_tool_exits_with_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    base = REPO / "configs" / "baselines" / "retinanet_r18_fpn_1x_synthetic.py"
    bad.write_text(f"_base_ = ['{base}']\nmodel = dict(neck=dict(type='FPNN'))\n")
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "train.py"), str(bad)],
        capture_output=True, text=True, cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.returncode != 0
    assert "bad.py" in result.stderr and "model.neck.type" in result.stderr
    assert "Traceback" not in result.stderr
