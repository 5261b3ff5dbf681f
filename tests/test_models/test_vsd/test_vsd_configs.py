"""Every configs/vsd_mot config: the paper's settings, one training iteration, tracking 2 frames.

Tiny inputs: the configured model with ResNet-18, one encoder and one decoder layer of width
32, a tiny VSD student, and a tiny CLIP ResNet with random weights (allowed here only), on a
2-frame clip of 64x96 frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.optim import OptimWrapper
from vsd_testing import (
    EMBED,
    REPO_ROOT,
    TEACHER_DIM,
    TINY_CLIP,
    register_vsd_modules,
    shrink_motrv2,
    two_frame_clip,
)

CONFIG_DIR = REPO_ROOT / "configs" / "vsd_mot"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def shrink(cfg: Config) -> ConfigDict:
    """The config's model at test size (same structure, tiny widths, random tiny CLIP)."""
    model = cfg.model
    if model.type != "VSDMOT":
        return shrink_motrv2(model)
    shrink_motrv2(model.student)
    model.student.query_refiner.student.update(
        in_dim=EMBED, out_dim=EMBED, hidden_dim=16, num_heads=2, ffn_dim=32
    )
    model.teacher = ConfigDict(TINY_CLIP)
    model.distill_loss.update(student_dim=EMBED, teacher_dim=TEACHER_DIM)
    return model


def test_every_config_is_listed():
    names = {p.name for p in CONFIGS}
    for dataset in ("lqmot-mot", "lqdancetrack-dancetrack"):
        for row in ("motrv2_r50", "vsd-mot_r50_clip-distill", "vsd-mot_r50_dcsd"):
            assert f"{row}_{dataset}-2to1.py" in names
        assert f"vsd-mot_r50_dcsd-dswr_{dataset}-2to1.py" in names
    for mix in ("all-hq", "1to1", "all-lq"):
        assert f"vsd-mot_r50_dcsd-dswr_lqmot-mot-{mix}.py" in names
    for alpha in ("0.2", "0.5", "0.6"):  # Table VII's 0.4 row is the main config
        assert f"vsd-mot_r50_dcsd-dswr_alpha{alpha}_lqmot-mot-2to1.py" in names
    for row in (
        "motrv2_r50",
        "vsd-mot_r50_clip-distill",
        "vsd-mot_r50_dcsd",
        "vsd-mot_r50_dcsd-dswr",
    ):
        assert f"{row}_lqmot-mot-2to1_crowdhuman-joint.py" in names  # Table V, one recipe
    for row in ("motrv2_r50", "vsd-mot_r50_dcsd-dswr"):  # Tables I-II
        assert f"{row}_lqdancetrack-dancetrack-2to1_crowdhuman-joint.py" in names


def test_the_papers_settings():
    cfg = load("vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py")
    model = cfg.model
    assert model.type == "VSDMOT" and model.alpha == 0.4  # Table VII's row of the published numbers
    assert model.student.type == "MOTRv2" and model.student.num_queries == 10
    student = model.student.query_refiner.student
    assert (student.in_dim, student.out_dim, student.num_layers) == (256, 256, 3)
    assert model.student.query_refiner.fusion.type == "DSWR"
    assert model.teacher.type == "CLIPTeacher" and model.teacher.arch == "RN50-quickgelu"
    assert not model.teacher.get("allow_random_init", False)
    loss = model.distill_loss
    assert (loss.type, loss.teacher_dim, loss.student_dim, loss.tau) == ("DCSDLoss", 1024, 256, 2.0)
    assert loss.dual_constraint and loss.learnable_weights
    # 60 epochs, lr 2e-4 / 10 from epoch 40; 5-frame clips with a step of 1..10
    assert cfg.train_cfg.max_epochs == 60 and cfg.param_scheduler[0].milestones == [40]
    assert cfg.optim_wrapper.optimizer.lr == 2e-4
    sample = cfg.train_dataloader.dataset.pipeline[0]
    assert (sample.num_frames, sample.min_step, sample.max_step) == (5, 1, 10)
    hsv = [t.type for t in cfg.train_dataloader.dataset.pipeline[1].transforms]
    assert "YOLOXHSVRandomAug" in hsv and "MOTRRandomSelect" in hsv  # MOTRv2's MOTHSV, crop
    assert cfg.train_dataloader.dataset.ann_file.endswith("train_lq2-hq1_cocoformat.json")
    assert cfg.val_dataloader.dataset.ann_file.endswith("val_lq_cocoformat.json")
    assert {"type": "DistillHook"} in cfg.custom_hooks

    dance = load("vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1.py")
    assert dance.train_cfg.max_epochs == 10 and dance.param_scheduler[0].milestones == [5]
    assert dance.train_dataloader.dataset.data_root == "data/lqdancetrack_dancetrack/"
    transforms = [t.type for t in dance.train_dataloader.dataset.pipeline[1].transforms]
    assert transforms == hsv  # MOTRv2's clip augmentation on both mixes


