"""The degradation operators against dense references and measurable image properties."""

import cv2
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from mmdistillmot.datasets.transforms.degradation import ops
from mmdistillmot.datasets.transforms.degradation.kernels import (
    bivariate_kernel,
    circular_lowpass_kernel,
)


def dense_correlate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Plain 2-D correlation in float64 with reflect-101 padding (numpy's 'reflect')."""
    radius = kernel.shape[0] // 2
    channels = img[..., None] if img.ndim == 2 else img
    out = np.empty(channels.shape, dtype=np.float64)
    for c in range(channels.shape[2]):
        padded = np.pad(channels[..., c].astype(np.float64), radius, mode="reflect")
        windows = sliding_window_view(padded, kernel.shape)
        out[..., c] = np.einsum("hwij,ij->hw", windows, kernel)
    return out.reshape(img.shape)


def textured_image(height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """Smooth shading plus edges plus fine texture, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 120 + 60 * np.sin(xx / 9.0)[..., None] * np.cos(yy[..., None] / 7.0 + np.arange(3))
    base[height // 3 : height // 2, width // 4 : width // 2] += 50
    base += rng.normal(0, 12, size=base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def laplacian_variance(img: np.ndarray) -> float:
    gray = img.astype(np.float64).mean(axis=2) if img.ndim == 3 else img.astype(np.float64)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def high_frequency_energy(img: np.ndarray) -> float:
    """Mean squared high-pass response (image minus its sigma-1 Gaussian blur), grey levels^2."""
    gray = img.astype(np.float64).mean(axis=2)
    low = cv2.GaussianBlur(gray, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    return float(((gray - low) ** 2).mean())


def smooth_field(height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random colour field without edges, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)), (0, 0), 3.0)
    field = 128 + 60 * field / field.std()
    return np.clip(field, 0, 255).astype(np.uint8)


def blockiness(img: np.ndarray) -> float:
    """Mean |difference| across 8x8 block borders over the mean inside blocks (1 = none)."""
    gray = img.astype(np.float64).mean(axis=2)
    dx = np.abs(np.diff(gray, axis=1))  # dx[:, j] = |x[j + 1] - x[j]|
    dy = np.abs(np.diff(gray, axis=0))
    at_border_x = (np.arange(dx.shape[1]) % 8) == 7
    at_border_y = (np.arange(dy.shape[0]) % 8) == 7
    border = np.concatenate([dx[:, at_border_x].ravel(), dy[at_border_y].ravel()])
    inside = np.concatenate([dx[:, ~at_border_x].ravel(), dy[~at_border_y].ravel()])
    return float(border.mean() / inside.mean())


def test_separable_usm_equals_a_dense_two_dimensional_usm():
    img = textured_image(48, 64)
    # The reference: Real-ESRGAN's USMSharp with a dense 51x51 kernel, in float64.
    gauss = cv2.getGaussianKernel(51, 0)
    kernel = gauss @ gauss.T
    x = img.astype(np.float64)
    blur = dense_correlate(x, kernel)
    residual = x - blur
    mask = (np.abs(residual) > 10).astype(np.float64)
    soft = dense_correlate(mask, kernel)
    sharp = np.clip(x + 0.5 * residual, 0, 255)
    expected = soft * sharp + (1 - soft) * x
    out = ops.usm_sharpen(img, weight=0.5, threshold=10, radius=50)
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_allclose(out, expected, atol=2e-3)
    assert np.abs(out - x).max() > 1.0  # it did sharpen


@pytest.mark.parametrize(
    "kernel",
    [
        bivariate_kernel("iso", 7, 1.4),
        bivariate_kernel("aniso", 21, 2.8, 0.4, 0.7),
        bivariate_kernel("generalized_iso", 13, 1.7, beta=2.5),
        circular_lowpass_kernel(1.1, 15),
        circular_lowpass_kernel(2.0, 7),
    ],
    ids=["iso7", "aniso21", "gen_iso13", "sinc15", "sinc7"],
)
def test_filter2d_equals_dense_correlation(kernel):
    img = textured_image().astype(np.float32)
    np.testing.assert_allclose(ops.filter2d(img, kernel), dense_correlate(img, kernel), atol=2e-3)


def test_blur_lowers_laplacian_variance():
    img = textured_image()
    before = laplacian_variance(img)
    for kernel in (
        bivariate_kernel("iso", 9, 1.5),
        bivariate_kernel("plateau_aniso", 13, 2.0, 0.8, 0.3, beta=1.5),
        circular_lowpass_kernel(np.pi / 3, 13),
    ):
        blurred = ops.to_uint8(ops.filter2d(img.astype(np.float32), kernel))
        assert laplacian_variance(blurred) < 0.5 * before


def test_noise_raises_high_frequency_energy():
    smooth = smooth_field()
    before = high_frequency_energy(smooth)
    rng = np.random.default_rng(0)
    x = smooth.astype(np.float32)
    gaussian = ops.to_uint8(ops.add_gaussian_noise(x, 10.0, False, rng))
    poisson = ops.to_uint8(ops.add_poisson_noise(x, 2.0, False, rng))
    gray = ops.to_uint8(ops.add_gaussian_noise(x, 10.0, True, rng))
    for noisy in (gaussian, poisson, gray):
        assert high_frequency_energy(noisy) > 3 * before


def test_gaussian_noise_has_its_sigma_and_gray_noise_is_shared():
    flat = np.full((64, 96, 3), 128.0, dtype=np.float32)
    rng = np.random.default_rng(1)
    colour = ops.add_gaussian_noise(flat, 7.0, False, rng) - 128.0
    assert colour.std() == pytest.approx(7.0, rel=0.03)
    assert abs(np.corrcoef(colour[..., 0].ravel(), colour[..., 1].ravel())[0, 1]) < 0.05
    gray = ops.add_gaussian_noise(flat, 7.0, True, rng) - 128.0
    assert gray.std() == pytest.approx(7.0, rel=0.03)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])


@pytest.mark.parametrize("vals", [256, 16])
def test_poisson_sampler_is_the_exact_inverse_cdf(vals):
    levels = np.repeat(np.arange(256, dtype=np.uint8), 40)
    counts = ops.sample_poisson_levels(levels, vals, np.random.default_rng(5))
    # The same uniforms through scipy's Poisson quantile function.
    bits = np.random.default_rng(5).integers(0, 1 << 32, size=levels.size, dtype=np.uint32)
    u = (bits.astype(np.float64) + 0.5) / 2.0**32
    expected = stats.poisson.ppf(u, levels / 255.0 * vals)
    np.testing.assert_array_equal(counts, expected)


def test_poisson_noise_mean_and_variance_follow_the_rate():
    img = np.full((128, 128, 3), 100.0, dtype=np.float32)
    img[0, 0] = (0, 255, 17)  # four distinct levels, so vals = 4
    scale = 0.3  # small enough that nothing is clipped
    noisy = ops.add_poisson_noise(img, scale, False, np.random.default_rng(2))
    # noise = scale * (Poisson(q / 255 * vals) / vals - q / 255) * 255, here q = 100, vals = 4.
    lam = 100 / 255 * 4
    body = noisy[1:, 1:] - 100.0
    assert body.mean() == pytest.approx(0.0, abs=0.5)
    assert body.var() == pytest.approx(lam * (scale * 255 / 4) ** 2, rel=0.05)


def test_jpeg_adds_8x8_blockiness():
    img = smooth_field()
    before = blockiness(img)
    compressed = ops.to_uint8(ops.jpeg_compress(img.astype(np.float32), 25))
    after = blockiness(compressed)
    assert before == pytest.approx(1.0, abs=0.1)
    assert after > 1.3 * before
    assert compressed.shape == img.shape


def test_jpeg_at_quality_100_only_rounds():
    x = np.array([[[0.4, 254.6, 300.0]]], dtype=np.float32)
    np.testing.assert_array_equal(ops.jpeg_compress(x, 100), [[[0.0, 255.0, 255.0]]])


def test_jpeg_respects_channel_order():
    img = textured_image(32, 32).astype(np.float32)
    bgr = ops.jpeg_compress(img, 60, "bgr")
    rgb = ops.jpeg_compress(img[..., ::-1], 60, "rgb")
    np.testing.assert_array_equal(bgr, rgb[..., ::-1])


def test_resize_keeps_or_changes_size():
    img = textured_image().astype(np.float32)
    assert ops.resize(img, (96, 64), "bicubic") is img
    for mode in ops.RESIZE_MODES:
        out = ops.resize(img, (40, 30), mode)
        assert out.shape == (30, 40, 3) and out.dtype == np.float32
    assert ops.resize(img[..., :1], (40, 30), "area").shape == (30, 40, 1)
    with pytest.raises(ValueError, match="resize mode"):
        ops.resize(img, (40, 30), "nearest")


def test_to_uint8_clips_and_rounds_half_to_even():
    x = np.array([[-3.0, 0.5, 1.5, 2.5, 254.5, 999.0]], dtype=np.float32)
    np.testing.assert_array_equal(ops.to_uint8(x), [[0, 0, 2, 2, 254, 255]])
