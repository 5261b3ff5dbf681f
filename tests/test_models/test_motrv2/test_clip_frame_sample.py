"""Clip sampling (5 frames, stride 1..11) and clip-consistent augmentation."""

from __future__ import annotations

import random

import numpy as np
import pytest
from mmcv.transforms import Compose

from mmdistillmot.datasets.transforms.clip_frame_sample import MOTRClipSample, clip_frame_indices


def _video(length: int, key: int | None = None) -> dict:
    images = [
        dict(img_id=i + 1, frame_id=i, img_path=f"v/img1/{i + 1:06d}.jpg") for i in range(length)
    ]
    info = dict(video_id=3, video_length=length, images=images)
    if key is not None:
        info["key_frame_id"] = key
    return info


def test_strides_cover_1_to_11_inclusive():
    random.seed(0)
    sampler = MOTRClipSample()
    strides = set()
    for _ in range(400):
        clip = sampler(_video(200, key=10))
        ids = clip["frame_id"]
        assert len(ids) == 5 and ids[0] == 10
        steps = np.diff(ids)
        assert (steps == steps[0]).all()
        strides.add(int(steps[0]))
        assert clip["frame_stride"] == [int(steps[0])] * 5
    assert strides == set(range(1, 12))


def test_clip_fits_the_video_end():
    # key frame 95 of 100 with stride 11 would run to 139: the start moves back, stride kept
    assert clip_frame_indices(100, 95, 11, 5) == [55, 66, 77, 88, 99]
    assert clip_frame_indices(100, 10, 11, 5) == [10, 21, 32, 43, 54]
    assert clip_frame_indices(100, 99, 1, 5) == [95, 96, 97, 98, 99]
    # a 20-frame video cannot hold stride 11 at all: the longest stride that fits (19 // 4 = 4)
    assert clip_frame_indices(20, 3, 11, 5) == [3, 7, 11, 15, 19]
    assert clip_frame_indices(3, 1, 5, 5) == [0, 1, 2, 2, 2]  # shorter than a clip
    assert clip_frame_indices(1, 0, 7, 2) == [0, 0]
    with pytest.raises(ValueError):
        clip_frame_indices(0, 0, 1, 5)


def test_video_keys_and_lengths():
    clip = MOTRClipSample(num_frames=2, max_step=1)(_video(8, key=2))
    assert clip["frame_id"] == [2, 3] and clip["img_id"] == [3, 4]
    assert clip["video_id"] == [3, 3]
    assert clip["video_length"] == [2, 2] and clip["ori_video_length"] == [8, 8]


def test_bad_arguments():
    with pytest.raises(ValueError):
        MOTRClipSample(min_step=3, max_step=2)
    with pytest.raises(ValueError):
        MOTRClipSample(num_frames=0)


def _augment_clip(seed: int, share: bool):
    from mmengine.registry import init_default_scope

    import mmdistillmot.datasets.transforms.clip_frame_sample  # noqa: F401  (registry)

    init_default_scope("mmdet")
    np.random.seed(seed)  # noqa: NPY002  (mmcv transforms draw from the global state)
    random.seed(seed)
    frames = []
    for t in range(5):
        img = np.full((60, 80, 3), t, dtype=np.uint8)
        frames.append(dict(img=img, img_shape=(60, 80), ori_shape=(60, 80), frame_id=t))
    results = {k: [f[k] for f in frames] for k in frames[0]}
    pipeline = Compose(
        [
            dict(
                type="TransformBroadcaster",
                share_random_params=share,
                transforms=[
                    dict(type="RandomFlip", prob=0.5),
                    dict(
                        type="RandomChoiceResize",
                        scales=[(1536, s) for s in range(16, 81, 8)],
                        keep_ratio=True,
                    ),
                ],
            )
        ]
    )
    out = pipeline(results)
    return [(flip, shape) for flip, shape in zip(out["flip"], out["img_shape"])]


def test_flip_and_scale_are_shared_by_all_frames_of_a_clip():
    clips = [_augment_clip(seed, share=True) for seed in range(12)]
    for clip in clips:
        assert len(set(clip)) == 1  # same flip and same size on every frame
    # ... while clips differ from each other (the draws are random, not fixed)
    assert len({clip[0] for clip in clips}) > 2
    # without sharing, frames of one clip disagree somewhere
    unshared = [_augment_clip(seed, share=False) for seed in range(12)]
    assert any(len(set(clip)) > 1 for clip in unshared)
