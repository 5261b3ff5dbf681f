"""Recover the raw frames from the student's preprocessed batch, for the teacher.

The teacher must see the raw frames and apply its own normalisation (the VSD authors' code fed
CLIP the student's normalised tensor: a defect). Two ways exist:

1. keep a copy of the frames inside the data preprocessor, before it normalises them;
2. invert the normalisation the student's preprocessor applied: ``raw = x * std + mean``, then
   undo its channel flip.

This module does (2), for three reasons. It is *exact* in geometry: mmdet's preprocessors pad
the normalised frames to a size divisor and may then run batch augmentations
(``BatchSyncRandomResize``, ...) on the normalised batch only, so a copy taken before
normalisation would not line up with what the student sees, while the inverse does, pixel for
pixel. It needs no wrapper around the student's preprocessor, so the distiller keeps the
student's own ``data_preprocessor`` unchanged (and the exported student is the baseline). And
it is exact in value up to float rounding (``x * std + mean`` restores the float pixel values;
checked in the tests). Padding added after normalisation (``pad_value`` in normalised units)
comes back as ``pad_value * std + mean``: the teacher sees the same canvas as the student.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["recover_raw_frames", "student_channel_order"]

ChannelOrder = Literal["bgr", "rgb"]


def _flip(order: ChannelOrder) -> ChannelOrder:
    return "rgb" if order == "bgr" else "bgr"


def student_channel_order(preprocessor: nn.Module, loaded_order: ChannelOrder) -> ChannelOrder:
    """Channel order of the student's input tensor.

    Args:
        preprocessor: The student's data preprocessor (mmengine ``ImgDataPreprocessor`` family).
        loaded_order: Order of the frames the data pipeline loaded (``'bgr'`` for mmcv's
            default ``LoadImageFromFile``).

    Returns:
        ``loaded_order``, flipped when the preprocessor swaps channels (``bgr_to_rgb`` or
        ``rgb_to_bgr``: both set mmengine's ``_channel_conversion``).
    """
    swaps = bool(getattr(preprocessor, "_channel_conversion", False))
    return _flip(loaded_order) if swaps else loaded_order


def recover_raw_frames(
    inputs: torch.Tensor,
    preprocessor: nn.Module,
    loaded_order: ChannelOrder,
    target_order: ChannelOrder,
) -> torch.Tensor:
    """Invert the student's normalisation and channel flip.

    Args:
        inputs: The preprocessed batch, ``[B, 3, H, W]`` (detectors) or ``[B, T, 3, H, W]``
            (clips from ``TrackDataPreprocessor``).
        preprocessor: The student's data preprocessor. It must be an mmengine
            ``ImgDataPreprocessor`` (or subclass, e.g. mmdet's ``DetDataPreprocessor`` and
            ``TrackDataPreprocessor``), whose ``mean``/``std`` buffers and
            ``_enable_normalize``/``_channel_conversion`` flags say what it did.
        loaded_order: Channel order of the frames the pipeline loaded.
        target_order: Channel order the teacher wants.

    Returns:
        Float frames on the 0-255 scale (pipeline units), same shape as ``inputs``, in
        ``target_order``, without autograd history.

    Raises:
        TypeError: The preprocessor does not say how it normalised.
        ValueError: ``inputs`` is not a batch of 3-channel frames.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 4 or inputs.shape[-3] != 3:
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(
            f"recover_raw_frames: expected a stacked [..., 3, H, W] batch of colour frames, got "
            f"{shape}."
        )
    if not hasattr(preprocessor, "_enable_normalize"):
        raise TypeError(
            f"recover_raw_frames: {type(preprocessor).__name__} is not an mmengine "
            "ImgDataPreprocessor; the distiller cannot tell how it normalised the frames. Use "
            "an ImgDataPreprocessor-based preprocessor (DetDataPreprocessor, "
            "TrackDataPreprocessor) for the student."
        )
    frames = inputs.detach().float()
    if preprocessor._enable_normalize:
        mean: torch.Tensor = getattr(preprocessor, "mean")  # noqa: B009  (a buffer, for mypy)
        std: torch.Tensor = getattr(preprocessor, "std")  # noqa: B009
        frames = frames * std.reshape(-1, 1, 1).to(frames) + mean.reshape(-1, 1, 1).to(frames)
    current = student_channel_order(preprocessor, loaded_order)
    if current != target_order:
        frames = frames.flip(-3)
    return frames
