"""Deformable DETR (box refinement, COCO) -> MOTRv2: every key, every shape, the class rows.

The source is built here in the reference layout: torchvision's ResNet-50 names under
``backbone.0.body.`` (FrozenBatchNorm2d: no ``num_batches_tracked``, no ``fc``), Deformable
DETR's input projections, transformer layers, 91-row class heads, 3-layer box MLPs, the decoder's
aliases of those heads, ``reference_points`` and the 300 ``query_embed`` rows, each tensor with
its own values. The expected target of every source key is written out below independently of
the converter's rules; the R50 MOTRv2 model of the configs is the target layout.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest
import torch
import torchvision
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint

import mmdistillmot  # noqa: F401  (registers MOTRv2, safe checkpoint loading)
from mmdistillmot.models.model_converters.deformable_detr_motrv2 import (
    NEW_TARGET_KEYS,
    DeformableDETRConversionError,
    check_against_model,
    convert_deformable_detr_weights,
)

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
D, FFN, LAYERS, HEADS, LEVELS, POINTS = 256, 1024, 6, 8, 4, 4


def reference_state_dict() -> dict[str, torch.Tensor]:
    """A Deformable DETR (R50, iterative box refinement) state dict with distinct values."""
    shapes: dict[str, tuple[int, ...]] = {}
    for key, value in torchvision.models.resnet50(weights=None).state_dict().items():
        if not key.startswith("fc.") and not key.endswith("num_batches_tracked"):
            shapes[f"backbone.0.body.{key}"] = tuple(value.shape)
    for i, c_in in enumerate((512, 1024, 2048)):
        shapes |= {f"input_proj.{i}.0.weight": (D, c_in, 1, 1), f"input_proj.{i}.0.bias": (D,)}
        shapes |= {f"input_proj.{i}.1.weight": (D,), f"input_proj.{i}.1.bias": (D,)}
    shapes |= {"input_proj.3.0.weight": (D, 2048, 3, 3), "input_proj.3.0.bias": (D,)}
    shapes |= {"input_proj.3.1.weight": (D,), "input_proj.3.1.bias": (D,)}
    shapes["transformer.level_embed"] = (LEVELS, D)
    msda = {
        "sampling_offsets": HEADS * LEVELS * POINTS * 2,
        "attention_weights": HEADS * LEVELS * POINTS,
        "value_proj": D,
        "output_proj": D,
    }
    for n in range(LAYERS):
        for part, prefix in (("self_attn", "encoder"), ("cross_attn", "decoder")):
            for name, out in msda.items():
                shapes[f"transformer.{prefix}.layers.{n}.{part}.{name}.weight"] = (out, D)
                shapes[f"transformer.{prefix}.layers.{n}.{part}.{name}.bias"] = (out,)
        for prefix, norms in (("encoder", (1, 2)), ("decoder", (1, 2, 3))):
            layer = f"transformer.{prefix}.layers.{n}"
            shapes |= {f"{layer}.linear1.weight": (FFN, D), f"{layer}.linear1.bias": (FFN,)}
            shapes |= {f"{layer}.linear2.weight": (D, FFN), f"{layer}.linear2.bias": (D,)}
            for k in norms:
                shapes |= {f"{layer}.norm{k}.weight": (D,), f"{layer}.norm{k}.bias": (D,)}
        attn = f"transformer.decoder.layers.{n}.self_attn"
        shapes |= {f"{attn}.in_proj_weight": (3 * D, D), f"{attn}.in_proj_bias": (3 * D,)}
        shapes |= {f"{attn}.out_proj.weight": (D, D), f"{attn}.out_proj.bias": (D,)}
        shapes |= {f"class_embed.{n}.weight": (91, D), f"class_embed.{n}.bias": (91,)}
        for m, out in enumerate((D, D, 4)):
            shapes[f"bbox_embed.{n}.layers.{m}.weight"] = (out, D)
            shapes[f"bbox_embed.{n}.layers.{m}.bias"] = (out,)
    shapes |= {
        "transformer.reference_points.weight": (2, D),
        "transformer.reference_points.bias": (2,),
    }
    shapes["query_embed.weight"] = (300, 2 * D)
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=generator) for k, s in shapes.items()}
    for key in [k for k in state if k.startswith("bbox_embed.")]:
        state["transformer.decoder." + key] = state[key].clone()  # the refinement aliases
    return state


# Expected source of a target key, spelled independently of the converter's rule table.
ENC, DEC = r"transformer.encoder.layers.\1", r"transformer.decoder.layers.\1"
EXPECTED_RENAMES = [
    (r"^backbone\.(?!.*num_batches_tracked)(.*)$", r"backbone.0.body.\1"),
    (r"^neck\.convs\.(\d)\.conv\.(.*)$", r"input_proj.\1.0.\2"),
    (r"^neck\.convs\.(\d)\.gn\.(.*)$", r"input_proj.\1.1.\2"),
    (r"^neck\.extra_convs\.0\.conv\.(.*)$", r"input_proj.3.0.\1"),
    (r"^neck\.extra_convs\.0\.gn\.(.*)$", r"input_proj.3.1.\1"),
    (r"^level_embed$", "transformer.level_embed"),
    (r"^encoder\.layers\.(\d)\.self_attn\.(.*)$", ENC + r".self_attn.\2"),
    (r"^encoder\.layers\.(\d)\.ffn\.layers\.0\.0\.(.*)$", ENC + r".linear1.\2"),
    (r"^encoder\.layers\.(\d)\.ffn\.layers\.1\.(.*)$", ENC + r".linear2.\2"),
    (r"^encoder\.layers\.(\d)\.norms\.0\.(.*)$", ENC + r".norm1.\2"),
    (r"^encoder\.layers\.(\d)\.norms\.1\.(.*)$", ENC + r".norm2.\2"),
    (r"^decoder\.layers\.(\d)\.self_attn\.attn\.(.*)$", DEC + r".self_attn.\2"),
    (r"^decoder\.layers\.(\d)\.cross_attn\.(.*)$", DEC + r".cross_attn.\2"),
    (r"^decoder\.layers\.(\d)\.ffn\.layers\.0\.0\.(.*)$", DEC + r".linear1.\2"),
    (r"^decoder\.layers\.(\d)\.ffn\.layers\.1\.(.*)$", DEC + r".linear2.\2"),
    (r"^decoder\.layers\.(\d)\.norms\.0\.(.*)$", DEC + r".norm2.\2"),  # after self-attn
    (r"^decoder\.layers\.(\d)\.norms\.1\.(.*)$", DEC + r".norm1.\2"),  # after cross-attn
    (r"^decoder\.layers\.(\d)\.norms\.2\.(.*)$", DEC + r".norm3.\2"),  # after the FFN
    (r"^reg_branches\.(\d)\.0\.(.*)$", r"bbox_embed.\1.layers.0.\2"),
    (r"^reg_branches\.(\d)\.2\.(.*)$", r"bbox_embed.\1.layers.1.\2"),
    (r"^reg_branches\.(\d)\.4\.(.*)$", r"bbox_embed.\1.layers.2.\2"),
]


def expected_source(target: str) -> str | None:
    for pattern, repl in EXPECTED_RENAMES:
        if re.match(pattern, target):
            return re.sub(pattern, repl, target)
    return None


@pytest.fixture(scope="module")
def r50_target() -> dict[str, torch.Tensor]:
    init_default_scope("mmdet")
    model = MODELS.build(Config.fromfile(str(CONFIGS / "motrv2/motrv2_r50_mot17.py")).model)
    return model.state_dict()


def test_every_target_key_is_filled_from_its_source_or_documented_new(r50_target):
    source = reference_state_dict()
    conversion = convert_deformable_detr_weights(source, num_classes=1)
    new = check_against_model(conversion, r50_target)
    converted = conversion.state_dict
    for key, target in r50_target.items():
        if key in converted:
            assert converted[key].shape == target.shape, key
        if key.startswith("cls_branches."):
            # COCO's person row (category id 1) of the 91 logits; MOTRv2's load_model keeps it
            layer, param = re.match(r"cls_branches\.(\d)\.(weight|bias)", key).groups()
            assert torch.equal(converted[key], source[f"class_embed.{layer}.{param}"][1:2]), key
            continue
        if key.endswith("num_batches_tracked"):
            assert int(converted[key]) == 0 if key.startswith("backbone.") else key in new
            continue
        origin = expected_source(key)
        if origin is None:
            assert key in new and any(re.search(p, key) for p in NEW_TARGET_KEYS), key
        else:
            assert torch.equal(converted[key], source[origin]), (key, origin)
    # nothing of the model is left out but the documented new parts
    assert {k.split(".")[0] for k in new} == {
        "detect_content", "detect_boxes", "proposal_content", "denoiser", "qim",
    }  # fmt: skip
    # what the checkpoint holds and MOTRv2 does not use
    dropped = set(conversion.dropped_keys)
    assert {"query_embed.weight", "transformer.reference_points.weight"} <= dropped
    assert sum(k.startswith("transformer.decoder.bbox_embed.") for k in dropped) == 6 * 3 * 2
    assert len(converted) + len(dropped) == len(source) + sum(
        k.startswith("backbone.") and k.endswith("num_batches_tracked") for k in converted
    )


def test_class_rows_for_more_classes_and_refusals():
    source = reference_state_dict()
    two = convert_deformable_detr_weights(source, num_classes=2).state_dict
    assert torch.equal(two["cls_branches.5.bias"], source["class_embed.5.bias"][1:3])
    with pytest.raises(DeformableDETRConversionError, match="1..90"):
        convert_deformable_detr_weights(source, num_classes=91)
    broken = dict(source)
    broken["transformer.decoder.bbox_embed.2.layers.0.bias"] = torch.zeros(D)
    with pytest.raises(DeformableDETRConversionError, match="differs from 'bbox_embed.2"):
        convert_deformable_detr_weights(broken)
    with pytest.raises(DeformableDETRConversionError, match="no rule maps .*'mystery.weight'"):
        convert_deformable_detr_weights({**source, "mystery.weight": torch.zeros(1)})


def test_a_shape_mismatch_or_a_missing_tensor_is_refused(r50_target):
    source = reference_state_dict()
    wide = dict(source, **{"transformer.level_embed": torch.zeros(5, D)})
    with pytest.raises(DeformableDETRConversionError, match=r"level_embed.*\(5, 256\)"):
        check_against_model(convert_deformable_detr_weights(wide), r50_target)
    del source["transformer.encoder.layers.4.norm2.bias"]
    with pytest.raises(DeformableDETRConversionError, match="encoder.layers.4.norms.1.bias"):
        check_against_model(convert_deformable_detr_weights(source), r50_target)


def test_tool_writes_a_load_from_checkpoint_the_runner_loads(tmp_path, capsys):
    src = tmp_path / "r50_deformable_detr_plus_iterative_bbox_refinement-checkpoint.pth"
    # the release's layout: the weights under 'model', beside the training args (a Namespace)
    torch.save(
        {"model": reference_state_dict(), "args": argparse.Namespace(lr=2e-4), "epoch": 49}, src
    )
    spec = importlib.util.spec_from_file_location(
        "deformable_detr_to_motrv2", REPO / "tools/model_converters/deformable_detr_to_motrv2.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "pretrained" / "motrv2_r50_deformable_detr_coco.pth"
    assert tool.main([str(src), str(out)]) == 0
    assert "class rows [1]" in capsys.readouterr().out
    init_default_scope("mmdet")
    model = MODELS.build(Config.fromfile(str(CONFIGS / "motrv2/motrv2_r50_mot17.py")).model)
    load_checkpoint(model, str(out), map_location="cpu", strict=False)  # what load_from runs
    expected = convert_deformable_detr_weights(reference_state_dict()).state_dict
    for key in ("decoder.layers.5.norms.1.weight", "neck.extra_convs.0.conv.bias"):
        assert torch.equal(model.state_dict()[key], expected[key])
    assert tool.main([str(tmp_path / "absent.pth"), str(out)]) == 1
    assert "absent.pth" in capsys.readouterr().err


def _paper_scale(path: Path) -> bool:
    return "synthetic" not in path.name and "yolox" not in path.name


ALL = sorted((CONFIGS / "motrv2").glob("*.py")) + sorted((CONFIGS / "vsd_mot").glob("*.py"))
COCO_START = "checkpoints/pretrained/motrv2_r50_deformable_detr_coco.pth"


@pytest.mark.parametrize("path", [p for p in ALL if "yolox" not in p.name], ids=lambda p: p.stem)
def test_paper_configs_start_from_coco_deformable_detr_and_synthetic_ones_say_none(path):
    cfg = Config.fromfile(str(path))
    if _paper_scale(path):
        assert cfg.load_from == COCO_START
    else:
        assert cfg.load_from is None  # explicit, with the reason in the config
        assert "load_from = None" in path.read_text()


def test_a_missing_coco_start_stops_loading_with_its_path(tmp_path, monkeypatch):
    cfg = Config.fromfile(str(CONFIGS / "vsd_mot/motrv2_r50_lqmot-mot-2to1.py"))
    monkeypatch.chdir(tmp_path)  # the relative path of the config resolves to nothing here
    with pytest.raises(FileNotFoundError, match="motrv2_r50_deformable_detr_coco.pth"):
        load_checkpoint(torch.nn.Linear(1, 1), cfg.load_from, map_location="cpu")
