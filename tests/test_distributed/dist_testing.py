"""Helpers of the distributed tests: launch the real tools, tiny data, tiny configs.

Every launch is a subprocess running the repository's own entry points (``tools/train.py``,
``tools/test.py``, ``tools/dist_train.sh``, ``tools/dist_test.sh``) exactly as a user types
them, with the CPU processes on gloo (there is no GPU here). The test process itself only
needs torch, numpy and OpenCV: the package is imported by the launched processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
DEFAULT_RUNTIME = REPO / "configs" / "_base_" / "default_runtime.py"

#: Frame size of the tiny training set (a multiple of 32: no padding differences).
IMG_H, IMG_W = 96, 160


def free_port() -> int:
    """A TCP port free right now, so that parallel sessions do not meet on 29500."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(cmd: list[str], timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` from the repository root with one thread per process; fail loudly.

    ``PYTHON`` tells the launch scripts which interpreter to use (this one, the venv's);
    ``PORT`` (torchrun scripts) and ``MASTER_PORT`` (slurm) get a free port. CUDA is hidden
    (``CUDA_VISIBLE_DEVICES=""``): these tests mean the CPU processes on gloo, which the tools
    start only without CUDA; on a machine with GPUs they would go to nccl instead.
    """
    port = str(free_port())
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
        "PORT": port,
        "MASTER_PORT": port,
    }
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited with {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def make_paired_detection_set(root: Path, num_pairs: int = 4) -> Path:
    """Write ``2 * num_pairs`` frames and a COCO file where frames 2k and 2k+1 share boxes.

    The two frames of a pair have the same boxes but different pixels (other noise, other
    colours), so they give different gradients but the same number of positive anchors. The
    distributed sampler without shuffling gives rank r the frames r, r + W, r + 2W, ...; with
    two ranks, rank 0 holds the first frame of every pair and rank 1 the second, so both ranks
    count the same positives in every step (see the training test for why that matters).

    Args:
        root: Output folder (frames and ``ann.json``).
        num_pairs: Number of pairs.

    Returns:
        The annotation file.
    """
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for pair in range(num_pairs):
        boxes = []  # x, y, w, h: 2-3 people-shaped boxes per pair
        for _ in range(2 + pair % 2):
            w = int(rng.integers(14, 40))
            h = int(rng.integers(w + 10, min(2 * w + 10, IMG_H - 4)))
            x = int(rng.integers(0, IMG_W - w))
            y = int(rng.integers(0, IMG_H - h))
            boxes.append((x, y, w, h))
        for member in range(2):
            image_id = 2 * pair + member
            img = rng.integers(0, 120, (IMG_H, IMG_W, 3), dtype=np.uint8)
            for x, y, w, h in boxes:
                color = tuple(int(c) for c in rng.integers(130, 256, 3))
                cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), color, thickness=-1)
            name = f"{image_id:03d}.png"
            cv2.imwrite(str(root / name), img)
            images.append(dict(id=image_id, file_name=name, height=IMG_H, width=IMG_W))
            for x, y, w, h in boxes:
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=image_id,
                        category_id=1,
                        bbox=[x, y, w, h],
                        area=w * h,
                        iscrowd=0,
                    )
                )
    coco = dict(images=images, annotations=annotations, categories=[dict(id=1, name="pedestrian")])
    ann_file = root / "ann.json"
    ann_file.write_text(json.dumps(coco))
    return ann_file


#: A tiny FeatureDistiller: RetinaNet (ResNet-18 layout, 8 base channels, BatchNorm frozen in
#: eval by norm_eval) distilled from a 2-block random-init DINOv2 through a 1x1-conv connector.
TINY_DISTILL_CONFIG = """
_base_ = ['{runtime}']  # the real runtime: env_cfg.dist_cfg.backend = 'nccl'
student = dict(
    type='RetinaNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=18, base_channels=8, num_stages=4, out_indices=(0, 1, 2, 3),
        frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
        style='pytorch', init_cfg=None),
    neck=dict(
        type='FPN', in_channels=[8, 16, 32, 64], out_channels=16, start_level=1,
        add_extra_convs='on_input', num_outs=3),
    bbox_head=dict(
        type='RetinaHead', num_classes=1, in_channels=16, stacked_convs=1, feat_channels=16,
        anchor_generator=dict(
            type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1, ratios=[1.0],
            strides=[8, 16, 32]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0),
        sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(
        nms_pre=100, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=10))
model = dict(
    type='FeatureDistiller',
    student=student,
    teacher=dict(
        type='DINOv2Teacher', arch='small', allow_random_init=True,
        model_kwargs=dict(depth=2, embed_dim=48, num_heads=2, img_size=56)),
    student_taps=dict(p3=dict(module='neck', index=0)),
    connectors=dict(s2t=dict(type='Conv1x1Connector', in_channels=16, out_channels=48)),
    distill_losses=dict(
        dino=dict(loss=dict(type='CosineDistillLoss'), student='p3', student_connector='s2t')),
    alpha=0.5)
custom_hooks = [dict(type='DistillHook')]

train_dataloader = dict(
    batch_size={batch_size},
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset', data_root='{data_root}', ann_file='ann.json', data_prefix=dict(img=''),
        metainfo=dict(classes=('pedestrian', )),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')]))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
    logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
"""


def write_tiny_distill_config(path: Path, data_root: Path, batch_size: int) -> Path:
    """Write :data:`TINY_DISTILL_CONFIG` for ``batch_size`` images per process."""
    path.write_text(
        TINY_DISTILL_CONFIG.format(
            runtime=DEFAULT_RUNTIME, data_root=f"{data_root}/", batch_size=batch_size
        )
    )
    return path


def scalars(work_dir: Path) -> list[dict[str, float]]:
    """The per-iteration scalars that rank 0 logged (``vis_data/scalars.json``)."""
    (found,) = work_dir.glob("*/vis_data/scalars.json")
    return [json.loads(line) for line in found.read_text().splitlines() if line.strip()]
