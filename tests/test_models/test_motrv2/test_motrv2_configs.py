"""The MOTRv2 configs: reference settings, full-size build + one iteration, synthetic end to end."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, build_tiny, make_clip, shrink_motrv2
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

CONFIGS = REPO_ROOT / "configs" / "motrv2"
TRACK_CONFIGS = ["motrv2_r50_mot17.py", "motrv2_r50_dancetrack.py", "motrv2_r50_synthetic.py"]


def _cfg(name: str) -> Config:
    init_default_scope("mmdet")
    return Config.fromfile(str(CONFIGS / name))


@pytest.mark.parametrize("name", TRACK_CONFIGS)
def test_reference_settings(name):
    cfg = _cfg(name)
    model = cfg.model
    assert cfg.default_scope == "mmdet"
    assert cfg.custom_imports == dict(imports=["mmdistillmot"], allow_failed_imports=False)
    assert model.type == "MOTRv2" and model.num_queries == 10 and model.query_denoise == 0.05
    assert model.backbone.depth == 50 and model.backbone.out_indices == (1, 2, 3)
    assert model.neck.num_outs == 4 and model.neck.norm_cfg == dict(type="GN", num_groups=32)
    assert model.positional_encoding == dict(num_feats=128, normalize=True, offset=-0.5)
    for part in (model.encoder, model.decoder):
        assert part.num_layers == 6 and part.layer_cfg.ffn_cfg.feedforward_channels == 1024
    deform = model.decoder.layer_cfg.cross_attn_cfg
    assert (deform.embed_dims, deform.num_heads, deform.num_levels, deform.num_points) == (
        256, 8, 4, 4,
    )  # fmt: skip
    assert [c.weight for c in model.criterion.assigner.match_costs] == [2.0, 5.0, 2.0]
    assert model.criterion.loss_cls.alpha == 0.25 and model.criterion.loss_cls.gamma == 2.0
    assert (model.tracker.init_score_thr, model.tracker.miss_tolerance) == (0.5, 20)
    assert (model.tracker.output_score_thr, model.tracker.min_area) == (0.5, 100)
    optim = cfg.optim_wrapper
    assert optim.optimizer == dict(type="AdamW", lr=2e-4, weight_decay=1e-4)
    assert optim.clip_grad == dict(max_norm=0.1, norm_type=2)
    keys = optim.paramwise_cfg.custom_keys
    assert keys.backbone.lr_mult == keys.sampling_offsets.lr_mult == 0.1
    assert cfg.train_cfg.max_epochs == 5 and cfg.param_scheduler[0].milestones == [4]
    sample = cfg.train_pipeline[0]
    assert (sample.num_frames, sample.min_step, sample.max_step) == (5, 1, 11)
    assert cfg.train_pipeline[1].share_random_params is True
    assert cfg.train_dataloader.batch_size == 1
    if name != "motrv2_r50_synthetic.py":
        assert model.backbone.frozen_stages == 1 and model.backbone.norm_cfg.requires_grad is False
        shorts = [s for _, s in cfg.train_scales]
        assert shorts == list(range(608, 993, 32)) and {w for w, _ in cfg.train_scales} == {1536}
        assert cfg.test_scale == (1536, 800)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "params_m"),
    [
        ("motrv2_r50_mot17.py", 41.93),  # the VSD paper's MOTRv2: 41.9 M
        ("motrv2_r50_synthetic.py", 41.93),  # GN has as many parameters as BN
        ("motrv2_r18_synthetic_cpu.py", 13.46),
    ],
)
def test_configs_train_and_track_on_tiny_frames(name, params_m):
    # behaviour only; the time of this build + clip is measured by
    # tools/analysis/benchmark_motrv2_clip.py (same clip), not asserted
    cfg = _cfg(name)
    model = build_tiny(cfg.model)
    params = sum(p.numel() for p in model.parameters())
    assert params / 1e6 == pytest.approx(params_m, abs=0.01)
    inputs, samples = make_clip(num_frames=2, height=64, width=96)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    losses = model(**data, mode="loss")
    assert all(torch.isfinite(v) for v in losses.values())
    assert {"loss_cls", "d0.loss_cls", "d1.loss_cls", "dn_loss_bbox"} <= set(losses)
    sum(losses.values()).backward()
    model.eval()
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=False)
    (result,) = model(**data, mode="predict")
    assert all("pred_track_instances" in result[t] for t in range(2))


def test_cpu_variant_keeps_the_mechanisms_and_shrinks_the_sizes():
    cfg = _cfg("motrv2_r18_synthetic_cpu.py")
    model = cfg.model
    assert model.backbone.depth == 18 and model.decoder.layer_cfg.ffn_cfg.embed_dims == 128
    assert (model.encoder.num_layers, model.decoder.num_layers) == (2, 3)
    assert model.num_queries == 10 and model.query_denoise == 0.05
    assert model.qim.type == "QIMv2" and model.criterion.type == "ClipMatcher"
    assert cfg.train_pipeline[0].num_frames == 3 and cfg.train_pipeline[0].max_step == 11
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert cfg.train_cfg == dict(type="IterBasedTrainLoop", max_iters=300, val_interval=300)


def _synthetic(root: Path) -> Path:
    from mmdistillmot.datasets.synthetic import SyntheticMOTConfig, generate_synthetic_mot

    generate_synthetic_mot(
        root,
        SyntheticMOTConfig(
            seed=0, num_train=1, num_val=1, frames=4, width=160, height=96, reid=None
        ),
        progress=False,
    )
    tool = REPO_ROOT / "tools" / "dataset_converters" / "make_det_db.py"
    spec = importlib.util.spec_from_file_location("make_det_db", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (
        module.main(["det-txt", str(root / "train"), str(root / "val"), str(root / "det.json")])
        == 0
    )
    return root


def _point_to(pipeline: list, det_db: str) -> list:
    pipeline = copy.deepcopy(pipeline)
    for step in pipeline:
        for inner in step.get("transforms", []):
            if inner["type"] == "LoadDetDBProposals":
                inner["det_db"] = det_db
    return pipeline


@pytest.mark.slow
def test_synthetic_config_trains_and_tests_end_to_end(tmp_path):
    from mmdet.registry import DATASETS
    from mmengine.evaluator import Evaluator
    from mmengine.optim import build_optim_wrapper

    root = _synthetic(tmp_path / "synthetic_mot")
    cfg = _cfg("motrv2_r50_synthetic.py")
    det_db = str(root / "det.json")
    # training: the config's dataset and pipeline, on the tiny generated copy
    train_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    train_cfg.update(data_root=str(root), pipeline=_point_to(cfg.train_pipeline, det_db))
    train_set = DATASETS.build(train_cfg)
    model = build_tiny(shrink_motrv2(cfg.model))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    np.random.seed(0)  # noqa: NPY002  (mmcv transforms draw from the global state)
    batch = pseudo_collate([train_set.prepare_data((0, 0))])
    clip = batch["data_samples"][0]
    assert len(clip) == 5 and all("det_proposals" in clip[t] for t in range(5))
    before = model.detect_content.weight.detach().clone()
    log = model.train_step(batch, optim)
    assert all(np.isfinite(float(v)) for v in log.values())
    assert not torch.equal(before, model.detect_content.weight)

    # testing: frame by frame (TrackImgSampler order) into mmdet's MOTChallengeMetric
    val_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    val_cfg.update(data_root=str(root), pipeline=_point_to(cfg.test_pipeline, det_db))
    val_set = DATASETS.build(val_cfg)
    evaluator = Evaluator(copy.deepcopy(cfg.val_evaluator))
    evaluator.dataset_meta = val_set.metainfo
    model.eval()
    num_frames = val_set.get_len_per_video(0)
    for frame in range(num_frames):
        batch = pseudo_collate([val_set.prepare_data((0, frame))])
        evaluator.process(data_samples=model.val_step(batch), data_batch=batch)
    results = evaluator.evaluate(size=num_frames)
    assert {"motchallenge-metric/HOTA", "motchallenge-metric/MOTA"} <= set(results)
