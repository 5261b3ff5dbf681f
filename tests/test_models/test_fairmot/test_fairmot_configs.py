"""Every FairMOT config builds, trains one iteration and tracks one frame on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch
from fairmot_testing import FAIRMOT_CONFIGS, REDUCED_HRNET_EXTRA
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmdistillmot.utils.config_check import check_config_types


def _shrink_pipeline(pipeline: list) -> None:
    """Letterbox to 128x64 (instead of 1088x608) inside every (nested) pipeline step."""
    for step in pipeline:
        if step.get("type") == "Letterbox":
            step["scale"] = (128, 64)
        if "transforms" in step:
            _shrink_pipeline(step["transforms"])


def _dataset(cfg_dataset: dict, root, split: str):
    cfg_dataset = cfg_dataset.copy()
    cfg_dataset.update(
        data_root=str(root), ann_file=f"annotations/{split}_cocoformat.json",
        data_prefix=dict(img_path=""),
    )  # fmt: skip
    _shrink_pipeline(cfg_dataset["pipeline"])
    return DATASETS.build(cfg_dataset)


def test_every_fairmot_config_is_found() -> None:
    names = {path.name for path in FAIRMOT_CONFIGS}
    assert {"fairmot_hrnetv2-w18_mot17.py", "fairmot_hrnetv2-w18_mot17-half.py",
            "fairmot_hrnetv2-w18_synthetic.py"} <= names  # fmt: skip


def _train_and_track(cfg: Config, root, full_backbone: bool) -> None:
    """One training iteration and one tracked frame of ``cfg`` on the tiny videos."""
    cfg.model.bbox_head.num_identities = 4  # the tiny videos hold identities 0..3
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    num_params = sum(p.numel() for p in model.parameters())
    # HRNetV2-W18 + neck + heads + 4-way classifier + s_det, s_id: the same for every config.
    assert 12_000_000 < num_params < 12_200_000, num_params
    if not full_backbone:  # W18 widths (270-channel neck) at a fraction of the depth
        cfg.model.backbone.extra = REDUCED_HRNET_EXTRA
        model = MODELS.build(cfg.model)

    train_set = _dataset(cfg.train_dataloader.dataset, root, "train")
    batch = pseudo_collate([train_set[(0, 1)], train_set[(1, 2)]])
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    # FairMOT trains BatchNorm: mmdet's HRNet would keep it frozen (norm_eval=True).
    assert all(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    log_vars = model.train_step(batch, optim_wrapper)
    assert math.isfinite(float(log_vars["loss"]))
    assert {"loss_hm", "loss_wh", "loss_reg", "loss_id", "loss_uncertainty"} <= set(log_vars)

    val_cfg = cfg.val_dataloader.dataset
    val_set = _dataset(val_cfg, root, "val")
    model.eval()
    with torch.no_grad():
        outputs = model.test_step(pseudo_collate([val_set[(0, 0)]]))
    frame = outputs[0].video_data_samples[0]
    assert frame.metainfo["frame_id"] == 0 and "letterbox_offset" in frame.metainfo
    assert {"bboxes", "scores", "instances_id"} <= set(frame.pred_track_instances.keys())
    assert frame.pred_instances.embeddings.shape[1:] == (128,)


@pytest.mark.parametrize("config", FAIRMOT_CONFIGS, ids=lambda p: p.stem)
def test_config_trains_one_iteration_and_tracks_one_frame(config, tiny_mot_root) -> None:
    cfg = Config.fromfile(str(config))
    check_config_types(cfg)
    assert cfg.model.neck.type == "HRNetUpsampleConcat" and cfg.model.bbox_head.in_channels == 270
    assert cfg.optim_wrapper.optimizer.type == "Adam"
    _train_and_track(cfg, tiny_mot_root, full_backbone=False)


@pytest.mark.slow
def test_full_hrnet_w18_config_trains_one_iteration(tiny_mot_root) -> None:
    config = next(p for p in FAIRMOT_CONFIGS if p.name == "fairmot_hrnetv2-w18_mot17-half.py")
    _train_and_track(Config.fromfile(str(config)), tiny_mot_root, full_backbone=True)


IMAGENET_HRNET = "checkpoints/imagenet/hrnetv2_w18-00eb2006.pth"
REPO = FAIRMOT_CONFIGS[0].parents[2]


def _students() -> list[tuple[str, dict]]:
    """(config name, student model dict) of every FairMOT and FairMOT+DINOv2 config."""
    paths = list(FAIRMOT_CONFIGS) + sorted((REPO / "configs" / "fairmot_dinov2").glob("*.py"))
    students = []
    for path in paths:
        model = Config.fromfile(str(path)).model
        students.append((path.name, model.student if model.type == "FeatureDistiller" else model))
    return students


def test_mot17_students_start_from_imagenet_hrnet_and_synthetic_ones_say_random() -> None:
    """Issue 14 item 2: no FairMOT student trains from random init unless the config says so."""
    for name, student in _students():
        init = student.backbone.init_cfg
        if "synthetic" in name:
            assert init is None, name  # explicit, with the reason in the config
        else:
            assert init.type == "Pretrained" and init.checkpoint == IMAGENET_HRNET, name


def test_a_missing_imagenet_file_stops_init_with_its_path(tmp_path) -> None:  # noqa: ANN001
    cfg = Config.fromfile(str(next(p for p in FAIRMOT_CONFIGS if "half" in p.name)))
    cfg.model.backbone.extra = REDUCED_HRNET_EXTRA
    missing = tmp_path / "hrnetv2_w18-00eb2006.pth"
    cfg.model.backbone.init_cfg.checkpoint = str(missing)
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match="hrnetv2_w18-00eb2006.pth"):
        model.init_weights()
