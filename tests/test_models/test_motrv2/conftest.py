"""Tiny MOTRv2 configs and clips shared by the MOTRv2 tests (CPU, a few seconds each)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

# Register the MOTRv2 parts directly (the package __init__ files belong to other modules).
import mmdistillmot.datasets.transforms.clip_frame_sample  # noqa: F401
import mmdistillmot.datasets.transforms.load_proposals  # noqa: F401
import mmdistillmot.models.mot.motrv2  # noqa: F401
import mmdistillmot.models.trackers.motr_tracker  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[3]
BASE_MODEL_CFG = REPO_ROOT / "configs" / "_base_" / "models" / "motrv2_r50.py"
TINY_DIMS = 32


def shrink_motrv2(model_cfg: Config, embed_dims: int = TINY_DIMS, dec_layers: int = 1) -> Config:
    """A tiny variant of a MOTRv2 model config: ResNet-18/16, C=32, 1 enc + ``dec_layers``."""
    cfg = copy.deepcopy(model_cfg)
    # A ResNet-18 with 16 base channels. zero_init_residual off: with frozen BN and no
    # pretrained weights the residual branches would stay zero (and gradient-free) for ever.
    cfg.backbone = dict(
        type="ResNet",
        depth=18,
        base_channels=16,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type="BN", requires_grad=False),
        norm_eval=True,
        zero_init_residual=False,
        init_cfg=None,
    )
    cfg.neck.update(in_channels=[32, 64, 128], out_channels=embed_dims)
    cfg.positional_encoding.num_feats = embed_dims // 2
    cfg.encoder.num_layers = 1
    cfg.encoder.layer_cfg.self_attn_cfg.update(embed_dims=embed_dims, num_heads=2, num_points=2)
    cfg.encoder.layer_cfg.ffn_cfg.update(embed_dims=embed_dims, feedforward_channels=64)
    cfg.decoder.num_layers = dec_layers
    cfg.decoder.layer_cfg.self_attn_cfg.update(embed_dims=embed_dims, num_heads=2)
    cfg.decoder.layer_cfg.cross_attn_cfg.update(embed_dims=embed_dims, num_heads=2, num_points=2)
    cfg.decoder.layer_cfg.ffn_cfg.update(embed_dims=embed_dims, feedforward_channels=64)
    cfg.qim.update(embed_dims=embed_dims, num_heads=2, feedforward_channels=64)
    return cfg


@pytest.fixture(scope="session")
def tiny_model_cfg() -> Config:
    """Model config of a tiny MOTRv2 (2 decoder layers so auxiliary losses exist)."""
    init_default_scope("mmdet")
    return shrink_motrv2(Config.fromfile(str(BASE_MODEL_CFG)).model, dec_layers=2)


def build_tiny(model_cfg: Config, seed: int = 0):
    """Build and initialise a model from a config with a fixed seed."""
    from mmdet.registry import MODELS

    init_default_scope("mmdet")
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model


def make_clip(num_frames: int = 2, height: int = 64, width: int = 96, seed: int = 0):
    """A clip of random frames with two people walking right and one proposal per person.

    Returns:
        tuple: ``inputs`` (list with one ``[T, 3, H, W]`` uint8 tensor, as the dataloader
        gives) and ``[TrackDataSample]`` with gt boxes, labels, instance ids and proposals.
    """
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (num_frames, 3, height, width), generator=gen, dtype=torch.uint8)
    frames = []
    for t in range(num_frames):
        boxes = torch.tensor([[10.0, 8.0, 34.0, 56.0], [50.0, 6.0, 74.0, 50.0]]) + 2.0 * t
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                scale_factor=(1.0, 1.0),
                frame_id=t,
                img_path=f"train/SEQ/img1/{t + 1:06d}.jpg",
                det_proposals=np.concatenate(
                    [boxes.numpy() + 1.0, np.array([[0.9], [0.6]], dtype=np.float32)], axis=1
                ),
            )
        )
        sample.gt_instances = InstanceData(
            bboxes=boxes,
            labels=torch.zeros(2, dtype=torch.long),
            instances_ids=torch.tensor([4, 9]),
        )
        frames.append(sample)
    track = TrackDataSample()
    track.video_data_samples = frames
    return [imgs], [track]
