"""tools/model_converters/yolox_keep_classes.py: keep some classes of a YOLOX checkpoint.

The kept classes must score exactly as in the source model (YOLOX scores each class by its own
predictor row x objectness), the rest of the network unchanged; with the real YOLOX-Nano (assets)
the TDT YOLOX config then loads everything but its new embedder.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmdistillmot.models.model_converters.yolox_classes import keep_yolox_classes

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "model_converters" / "yolox_keep_classes.py"
CLASSES = ("car", "person", "dog")


def _load_tool():
    spec = importlib.util.spec_from_file_location("_yolox_keep_classes", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def tiny_yolox(num_classes: int):
    """A small mmdet YOLOX (2 stages, 16-channel neck), eval mode."""
    model = MODELS.build(
        dict(
            type="YOLOX",
            backbone=dict(
                type="CSPDarknet", deepen_factor=0.33, widen_factor=0.125, out_indices=(2, 3, 4)
            ),
            neck=dict(type="YOLOXPAFPN", in_channels=[32, 64, 128], out_channels=16),
            bbox_head=dict(
                type="YOLOXHead", num_classes=num_classes, in_channels=16, feat_channels=16
            ),
            test_cfg=dict(score_thr=0.01, nms=dict(type="nms", iou_threshold=0.65)),
        )
    )
    return model.eval()


def _raw_outputs(model, x: torch.Tensor):
    with torch.no_grad():
        return model.bbox_head(model.neck(model.backbone(x)))


@pytest.fixture()
def source(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = tiny_yolox(len(CLASSES))
    for module in model.modules():  # non-trivial BN statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "three.pth"
    palette = [(1, 1, 1), (2, 2, 2), (3, 3, 3)]
    meta = dict(dataset_meta=dict(classes=CLASSES, palette=palette), source="test")
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path, model


@pytest.mark.parametrize("keep", [["person"], ["dog", "person"]])
def test_kept_classes_score_as_in_the_source(
    source: tuple[Path, torch.nn.Module], tmp_path: Path, keep: list[str], capsys
) -> None:
    path, model = source
    out = tmp_path / "kept.pth"
    assert _load_tool().main([str(path), str(out), "--classes", *keep]) == 0
    assert str(out.resolve()) in capsys.readouterr().out
    kept = tiny_yolox(len(keep))
    load_checkpoint(kept, str(out), map_location="cpu", strict=True)  # every key, every shape
    rows = [CLASSES.index(name) for name in keep]
    x = torch.rand(2, 3, 64, 96) * 255
    (cls_full, bbox_full, obj_full), (cls_kept, bbox_kept, obj_kept) = (
        _raw_outputs(model, x),
        _raw_outputs(kept, x),
    )
    for level in range(3):
        # float rounding only: a 1x1 conv of fewer outputs may take another kernel
        torch.testing.assert_close(cls_kept[level], cls_full[level][:, rows])
        torch.testing.assert_close(bbox_kept[level], bbox_full[level], rtol=0, atol=0)
        torch.testing.assert_close(obj_kept[level], obj_full[level], rtol=0, atol=0)
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["dataset_meta"]["classes"] == tuple(keep)
    assert meta["dataset_meta"]["palette"] == [(3, 3, 3), (2, 2, 2)][-len(keep) :]
    assert meta["kept_classes"] == dict(zip(keep, rows, strict=True))
    assert meta["source"] == "test" and len(meta["classes_from"]["source_sha256"]) == 64


def test_an_unknown_class_or_a_non_yolox_file_fails_in_one_line(
    source: tuple[Path, torch.nn.Module], tmp_path: Path, capsys
) -> None:
    path, _ = source
    tool = _load_tool()
    assert tool.main([str(path), str(tmp_path / "x.pth"), "--classes", "pedestrian"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pedestrian" in err and "car, person, dog" in err
    assert not (tmp_path / "x.pth").exists()
    assert tool.main([str(path), str(path)]) == 1  # never over the source
    with pytest.raises(ValueError, match="no YOLOX class predictor"):
        keep_yolox_classes({"backbone.w": torch.zeros(3)}, [0], 3)
    with pytest.raises(ValueError, match="3 rows"):
        keep_yolox_classes({"bbox_head.multi_level_conv_cls.0.bias": torch.zeros(80)}, [0], 3)


@pytest.mark.assets
def test_real_yolox_nano_person_row_loads_into_the_tdt_config(
    assets_root: Path, tmp_path: Path
) -> None:
    """The converted COCO YOLOX-Nano, person row kept, initialises the TDT YOLOX detector.

    Everything but the embedder is loaded; the detector's person scores, objectness and boxes
    equal the 80-class model's, in train mode too (FrozenStatsBN).
    """
    from mmdistillmot.models.model_converters import convert_yolox_onnx_file
    from mmdistillmot.models.model_converters.yolox_classes import keep_yolox_classes_file

    nano_cfg = Config.fromfile(str(REPO / "configs" / "yolox" / "yolox_nano_416_coco-onnx.py"))
    coco = tmp_path / "coco.pth"
    convert_yolox_onnx_file(
        assets_root / "weights" / "yolox_nano.onnx", coco, MODELS.build(nano_cfg.model)
    )
    person = keep_yolox_classes_file(coco, tmp_path / "person.pth", ["person"])
    assert person.indices == (0,) and len(person.sliced_keys) == 6
    reference = MODELS.build(nano_cfg.model)
    load_checkpoint(reference, str(coco), map_location="cpu", strict=True)
    reference.eval()

    cfg = Config.fromfile(str(REPO / "configs" / "tdt" / "tdt_yolox-nano_embed_synthetic.py"))
    cfg.model.detector.init_cfg.checkpoint = str(person.path)
    detector = MODELS.build(cfg.model).detector
    before = {k: v.clone() for k, v in detector.state_dict().items() if "embed" in k}
    detector.init_weights()  # the config's Pretrained init
    loaded = torch.load(person.path, weights_only=True)["state_dict"]
    state = detector.state_dict()
    assert set(state) - set(loaded) == set(before)  # only the embedder is not in the file
    for key, value in loaded.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    detector.train()  # fine-tuning mode: the converted network must not change
    x = torch.rand(1, 3, 224, 384) * 255
    ours, theirs = _raw_outputs(detector, x), _raw_outputs(reference, x)
    for level in range(3):
        torch.testing.assert_close(ours[0][level], theirs[0][level][:, :1])  # float rounding
        torch.testing.assert_close(ours[1][level], theirs[1][level], rtol=0, atol=0)
        torch.testing.assert_close(ours[2][level], theirs[2][level], rtol=0, atol=0)
