"""Tiny models and batches shared by the distillation tests (CPU, milliseconds each)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

import mmdistillmot  # noqa: F401  (registers everything)
import mmdistillmot.models.teachers.dinov2_teacher  # noqa: F401  (until teachers/__init__ has it)

# mmdet models build their data preprocessors through the default scope, as under a Runner
register_all_modules(init_default_scope=True)

IMG_H, IMG_W = 64, 96
REPO_ROOT = Path(__file__).resolve().parents[3]

#: A RetinaNet of a few thousand parameters: ResNet-18 layout with 8 base channels.
TINY_RETINANET: dict[str, Any] = dict(
    type="RetinaNet",
    data_preprocessor=dict(
        type="DetDataPreprocessor",
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
    ),
    backbone=dict(
        type="ResNet",
        depth=18,
        base_channels=8,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type="BN", requires_grad=True),
        norm_eval=False,
        style="pytorch",
        init_cfg=None,
    ),
    neck=dict(
        type="FPN",
        in_channels=[8, 16, 32, 64],
        out_channels=16,
        start_level=1,
        add_extra_convs="on_input",
        num_outs=3,
    ),
    bbox_head=dict(
        type="RetinaHead",
        num_classes=1,
        in_channels=16,
        stacked_convs=1,
        feat_channels=16,
        anchor_generator=dict(
            type="AnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=1,
            ratios=[1.0],
            strides=[8, 16, 32],
        ),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0),
    ),
    train_cfg=dict(
        assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0),
        sampler=dict(type="PseudoSampler"),
        allowed_border=-1,
        pos_weight=-1,
        debug=False,
    ),
    test_cfg=dict(
        nms_pre=100,
        min_bbox_size=0,
        score_thr=0.0,
        nms=dict(type="nms", iou_threshold=0.5),
        max_per_img=10,
    ),
)

#: DINOv2-giant layout (SwiGLU MLP) shrunk to 2 blocks of width 48 with a 4x4 position grid.
TINY_DINOV2_KWARGS: dict[str, Any] = dict(depth=2, embed_dim=48, num_heads=2, img_size=56)


def tiny_student_cfg() -> ConfigDict:
    """The tiny RetinaNet as a ConfigDict (mmdet heads read ``test_cfg.attr``)."""
    return ConfigDict(copy.deepcopy(TINY_RETINANET))


def tiny_teacher_cfg(**overrides: Any) -> dict[str, Any]:
    cfg = dict(
        type="DINOv2Teacher",
        arch="small",
        allow_random_init=True,
        model_kwargs=dict(TINY_DINOV2_KWARGS),
    )
    cfg.update(overrides)
    return cfg


def tiny_distiller_cfg(**overrides: Any) -> ConfigDict:
    """FeatureDistiller: tiny RetinaNet's P3 map (16 ch, 1/8) vs a tiny DINOv2 (48 ch, 1/14)."""
    cfg = dict(
        type="FeatureDistiller",
        student=tiny_student_cfg(),
        teacher=tiny_teacher_cfg(),
        student_taps=dict(p3=dict(module="neck", index=0)),
        connectors=dict(s2t=dict(type="Conv1x1Connector", in_channels=16, out_channels=48)),
        distill_losses=dict(
            dino=dict(loss=dict(type="CosineDistillLoss"), student="p3", student_connector="s2t")
        ),
        alpha=0.5,
    )
    cfg.update(overrides)
    return ConfigDict(cfg)


def make_batch(batch_size: int = 2, seed: int = 0) -> dict[str, Any]:
    """Raw uint8 BGR frames with one box each, as a dataloader yields them."""
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, IMG_H, IMG_W), generator=gen, dtype=torch.uint8))
        sample = DetDataSample(
            metainfo=dict(
                img_id=i,
                img_shape=(IMG_H, IMG_W),
                ori_shape=(IMG_H, IMG_W),
                scale_factor=(1.0, 1.0),
                pad_shape=(IMG_H, IMG_W),
            )
        )
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[10.0 + i, 12.0, 40.0, 50.0]]), labels=torch.tensor([0])
        )
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
