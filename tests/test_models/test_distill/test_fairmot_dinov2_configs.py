"""Every configs/fairmot_dinov2 config builds, trains one iteration and tracks one frame.

Tiny inputs: HRNetV2-W18 with one block per stage (same widths, same 270-channel neck), a
one-block DINOv2 of the configured width with random weights (allowed here only), 32x64 frames.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from distill_testing import REPO_ROOT
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData

import mmdistillmot.models.dense_heads.fairmot_head  # noqa: F401
import mmdistillmot.models.mot.fairmot  # noqa: F401
import mmdistillmot.models.necks.hrnet_upsample_concat  # noqa: F401
import mmdistillmot.models.trackers.jde_tracker  # noqa: F401

FAIRMOT_BASE = REPO_ROOT / "configs" / "fairmot" / "fairmot_hrnetv2-w18_mot17-half.py"

CONFIGS = sorted((REPO_ROOT / "configs" / "fairmot_dinov2").glob("*.py"))
REDUCED_HRNET = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,),
                num_channels=(16,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1),
                num_channels=(18, 36)),
    stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1),
                num_channels=(18, 36, 72)),
    stage4=dict(num_modules=1, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1),
                num_channels=(18, 36, 72, 144)),
)  # fmt: skip


def _tiny_fairmot(student: dict) -> None:
    student["backbone"]["extra"] = copy.deepcopy(REDUCED_HRNET)
    student["bbox_head"]["num_identities"] = 4
    student["bbox_head"]["feat_channels"] = 32


def _tiny_model_cfg(path: Path) -> Config:
    cfg = Config.fromfile(str(path))
    model = cfg.model
    if model.type == "FeatureDistiller":
        _tiny_fairmot(model.student)
        # the configured width (and so the connectors' channels), one block, random weights
        model.teacher.update(weights=None, allow_random_init=True, model_kwargs=dict(depth=1))
    else:
        _tiny_fairmot(model)
    return cfg


def _sample(frame_id: int, boxes: list[list[float]], ids: list[int]) -> TrackDataSample:
    frame = DetDataSample(
        metainfo=dict(img_shape=(32, 64), ori_shape=(32, 64), scale_factor=(1.0, 1.0),
                      frame_id=frame_id, img_id=frame_id, video_id=0, video_length=2)
    )  # fmt: skip
    frame.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes).reshape(-1, 4),
        labels=torch.zeros(len(boxes), dtype=torch.long),
        instances_ids=torch.tensor(ids, dtype=torch.long),
    )
    track = TrackDataSample()
    track.video_data_samples = [frame]
    return track


def _frames(n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    frames = []
    for _ in range(n):
        img = torch.randint(0, 60, (1, 3, 32, 64), generator=gen, dtype=torch.uint8)
        img[:, :, 4:30, 8:20] = 220  # a bright "person"
        frames.append(img)
    return frames


# several seconds each on a shared 2-core machine: HRNet's convolutions dominate
@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_one_iteration_and_tracks_one_frame(path: Path) -> None:
    torch.manual_seed(0)
    cfg = _tiny_model_cfg(path)
    model = MODELS.build(cfg.model)
    is_distiller = cfg.model.type == "FeatureDistiller"
    optim = OptimWrapper(
        torch.optim.Adam(model.parameters(), lr=float(cfg.optim_wrapper.optimizer.lr))
    )
    model.train()
    data = dict(
        inputs=_frames(2),
        data_samples=[_sample(0, [[8.0, 4.0, 20.0, 30.0]], [0]), _sample(0, [], [])],
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(log_vars["loss"])
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("student.backbone.") or k.startswith("backbone.") for k in changed)
    if is_distiller:
        assert {"student.loss_hm", "distill.loss_dinov2"} <= set(log_vars)
        assert not any(k.startswith("teacher.") for k in changed)
        assert any(k.startswith("connectors.") for k in changed)
        assert not model.teacher.training and model.student.training

    model.eval()
    with torch.no_grad():
        (result,) = model.test_step(dict(inputs=_frames(1), data_samples=[_sample(0, [], [])]))
    frame = result.video_data_samples[0]
    assert "pred_track_instances" in frame


def test_distilled_student_is_the_baseline_network() -> None:
    """Same parameters as the plain FairMOT config: the distillation adds nothing to deploy."""
    main = _tiny_model_cfg(REPO_ROOT / "configs/fairmot_dinov2/fairmot_dinov2-base_mot17-half.py")
    baseline = Config.fromfile(str(FAIRMOT_BASE))
    _tiny_fairmot(baseline.model)
    distiller = MODELS.build(main.model)
    plain = MODELS.build(baseline.model)
    assert [(k, v.shape) for k, v in distiller.student.state_dict().items()] == [
        (k, v.shape) for k, v in plain.state_dict().items()
    ]


def test_half_and_full_mot17_share_one_distiller_block() -> None:
    """The MOT17 half and full configs wrap their FairMOT student in the same distiller.

    The block lives once, in ``_base_/dinov2-base_cosine_distiller.py``; each config's model
    is that block around its own FairMOT base's model, unchanged.
    """
    shared = Config.fromfile(
        str(REPO_ROOT / "configs/fairmot_dinov2/_base_/dinov2-base_cosine_distiller.py")
    ).dinov2_base_distiller.to_dict()
    for name, fairmot in [
        ("fairmot_dinov2-base_mot17-half.py", "fairmot_hrnetv2-w18_mot17-half.py"),
        ("fairmot_dinov2-base_mot17.py", "fairmot_hrnetv2-w18_mot17.py"),
    ]:
        model = Config.fromfile(str(REPO_ROOT / "configs/fairmot_dinov2" / name)).model.to_dict()
        student = model.pop("student")
        assert model == shared, name
        plain = Config.fromfile(str(REPO_ROOT / "configs/fairmot" / fairmot)).model.to_dict()
        assert student == plain, name
