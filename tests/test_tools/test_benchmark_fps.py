"""tools/analysis/benchmark_fps.py: argument handling, parameter counting, an end-to-end run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from torch import nn

REPO = Path(__file__).resolve().parents[2]


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "benchmark_fps", REPO / "tools" / "analysis" / "benchmark_fps.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


class _Toy(nn.Module):
    """A toy with every case of the parameter count.

    A used conv (10 + 2 params), a query table read as .weight (3 x 4), a never-called
    training-only head (5 x 2 + 2), a frozen submodule that runs (4 + 1) and a bare parameter.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=(5, 1))  # 2*1*5*1 + 2 = 12
        self.queries = nn.Embedding(3, 4)  # 12, read as a table
        self.train_head = nn.Linear(5, 2)  # 12, never called at inference
        self.frozen = nn.Linear(4, 1)  # 5
        self.frozen.requires_grad_(False)
        self.scale = nn.Parameter(torch.ones(1))  # 1, used by forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x).mean() * self.scale
        return self.frozen(self.queries.weight).sum() + feat


def test_parameter_counts_follow_what_runs() -> None:
    toy = _Toy()
    ran: set[nn.Module] = set()
    hooks = [m.register_forward_pre_hook(lambda m, _a: ran.add(m)) for m in toy.modules()]
    toy(torch.zeros(1, 1, 5, 1))
    for hook in hooks:
        hook.remove()
    counts = tool.count_parameters(toy, ran)
    assert counts["total"] == 12 + 12 + 12 + 5 + 1
    assert counts["trainable"] == 12 + 12 + 12 + 1
    # the training-only head does not run; the table read by a module that ran does count
    assert counts["inference"] == 12 + 12 + 5 + 1


def test_split_models_pairs_checkpoints_with_configs(tmp_path: Path) -> None:
    files = {}
    for name in ("a.py", "a.pth", "b.py", "c.py", "c.pt"):
        files[name] = tmp_path / name
        files[name].write_text("")
    pairs = tool.split_models([str(files[n]) for n in ("a.py", "a.pth", "b.py", "c.py", "c.pt")])
    assert pairs == [
        (str(files["a.py"]), str(files["a.pth"])),
        (str(files["b.py"]), None),
        (str(files["c.py"]), str(files["c.pt"])),
    ]
    with pytest.raises(tool.BenchmarkError, match="does not follow a config"):
        tool.split_models([str(files["a.pth"]), str(files["b.py"])])
    with pytest.raises(tool.BenchmarkError, match="at least two"):
        tool.split_models([str(files["a.py"])])
    with pytest.raises(tool.BenchmarkError, match="does not exist"):
        tool.split_models([str(files["a.py"]), str(tmp_path / "missing.py")])


def test_options_apply_only_where_the_parent_exists() -> None:
    cfg = Config(dict(model=dict(type="TDT", detector=dict(test_cfg=dict(score_thr=0.05)))))
    applied = tool.apply_options(
        cfg, {"model.detector.test_cfg.score_thr": 0.0, "model.reid.arch": "osnet_x1_0"}
    )
    assert applied == ["model.detector.test_cfg.score_thr"]
    assert cfg.model.detector.test_cfg.score_thr == 0.0
    assert "reid" not in cfg.model


def test_find_frames_reads_a_mot_sequence(tmp_path: Path) -> None:
    (tmp_path / "img1").mkdir()
    for i in (2, 1, 3):
        Image.new("RGB", (8, 8)).save(tmp_path / "img1" / f"{i:06d}.jpg")
    frames = tool.find_frames(str(tmp_path), 2)
    assert [Path(f).name for f in frames] == ["000001.jpg", "000002.jpg"]
    with pytest.raises(tool.BenchmarkError, match="has 3"):
        tool.find_frames(str(tmp_path), 5)


