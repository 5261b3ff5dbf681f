"""The image operators of the Real-ESRGAN degradation, vectorised with NumPy and OpenCV.

All operators take and return float32 images of shape (H, W, C) (or (H, W)) on the 8-bit scale
[0, 255], so noise levels and the sharpening threshold read in grey levels as in the
Real-ESRGAN settings. Filters are correlations with reflect-101 borders (PyTorch's ``reflect``
padding, which BasicSR's ``filter2D`` uses). Where a kernel is separable the operator runs two
1-D passes, which give the same result as the dense 2-D filter up to float rounding; kernels
of low numerical rank run as a short sum of separable passes when that is cheaper.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from scipy.special import gammaln

__all__ = [
    "RESIZE_MODES",
    "add_gaussian_noise",
    "add_poisson_noise",
    "filter2d",
    "gaussian_kernel_1d",
    "jpeg_compress",
    "resize",
    "sample_poisson_levels",
    "separable_terms",
    "to_uint8",
    "usm_sharpen",
]

#: Interpolation of the three resize modes of Real-ESRGAN (PyTorch ``area`` / ``bilinear`` /
#: ``bicubic``). OpenCV's linear and cubic (a = -0.75) kernels match PyTorch's with
#: ``align_corners=False``; ``area`` matches PyTorch's adaptive average pooling when shrinking.
RESIZE_MODES: dict[str, int] = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
}

_BORDER = cv2.BORDER_REFLECT_101

# Singular values below this (relative to the kernel's unit sum, summed over dropped terms)
# are dropped: the filtered 8-bit image then moves by less than 255 * 1e-6, far below rounding.
_RANK_TOLERANCE = 1e-6

# Largest rank r for which a sum of r separable passes beats cv2.filter2D on a k x k kernel
# (OpenCV switches to a DFT for k >= 13). Measured on one thread on a 1920x1080x3 float32
# image with `tools/analysis/benchmark_degradation.py --filters`.
_MAX_SEPARABLE_RANK: dict[int, int] = {
    3: 1,
    5: 1,
    7: 1,
    9: 1,
    11: 2,
    13: 5,
    15: 4,
    17: 4,
    19: 4,
    21: 3,
}


def to_uint8(img: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Clips to [0, 255] and rounds to the nearest integer (ties to even), as uint8.

    Args:
        img: Float image, shape (H, W) or (H, W, C).
        inplace: Clip ``img`` itself (saves a buffer when the caller no longer needs it).

    Returns:
        uint8 array of the same shape.
    """
    clipped = np.clip(img, 0.0, 255.0, out=img if inplace else None)
    if clipped.ndim in (2, 3) and (clipped.ndim == 2 or clipped.shape[2] <= 4):
        # OpenCV's saturating conversion rounds half to even like np.rint, in one pass.
        return cv2.convertScaleAbs(clipped).reshape(img.shape)
    return np.rint(clipped).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2))`` on ``size`` integer taps.

    Args:
        size: Odd number of taps.
        sigma: Standard deviation in pixels; ``<= 0`` uses OpenCV's default for ``size``
            (``0.3 * ((size - 1) / 2 - 1) + 0.8``), as ``cv2.getGaussianKernel`` does.

    Returns:
        Read-only array of shape (size,), float64, summing to 1.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = np.arange(size, dtype=np.float64) - size // 2
    kernel = np.exp(-(x**2) / (2.0 * sigma**2))
    kernel /= kernel.sum()
    kernel.flags.writeable = False
    return kernel


def separable_terms(kernel: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Splits a 2-D kernel into rank-1 terms ``sum_r outer(column_r, row_r)`` (via SVD).

    Terms are kept until the dropped singular values sum to less than ``1e-6``, so the
    decomposition reproduces the kernel to that accuracy (exactly, for float32 images).

    Args:
        kernel: Array of shape (k, k).

    Returns:
        List of ``(column, row)`` pairs, each of shape (k,), float64; ``kernel`` is
        ``sum(np.outer(c, r) for c, r in terms)`` up to the tolerance.
    """
    u, s, vt = np.linalg.svd(kernel)
    # tail[r] = sum of the singular values from index r on.
    tail = np.concatenate([np.cumsum(s[::-1])[::-1], [0.0]])
    rank = int(np.argmax(tail <= _RANK_TOLERANCE))
    rank = max(rank, 1)
    return [(u[:, r] * s[r], vt[r]) for r in range(rank)]


def filter2d(
    img: np.ndarray,
    kernel: np.ndarray,
    factors: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Correlates an image with a 2-D kernel, reflect-101 borders, same output size.

    Runs as one separable pass pair when ``factors`` are given (or the kernel has numerical
    rank 1), as a sum of separable passes when the rank is low enough to be cheaper, else as a
    dense ``cv2.filter2D``.

    Args:
        img: Float32 image, shape (H, W) or (H, W, C).
        kernel: Odd square kernel, shape (k, k).
        factors: Optional exact 1-D factors ``(column, row)`` with
            ``kernel == np.outer(column, row)``, each of shape (k,).

    Returns:
        Filtered float32 image of the shape of ``img``.
    """
    size = kernel.shape[0]
    if size == 1:
        return img * np.float32(kernel[0, 0]) if kernel[0, 0] != 1.0 else img
    if factors is not None:
        terms = [factors]
    else:
        terms = separable_terms(kernel)
        if len(terms) > _MAX_SEPARABLE_RANK.get(size, 1):
            return cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=_BORDER)
    out: np.ndarray | None = None
    for column, row in terms:
        part = cv2.sepFilter2D(
            img, -1, row.astype(np.float32), column.astype(np.float32), borderType=_BORDER
        )
        out = part if out is None else cv2.add(out, part)
    assert out is not None
    return out


