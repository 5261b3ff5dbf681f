"""Tiny VSD-MOT models and 2-frame clips for the VSD tests (CPU, a few seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData

REPO_ROOT = Path(__file__).resolve().parents[3]
EMBED = 32  # width of the tiny transformer (MOTRv2 uses 256)
TEACHER_DIM = 48
FRAME_H, FRAME_W = 64, 96

TINY_CLIP = dict(
    type="CLIPTeacher",
    arch="RN50-quickgelu",
    allow_random_init=True,
    precision="fp32",
    model_cfg=dict(
        embed_dim=TEACHER_DIM,
        vision_cfg=dict(layers=[1, 1, 1, 1], width=8, image_size=64, head_width=32),
    ),
)


def register_vsd_modules() -> None:
    """Import the modules the tiny configs name (tests import them directly)."""
    from mmdet.utils import register_all_modules

    register_all_modules()
    import mmdistillmot.models.losses.dcsd_loss  # noqa: F401
    import mmdistillmot.models.mot.motrv2  # noqa: F401
    import mmdistillmot.models.mot.vsd  # noqa: F401
    import mmdistillmot.models.mot.vsd.dswr  # noqa: F401
    import mmdistillmot.models.teachers.clip_teacher  # noqa: F401
    import mmdistillmot.models.trackers.motr_tracker  # noqa: F401


def shrink_motrv2(model: ConfigDict, embed: int = EMBED) -> ConfigDict:
    """Make a MOTRv2 config tiny in place: ResNet-18, 1+1 layers of width ``embed``."""
    model.backbone.update(depth=18, init_cfg=None)
    model.neck.update(
        in_channels=[128, 256, 512], out_channels=embed, norm_cfg=dict(type="GN", num_groups=8)
    )
    model.positional_encoding.num_feats = embed // 2
    for part in (model.encoder, model.decoder):
        part.num_layers = 1
        for layer in part.layer_cfg.values():
            layer.embed_dims = embed
            if "num_heads" in layer:
                layer.num_heads = 4
            if "feedforward_channels" in layer:
                layer.feedforward_channels = 2 * embed
    model.qim.update(embed_dims=embed, num_heads=4, feedforward_channels=2 * embed)
    return model


def tiny_refiner(fusion: bool = True, embed: int = EMBED) -> dict[str, Any]:
    """A VSDQueryRefiner config with a tiny student (and DSWR)."""
    return dict(
        type="VSDQueryRefiner",
        student=dict(
            type="VSDStudent", in_dim=embed, out_dim=embed, hidden_dim=16, num_heads=2, ffn_dim=32
        ),
        fusion=dict(type="DSWR", channel_order="rgb") if fusion else None,
    )


def tiny_vsd_mot_cfg(
    alpha: float = 0.5, fusion: bool = True, dual_constraint: bool = True
) -> dict[str, Any]:
    """A tiny VSDMOT config (MOTRv2 base model + tiny student, DSWR, CLIP and DCSD)."""
    base = Config.fromfile(str(REPO_ROOT / "configs" / "_base_" / "models" / "motrv2_r50.py"))
    student = shrink_motrv2(base.model)
    student.query_refiner = tiny_refiner(fusion)
    return dict(
        type="VSDMOT",
        student=student.to_dict(),
        teacher=dict(TINY_CLIP),
        distill_loss=dict(
            type="DCSDLoss",
            student_dim=EMBED,
            teacher_dim=TEACHER_DIM,
            dual_constraint=dual_constraint,
        ),
        alpha=alpha,
    )


def _frame(index: int, shift: float) -> DetDataSample:
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(FRAME_H, FRAME_W),
            ori_shape=(FRAME_H, FRAME_W),
            scale_factor=(1.0, 1.0),
            frame_id=index,
            det_proposals=[[10.0, 10.0, 40.0, 50.0, 0.9], [50.0, 5.0, 80.0, 60.0, 0.6]],
        )
    )
    gt = InstanceData()
    gt.bboxes = torch.tensor([[10.0, 10.0, 40.0, 50.0], [50.0, 5.0, 80.0, 60.0]]) + shift
    gt.labels = torch.tensor([0, 0])
    gt.instances_ids = torch.tensor([1, 2])
    sample.gt_instances = gt
    return sample


def two_frame_clip(seed: int = 0) -> dict[str, Any]:
    """A 2-frame clip of tiny uint8 BGR frames with two tracked boxes (before preprocessing)."""
    gen = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (2, 3, FRAME_H, FRAME_W), generator=gen, dtype=torch.uint8)
    clip = TrackDataSample()
    clip.video_data_samples = [_frame(0, 0.0), _frame(1, 2.0)]
    clip.set_metainfo(dict(key_frames_inds=[0]))
    return dict(inputs=[frames], data_samples=[clip])