@pytest.mark.slow
def test_one_stage_vs_two_stage_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The demo's TDT and two-stage configs on three frames: counts, ratio and crops per frame."""
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        pixels = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(frames / f"{i + 1:06d}.jpg")
    one = REPO / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py"
    two = REPO / "configs" / "tdt" / "two-stage_r18_fpn_osnet_synthetic.py"
    out = tmp_path / "fps.json"
    argv = [str(one), str(two), "--frames", str(frames), "--warmup", "1", "--out", str(out)]
    argv += ["--random-init-teachers", "--cfg-options", "model.detector.test_cfg.score_thr=0"]
    argv += ["model.detector.test_cfg.max_per_img=4", "model.tracker.obj_score_thr=0"]
    argv += ["model.reid.crop_size=(64,32)", "model.reid.precision=fp32"]
    assert tool.main(argv) == 0
    printed = capsys.readouterr().out
    assert "RANDOM-WEIGHT TEACHERS" in printed and "no checkpoint" in printed
    result = json.loads(out.read_text())
    first, second = result["models"]
    assert result["frames"] == 3
    assert first["fps"] > 0 and second["fps"] > 0
    assert second["fps_ratio_first_over_this"] == pytest.approx(first["fps"] / second["fps"])
    # the reid options reached the two-stage config only
    assert any("model.reid.crop_size" in note for note in second["notes"])
    assert not any("model.reid" in note for note in first["notes"])
    # the two-stage tracker embedded exactly the forced 4 detections of every frame
    assert second["detections_per_frame"] == 4.0
    # independent counts: build the same models and sum their parameters
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet")
    tdt = MODELS.build(Config.fromfile(str(one)).model)
    total = sum(p.numel() for p in tdt.parameters())
    assert first["params"]["total"] == total
    assert first["params"]["inference"] == total  # every part of the one-stage model runs
    two_cfg = Config.fromfile(str(two)).model
    two_cfg.reid.update(weights=None, allow_random_init=True)
    two_stage = MODELS.build(two_cfg)
    reid_params = sum(p.numel() for p in two_stage.reid.parameters())
    assert second["params"]["total"] == sum(p.numel() for p in two_stage.parameters())
    assert second["params"]["trainable"] == second["params"]["total"] - reid_params  # frozen
    assert second["params"]["inference"] == second["params"]["total"]  # the Re-ID net runs


@pytest.mark.slow
def test_motrv2_vs_vsd_mot_with_det_db_proposals(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """MOTRv2 and VSD-MOT read the same capped det-db proposals; the CLIP teacher never runs."""
    frames = tmp_path / "seq" / "img1"
    frames.mkdir(parents=True)
    rng = np.random.default_rng(0)
    det_db = {}
    for i in range(3):
        pixels = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(frames / f"{i + 1:06d}.jpg")
        # five proposals per frame (x, y, w, h, score); --max-proposals keeps the best three
        det_db[f"seq/img1/{i + 1:06d}.jpg"] = [
            f"{10 + 20 * k},{10 + 5 * k},16,40,{0.9 - 0.1 * k:.1f}" for k in range(5)
        ]
    db_file = tmp_path / "det_db.json"
    db_file.write_text(json.dumps(det_db))
    base = REPO / "configs" / "vsd_mot" / "motrv2_r18_synthetic-lq_cpu.py"
    vsd = REPO / "configs" / "vsd_mot" / "vsd-mot_r18_dcsd-dswr_synthetic-lq_cpu.py"
    out = tmp_path / "fps.json"
    argv = [str(base), str(vsd), "--frames", str(tmp_path / "seq"), "--warmup", "1"]
    argv += ["--random-init-teachers", "--det-db", str(db_file), "--max-proposals", "3"]
    argv += ["--out", str(out)]
    assert tool.main(argv) == 0
    assert "RANDOM-WEIGHT TEACHERS (speed only, outputs meaningless): CLIPTeacher" in (
        capsys.readouterr().out
    )
    first, second = json.loads(out.read_text())["models"]
    assert first["proposals_per_frame"] == second["proposals_per_frame"] == 3.0
    # independent counts from the built models
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from mmdistillmot.models.mot.vsd.vsd_mot import DeferredTeacher

    init_default_scope("mmdet")
    motrv2 = MODELS.build(Config.fromfile(str(base)).model)
    vsd_cfg = Config.fromfile(str(vsd)).model
    vsd_cfg.teacher.update(weights=None, allow_random_init=True)
    vsd_mot = MODELS.build(vsd_cfg)

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert first["params"]["total"] == count(motrv2)
    assert second["params"]["total"] == count(vsd_mot)
    refiner = count(vsd_mot.student.query_refiner)
    # the CLIP teacher is deferred to the first training step: a benchmark never builds it,
    # so what only training uses is the DCSD projection
    assert isinstance(vsd_mot.teacher, DeferredTeacher) and not vsd_mot.teacher.built
    training_only = count(vsd_mot) - count(vsd_mot.student)
    assert 0 < training_only < 1_000_000
    assert count(vsd_mot.teacher.build()) > 38_000_000  # CLIP RN50's image tower is 38.3 M
    # what runs at inference: the baseline's parts plus the VSD student and DSWR, no teacher
    assert second["params"]["inference"] - first["params"]["inference"] == refiner
    assert second["params"]["inference"] <= second["params"]["total"] - training_only
