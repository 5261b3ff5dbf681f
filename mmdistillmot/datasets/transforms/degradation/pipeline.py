"""Applying one parameter set: the two-stage Real-ESRGAN degradation at output scale 1.

Order (Wang et al., "Real-ESRGAN", ICCVW 2021, and its BasicSR implementation):

1. unsharp-mask the clean input;
2. stage 1: blur -> resize (relative to the current size) -> noise -> clip -> JPEG;
3. stage 2: blur (if drawn) -> resize to ``scale2 x`` the input size -> noise;
4. either [resize back to the input size -> final sinc] -> clip -> JPEG,
   or clip -> JPEG -> [resize back -> final sinc];
5. clip and round to 8 bits.

The output always has the input's size, so box annotations stay valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from mmdistillmot.datasets.transforms.degradation.ops import (
    add_gaussian_noise,
    add_poisson_noise,
    filter2d,
    jpeg_compress,
    resize,
    to_uint8,
    usm_sharpen,
)
from mmdistillmot.datasets.transforms.degradation.params import (
    DegradationParams,
    KernelParams,
    NoiseParams,
)

__all__ = ["apply_degradation"]

CHANNEL_ORDERS = ("bgr", "rgb")


@contextmanager
def _timed(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    """Adds the CPU time (process time, all threads) of the block to ``timings[name]``, if given."""
    if timings is None:
        yield
        return
    start = time.process_time()
    yield
    timings[name] = timings.get(name, 0.0) + time.process_time() - start


def _blur(img: np.ndarray, kernel: KernelParams) -> np.ndarray:
    if kernel.is_identity:
        return img
    return filter2d(img, kernel.build(), kernel.factors())


def _noise(
    img: np.ndarray, noise: NoiseParams, rng: np.random.Generator, channel_order: str
) -> np.ndarray:
    if noise.kind == "gaussian":
        return add_gaussian_noise(img, noise.strength, noise.gray, rng)
    if noise.kind == "poisson":
        return add_poisson_noise(img, noise.strength, noise.gray, rng, channel_order)
    raise ValueError(f"unknown noise kind {noise.kind!r}; expected 'gaussian' or 'poisson'")


def _scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(width, height)`` scaled and floored as PyTorch's ``interpolate`` does, at least 1."""
    return max(1, int(width * scale)), max(1, int(height * scale))


def apply_degradation(
    img: np.ndarray,
    params: DegradationParams,
    rng: np.random.Generator,
    channel_order: str = "bgr",
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """Degrades one image with a given parameter set.

    Args:
        img: uint8 image, shape (H, W), (H, W, 1) or (H, W, 3).
        params: The parameter set (see :func:`sample_degradation_params`).
        rng: Source of the noise realisations.
        channel_order: ``'bgr'`` (OpenCV/mmcv loading) or ``'rgb'``; used by the luma of grey
            Poisson noise and by the JPEG colour transform.
        timings: Optional dict to which per-operator wall times (seconds) are added.

    Returns:
        Degraded uint8 image of the same shape as ``img``.

    Raises:
        TypeError: When ``img`` is not uint8.
        ValueError: On a bad shape or channel order.
    """
    if img.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise ValueError(
            f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3), got {img.shape}"
        )
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    height, width = img.shape[:2]
    # OpenCV drops a singleton channel axis, so a one-channel image runs as (H, W).
    single = img.ndim == 3 and img.shape[2] == 1
    # Kept uint8 until the first operator: USM filters uint8 faster and returns float32.
    out = img[:, :, 0] if single else img

    def step(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        nonlocal out
        with _timed(timings, name):
            out = fn(out)

    s1, s2 = params.stage1, params.stage2
    step(
        "usm", lambda x: usm_sharpen(x, params.usm_weight, params.usm_threshold, params.usm_radius)
    )
    # Stage 1.
    step("blur1", lambda x: _blur(x, s1.blur))
    step(
        "resize1",
        lambda x: resize(x, _scaled_size(x.shape[0], x.shape[1], s1.resize.scale), s1.resize.mode),
    )
    step("noise1", lambda x: _noise(x, s1.noise, rng, channel_order))
    step("jpeg1", lambda x: jpeg_compress(x, s1.jpeg_quality, channel_order, inplace=True))
    # Stage 2; its resize is relative to the input size, not to the stage-1 output.
    step("blur2", lambda x: _blur(x, s2.blur))
    step(
        "resize2", lambda x: resize(x, _scaled_size(height, width, s2.resize.scale), s2.resize.mode)
    )
    step("noise2", lambda x: _noise(x, s2.noise, rng, channel_order))

    def back(x: np.ndarray) -> np.ndarray:
        return resize(x, (width, height), params.final_resize_mode)

    if params.resize_then_jpeg:
        step("resize_back", back)
        step("final_sinc", lambda x: _blur(x, params.final_sinc))
        step("jpeg2", lambda x: jpeg_compress(x, s2.jpeg_quality, channel_order, inplace=True))
    else:
        step("jpeg2", lambda x: jpeg_compress(x, s2.jpeg_quality, channel_order, inplace=True))
        step("resize_back", back)
        step("final_sinc", lambda x: _blur(x, params.final_sinc))
    with _timed(timings, "round"):
        result = to_uint8(out, inplace=True)
    return result.reshape(img.shape)