def usm_sharpen(
    img: np.ndarray, weight: float = 0.5, threshold: float = 10.0, radius: int = 50
) -> np.ndarray:
    """Unsharp masking with a soft mask, as Real-ESRGAN sharpens its ground truth.

    ``blur = G * img``; ``residual = img - blur``; ``mask = |residual| > threshold``;
    ``soft = G * mask``; ``sharp = clip(img + weight * residual, 0, 255)``;
    ``out = soft * sharp + (1 - soft) * img``, with ``G`` the ``radius``-tap (made odd) Gaussian
    of OpenCV's default sigma for that size (8 for 51 taps), applied separably.

    Args:
        img: Image on [0, 255], uint8 or float32, shape (H, W) or (H, W, C).
        weight: Sharpening weight; 0 returns ``img`` unchanged (as float32).
        threshold: Residual magnitude (grey levels) above which a pixel is sharpened.
        radius: Gaussian size (made odd by adding 1 to an even value).

    Returns:
        Sharpened float32 image of the shape of ``img``.
    """
    if weight == 0:
        return img.astype(np.float32) if img.dtype != np.float32 else img
    size = radius + 1 if radius % 2 == 0 else radius
    gauss = gaussian_kernel_1d(size, 0.0).astype(np.float32)
    f32 = cv2.CV_32F
    # OpenCV's arithmetic takes the uint8 input and float32 buffers together (dtype=CV_32F),
    # so no float copy of the input is made, and filtering uint8 reads a quarter of the
    # memory. Temporaries are reused in place: fresh 25 MB buffers cost page faults per frame.
    work = cv2.sepFilter2D(img, f32, gauss, gauss, borderType=_BORDER)
    cv2.subtract(img, work, dst=work, dtype=f32)  # work = residual
    # mask = |residual| > threshold, per channel (as one channel so inRange tests each value).
    flat = work.reshape(work.shape[0], -1)
    mask = cv2.bitwise_not(cv2.inRange(flat, -float(threshold), float(threshold)))
    # The mask is 0/255 uint8; folding 1/255 into the row taps makes its blur the soft mask.
    soft = cv2.sepFilter2D(
        mask.reshape(work.shape), f32, gauss / np.float32(255.0), gauss, borderType=_BORDER
    )
    if soft.ndim < work.ndim:
        soft = soft[..., None]
    # work = clip(img + weight * residual) - img = sharp - img; out = img + soft * work.
    cv2.addWeighted(work, float(weight), img, 1.0, 0.0, dst=work, dtype=f32)
    np.clip(work, 0.0, 255.0, out=work)
    cv2.subtract(work, img, dst=work, dtype=f32)
    cv2.multiply(soft, work, dst=work)
    return cv2.add(work, img, dst=work, dtype=f32)


def resize(img: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Resizes to ``size = (width, height)`` with one of :data:`RESIZE_MODES`.

    Args:
        img: Float32 image, shape (H, W) or (H, W, C).
        size: Target ``(width, height)`` in pixels (each >= 1).
        mode: ``'area'``, ``'bilinear'`` or ``'bicubic'``.

    Returns:
        Float32 image of shape (height, width[, C]); ``img`` itself when the size is unchanged.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {tuple(RESIZE_MODES)}")
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"resize target must be at least 1x1, got {width}x{height}")
    if (height, width) == img.shape[:2]:
        return img
    out = cv2.resize(img, (width, height), interpolation=RESIZE_MODES[mode])
    if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a singleton channel axis
        out = out[:, :, None]
    return out


