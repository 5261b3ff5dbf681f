"""Recovering the raw frames behind the student's normalised batch, for the teacher."""

from __future__ import annotations

import torch
from mmdet.registry import MODELS

import mmdistillmot  # noqa: F401
from mmdistillmot.models.distillers import recover_raw_frames


def _frames(n: int, h: int, w: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8) for _ in range(n)]


def test_inverse_of_det_preprocessor_with_padding_and_flip() -> None:
    pre = MODELS.build(
        dict(
            type="DetDataPreprocessor",
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_size_divisor=32,
            pad_value=0,
        )
    )
    frames = _frames(2, 50, 70)  # padded to 64 x 96
    out = pre(dict(inputs=frames, data_samples=None), False)["inputs"]
    assert out.shape == (2, 3, 64, 96)
    bgr = recover_raw_frames(out, pre, loaded_order="bgr", target_order="bgr")
    rgb = recover_raw_frames(out, pre, loaded_order="bgr", target_order="rgb")
    for i, frame in enumerate(frames):
        assert torch.allclose(bgr[i, :, :50, :70], frame.float(), atol=1e-3)
        assert torch.allclose(rgb[i, :, :50, :70], frame.flip(0).float(), atol=1e-3)
    # the padding (0 after normalisation) comes back as the mean: the student's canvas
    mean_bgr = torch.tensor([103.53, 116.28, 123.675])
    assert torch.allclose(bgr[0, :, 60, 90], mean_bgr, atol=1e-3)
    assert not bgr.requires_grad


def test_fairmot_style_scaling_and_no_normalisation() -> None:
    # FairMOT: RGB / 255, no mean subtraction
    pre = MODELS.build(
        dict(type="DetDataPreprocessor", mean=[0, 0, 0], std=[255, 255, 255], bgr_to_rgb=True)
    )
    frames = _frames(1, 8, 8)
    out = pre(dict(inputs=frames, data_samples=None), False)["inputs"]
    assert float(out.max()) <= 1.0
    raw = recover_raw_frames(out, pre, loaded_order="bgr", target_order="bgr")
    assert torch.allclose(raw[0], frames[0].float(), atol=1e-4)
    plain = MODELS.build(dict(type="DetDataPreprocessor"))
    out = plain(dict(inputs=frames, data_samples=None), False)["inputs"]
    raw = recover_raw_frames(out, plain, loaded_order="rgb", target_order="bgr")
    assert torch.equal(raw[0], frames[0].flip(0).float())


def test_clips_from_track_preprocessor() -> None:
    from mmdet.structures import TrackDataSample

    pre = MODELS.build(
        dict(
            type="TrackDataPreprocessor",
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
        )
    )
    clip = torch.stack(_frames(2, 16, 16, seed=1))  # [T, 3, H, W]
    out = pre(dict(inputs=[clip], data_samples=[TrackDataSample()]), False)["inputs"]
    assert out.shape == (1, 2, 3, 16, 16)
    raw = recover_raw_frames(out, pre, loaded_order="bgr", target_order="bgr")
    assert torch.allclose(raw[0], clip.float(), atol=1e-3)