def test_ablation_rows_mixes_and_alphas():
    plain = load("vsd-mot_r50_clip-distill_lqmot-mot-2to1.py").model
    assert not plain.distill_loss.dual_constraint and plain.student.query_refiner.fusion is None
    dcsd = load("vsd-mot_r50_dcsd_lqmot-mot-2to1.py").model
    assert dcsd.distill_loss.dual_constraint and dcsd.student.query_refiner.fusion is None
    baseline = load("motrv2_r50_lqmot-mot-2to1.py").model
    assert baseline.type == "MOTRv2" and baseline.query_refiner is None
    mixes = {"all-hq": "train_hq", "1to1": "train_lq1-hq1", "all-lq": "train_lq"}
    for mix, ann in mixes.items():
        cfg = load(f"vsd-mot_r50_dcsd-dswr_lqmot-mot-{mix}.py")
        assert cfg.train_dataloader.dataset.ann_file == f"annotations/{ann}_cocoformat.json"
    for alpha in (0.2, 0.5, 0.6):
        assert load(f"vsd-mot_r50_dcsd-dswr_alpha{alpha}_lqmot-mot-2to1.py").model.alpha == alpha


def test_the_student_taps_the_decoder_input_except_in_the_post_decoder_ablation():
    # the paper's Fig. 2 / 4: query vectors going into the decoder (MOTRv2's default)
    main = load("vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py").model.student
    assert main.get("query_refiner_position", "pre_decoder") == "pre_decoder"
    post = load("vsd-mot_r50_dcsd-dswr_post-decoder_lqmot-mot-2to1.py")
    assert post.model.student.query_refiner_position == "post_decoder"
    # otherwise the main LQMOT config
    main_cfg = load("vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py")
    post.model.student.pop("query_refiner_position")
    assert post.model == main_cfg.model
    assert post.train_dataloader == main_cfg.train_dataloader


# a few seconds each on a shared 2-core machine
@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_one_iteration_and_tracks(path: Path):
    register_vsd_modules()
    cfg = Config.fromfile(str(path))
    torch.manual_seed(0)
    model = MODELS.build(shrink(cfg))
    model.init_weights()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log_vars = model.train_step(two_frame_clip(), optim)
    assert torch.isfinite(log_vars["loss"])
    changed = {k for k in before if not torch.equal(before[k], model.state_dict()[k])}
    if cfg.model.type == "VSDMOT":
        assert "distill.loss_dcsd" in log_vars and "student.loss_cls" in log_vars
        assert any(k.startswith("student.query_refiner.student.") for k in changed)
        assert any(k.startswith("distill_losses.dcsd.") for k in changed)
        assert not any(k.startswith("teacher.") for k in changed)
        has_dswr = cfg.model.student.query_refiner.fusion is not None
        assert ("student.vsd_semantic_weight" in log_vars) == has_dswr
    else:
        assert "loss_cls" in log_vars
    model.eval()
    with torch.no_grad():
        (result,) = model.test_step(two_frame_clip(seed=1))
    assert all("pred_track_instances" in result[t] for t in range(len(result)))


@pytest.mark.slow
def test_full_size_parameter_budget():
    """The deployed VSD-MOT adds the student (0.73 M) and DSWR (2) to MOTRv2 (Table VIII)."""
    register_vsd_modules()
    vsd_cfg = load("vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py").model
    vsd_cfg.teacher.update(weights=None, allow_random_init=True)
    vsd = MODELS.build(vsd_cfg)
    baseline = MODELS.build(load("motrv2_r50_lqmot-mot-2to1.py").model)

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(vsd.student) - count(baseline) == 726_528 + 2
    assert count(vsd.teacher) == 0  # built at the first training step, never for testing
    assert count(vsd.teacher.build()) > 38_000_000  # CLIP RN50's image tower: training only