def _luma(img: np.ndarray, channel_order: str) -> np.ndarray:
    """ITU-R 601 luma (torchvision's ``rgb_to_grayscale`` weights), shape (H, W), float32."""
    weights = [0.2989, 0.587, 0.114]  # R, G, B
    if channel_order == "bgr":
        weights = weights[::-1]
    return cv2.transform(img, np.array([weights], dtype=np.float32)).reshape(img.shape[:2])


def add_gaussian_noise(
    img: np.ndarray, sigma: float, gray: bool, rng: np.random.Generator
) -> np.ndarray:
    """Adds zero-mean Gaussian noise of standard deviation ``sigma`` grey levels and clips.

    Args:
        img: Float32 image on [0, 255], shape (H, W) or (H, W, C).
        sigma: Noise standard deviation in grey levels; 0 returns ``img`` unchanged.
        gray: One noise field shared by all channels (luminance noise) instead of one per
            channel.
        rng: Source of the noise.

    Returns:
        Noisy float32 image on [0, 255] of the shape of ``img``.
    """
    if sigma == 0:
        return img
    shape = img.shape[:2] if (gray and img.ndim == 3) else img.shape
    noise = np.empty(shape, dtype=np.float32)
    # OpenCV's ziggurat sampler is ~4x faster than NumPy's; it is seeded from ``rng`` so the
    # noise stays a deterministic function of the caller's generator.
    cv2.setRNGSeed(int(rng.integers(1 << 31)))
    # Filled as one channel: OpenCV reads a scalar sigma as (sigma, 0, 0, 0) per channel.
    cv2.randn(noise.reshape(shape[0], -1), np.zeros(1), np.full(1, float(sigma)))
    out: np.ndarray
    if noise.ndim < img.ndim:
        out = img + noise[..., None]
    else:
        out = cv2.add(img, noise, dst=noise)
    return np.clip(out, 0.0, 255.0, out=out)


# Uniform draws are split into 2**_GUIDE_BITS buckets per grey level for the Poisson sampler.
_GUIDE_BITS = 12
_MIXED = np.uint16(0x8000)


@functools.lru_cache(maxsize=16)
def _poisson_tables(vals: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse-CDF tables for ``Poisson(q / 255 * vals)``, q = 0..255.

    Returns:
        ``lower`` and ``upper``, each of shape (256, 2**_GUIDE_BITS), uint16: for bucket ``j``
        (uniforms in ``[j, j + 1) / 2**B``) the smallest count ``k`` with ``CDF(k) > j / 2**B``
        (top bit set when the bucket holds several counts) and with
        ``CDF(k) >= (j + 1) / 2**B``, bounds of every draw in the bucket; and ``cdf`` of shape
        (256, K), float64, whose last column is exactly 1.
    """
    lam = np.arange(256, dtype=np.float64) / 255.0 * vals
    top = int(math.ceil(vals + 15.0 * math.sqrt(vals) + 30.0))
    k = np.arange(top, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log pmf = k log(lam) - lam - log(k!); the lam = 0 row is the point mass at k = 0.
        log_pmf = k[None, :] * np.log(lam)[:, None] - lam[:, None] - gammaln(k + 1.0)[None, :]
    log_pmf[0] = -np.inf
    log_pmf[0, 0] = 0.0
    cdf = np.cumsum(np.exp(log_pmf), axis=1)
    cdf[:, -1] = 1.0  # the tail beyond ``top`` is below 1e-40: close the distribution exactly
    buckets = 1 << _GUIDE_BITS
    edges = np.arange(buckets + 1, dtype=np.float64) / buckets
    lower = np.empty((256, buckets), dtype=np.uint16)
    upper = np.empty((256, buckets), dtype=np.uint16)
    for q in range(256):
        lower[q] = np.searchsorted(cdf[q], edges[:-1], side="right")
        upper[q] = np.minimum(np.searchsorted(cdf[q], edges[1:], side="left"), top - 1)
    # The top bit of ``lower`` flags buckets that hold more than one count, so the common case
    # needs a single gather from one 2 MB table.
    lower |= np.where(lower != upper, _MIXED, np.uint16(0))
    return lower, upper, cdf


def sample_poisson_levels(levels: np.ndarray, vals: int, rng: np.random.Generator) -> np.ndarray:
    """Draws ``Poisson(levels / 255 * vals)`` by exact inverse-CDF sampling.

    A guide table settles most draws with one lookup (the bucket of the uniform holds a single
    count); the others are finished by a vectorised binary search in the CDF between the
    bucket's bounds. Each draw is ``min{k : CDF(k) > u}`` for a uniform ``u`` of 32-bit
    resolution.

    Args:
        levels: uint8 grey levels, any shape.
        vals: Number of quantisation levels scaling the rate (a power of two, <= 256).
        rng: Source of the uniforms.

    Returns:
        Poisson counts, uint16, of the shape of ``levels``.
    """
    lower, upper, cdf = _poisson_tables(int(vals))
    bits = rng.integers(0, 1 << 32, size=levels.size, dtype=np.uint32)
    index = bits >> np.uint32(32 - _GUIDE_BITS)
    index |= levels.reshape(-1).astype(np.uint32) << np.uint32(_GUIDE_BITS)
    counts = lower.reshape(-1)[index]
    mixed = np.flatnonzero(counts >= _MIXED)
    counts &= ~_MIXED
    if mixed.size:
        u = (bits[mixed].astype(np.float64) + 0.5) / float(1 << 32)
        where = index[mixed]
        row = where >> np.uint32(_GUIDE_BITS)
        a = counts[mixed].astype(np.int64)
        b = upper.reshape(-1)[where].astype(np.int64)
        # Invariant: CDF(a - 1) <= u < CDF(b); the answer lies in [a, b].
        while True:
            open_ = a < b
            if not open_.any():
                break
            mid = (a + b) >> 1
            right = cdf[row, mid] <= u
            a = np.where(open_ & right, mid + 1, a)
            b = np.where(open_ & ~right, mid, b)
        counts[mixed] = a
    return counts.reshape(levels.shape)


def add_poisson_noise(
    img: np.ndarray,
    scale: float,
    gray: bool,
    rng: np.random.Generator,
    channel_order: str = "bgr",
) -> np.ndarray:
    """Adds signal-dependent Poisson (shot) noise, scaled by ``scale``, and clips.

    As in Real-ESRGAN: the image (or its luma, for ``gray``) is quantised to 8 bits; ``vals``
    is its number of distinct levels rounded up to a power of two; the noise is
    ``Poisson(q / 255 * vals) / vals - q / 255`` (on [0, 1], times 255 here) times ``scale``.

    Args:
        img: Float32 image on [0, 255], shape (H, W) or (H, W, C).
        scale: Noise scale; 0 returns ``img`` unchanged.
        gray: Luminance noise (one field for all channels, from the luma) instead of colour
            noise.
        rng: Source of the noise.
        channel_order: ``'bgr'`` or ``'rgb'``, for the luma weights.

    Returns:
        Noisy float32 image on [0, 255] of the shape of ``img``.
    """
    if scale == 0:
        return img
    gray = gray and img.ndim == 3
    levels = to_uint8(_luma(img, channel_order) if gray else img)
    histogram = cv2.calcHist([levels.reshape(-1, 1)], [0], None, [256], [0, 256])
    distinct = int(np.count_nonzero(histogram))
    vals = 1 << max(0, math.ceil(math.log2(distinct)))
    counts = sample_poisson_levels(levels, vals, rng)
    # noise = scale * (counts * 255 / vals - levels), in one pass over both integer arrays.
    noise = cv2.addWeighted(
        counts, scale * 255.0 / vals, levels, -float(scale), 0.0, dtype=cv2.CV_32F
    )
    noise = noise.reshape(levels.shape)
    out = img + noise[..., None] if gray else cv2.add(img, noise, dst=noise)
    return np.clip(out, 0.0, 255.0, out=out)


def jpeg_compress(
    img: np.ndarray, quality: float, channel_order: str = "bgr", inplace: bool = False
) -> np.ndarray:
    """Round-trips the image through baseline JPEG (libjpeg via OpenCV, 4:2:0 chroma).

    Args:
        img: Float32 image, shape (H, W), (H, W, 1) or (H, W, 3); clipped and rounded to 8 bits
            first.
        quality: JPEG quality; rounded to an integer, and 100 or more is treated as lossless
            (the image is only clipped and rounded).
        channel_order: ``'bgr'`` or ``'rgb'`` (so the encoder's YCbCr transform sees BGR).
        inplace: Allow clipping ``img`` in place (it is not needed afterwards).

    Returns:
        Decoded float32 image of the shape of ``img``.
    """
    pixels = to_uint8(img, inplace=inplace)
    level = int(round(quality))
    if level >= 100:
        return pixels.astype(np.float32)
    if level < 1:
        raise ValueError(f"JPEG quality must be >= 1, got {quality}")
    rgb = channel_order == "rgb" and pixels.ndim == 3 and pixels.shape[2] == 3
    source = pixels[..., ::-1] if rgb else pixels
    ok, buffer = cv2.imencode(
        ".jpg", np.ascontiguousarray(source), [cv2.IMWRITE_JPEG_QUALITY, level]
    )
    if not ok:
        raise RuntimeError(f"OpenCV could not JPEG-encode an image of shape {pixels.shape}")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise RuntimeError(f"OpenCV could not decode its own JPEG of shape {pixels.shape}")
    if rgb:
        decoded = decoded[..., ::-1]
    return decoded.reshape(pixels.shape).astype(np.float32)
