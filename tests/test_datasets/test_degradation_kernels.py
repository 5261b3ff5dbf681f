"""Blur kernel families of the Real-ESRGAN degradation, checked against hand computations."""

import math

import numpy as np
import pytest

from mmdistillmot.datasets.transforms.degradation.kernels import (
    GAUSSIAN_FAMILIES,
    bivariate_kernel,
    circular_lowpass_kernel,
    delta_kernel,
    is_delta,
)
from mmdistillmot.datasets.transforms.degradation.ops import separable_terms
from mmdistillmot.datasets.transforms.degradation.params import (
    KernelParams,
    sample_degradation_params,
)

# J1(pi), the Bessel function of the first kind of order 1 at pi (Abramowitz & Stegun table).
J1_AT_PI = 0.2846153431797528


def test_isotropic_gaussian_matches_hand_computation():
    kernel = bivariate_kernel("iso", 3, sigma_x=1.0)
    # exp(-r^2 / 2): centre 1, edge e^-0.5, corner e^-1; normalised by 1 + 4e^-0.5 + 4e^-1.
    total = 1 + 4 * math.exp(-0.5) + 4 * math.exp(-1.0)
    expected = (
        np.array(
            [
                [math.exp(-1.0), math.exp(-0.5), math.exp(-1.0)],
                [math.exp(-0.5), 1.0, math.exp(-0.5)],
                [math.exp(-1.0), math.exp(-0.5), math.exp(-1.0)],
            ]
        )
        / total
    )
    np.testing.assert_allclose(kernel, expected, rtol=1e-12)
    assert kernel[1, 1] == pytest.approx(0.204180, abs=1e-6)


def test_isotropic_plateau_matches_hand_computation():
    # 1 / (1 + r^2) at sigma 1, beta 1: centre 1, edge 1/2, corner 1/3; sum 13/3.
    kernel = bivariate_kernel("plateau_iso", 3, sigma_x=1.0, beta=1.0)
    assert kernel[1, 1] == pytest.approx(3 / 13, rel=1e-12)
    assert kernel[0, 1] == pytest.approx(1.5 / 13, rel=1e-12)
    assert kernel[0, 0] == pytest.approx(1 / 13, rel=1e-12)


def test_generalized_gaussian_with_beta_one_is_the_gaussian():
    np.testing.assert_allclose(
        bivariate_kernel("generalized_aniso", 9, 1.3, 0.7, 0.4, beta=1.0),
        bivariate_kernel("aniso", 9, 1.3, 0.7, 0.4),
        rtol=1e-12,
    )


def test_anisotropic_gaussian_has_its_sigmas_along_its_axes():
    kernel = bivariate_kernel("aniso", 21, sigma_x=2.0, sigma_y=0.8, theta=0.0)
    axis = np.arange(21) - 10
    var_x = float((kernel.sum(axis=0) * axis**2).sum())  # spread along columns (x)
    var_y = float((kernel.sum(axis=1) * axis**2).sum())
    assert var_x == pytest.approx(4.0, rel=1e-3)
    assert var_y == pytest.approx(0.64, rel=1e-3)
    # A quarter turn swaps the axes.
    turned = bivariate_kernel("aniso", 21, sigma_x=2.0, sigma_y=0.8, theta=math.pi / 2)
    np.testing.assert_allclose(turned, kernel.T, atol=1e-12)


def test_sinc_kernel_neighbour_ratio_is_the_bessel_value():
    kernel = circular_lowpass_kernel(math.pi, 7)
    # k(1) / k(0) = (w J1(w) / (2 pi)) / (w^2 / (4 pi)) = 2 J1(w) / w at w = pi.
    assert kernel[3, 4] / kernel[3, 3] == pytest.approx(2 * J1_AT_PI / math.pi, rel=1e-9)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-15)  # circularly symmetric
    assert (kernel < 0).any()  # ringing lobes


@pytest.mark.parametrize("seed", range(12))
def test_every_drawn_kernel_sums_to_one(seed):
    params = sample_degradation_params(np.random.default_rng(seed))
    for spec in (params.stage1.blur, params.stage2.blur, params.final_sinc):
        kernel = spec.build()
        assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
        assert kernel.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("family", GAUSSIAN_FAMILIES)
def test_each_family_sums_to_one_and_peaks_at_the_centre(family):
    kernel = bivariate_kernel(family, 11, 1.5, 0.9, 0.7, beta=1.7)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(np.argmax(kernel), kernel.shape) == (5, 5)


def test_weighted_sinc_blends_towards_the_impulse():
    full = KernelParams(family="sinc", size=9, cutoff=1.2).build()
    half = KernelParams(family="sinc", size=9, cutoff=1.2, weight=0.5).build()
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * delta_kernel(9), atol=1e-15)
    assert is_delta(KernelParams(family="sinc", size=9, cutoff=1.2, weight=0.0).build())


def test_isotropic_kernel_is_rank_one_with_exact_factors():
    spec = KernelParams(family="iso", size=15, sigma_x=2.2, sigma_y=2.2)
    column, row = spec.factors()
    np.testing.assert_allclose(np.outer(column, row), spec.build(), atol=1e-15)
    assert len(separable_terms(spec.build())) == 1


def test_separable_terms_reconstruct_a_rotated_kernel():
    kernel = bivariate_kernel("plateau_aniso", 13, 2.5, 0.6, 0.9, beta=1.4)
    terms = separable_terms(kernel)
    assert 1 < len(terms) <= 13
    rebuilt = sum(np.outer(c, r) for c, r in terms)
    assert np.abs(rebuilt - kernel).sum() < 1e-6


def test_bad_kernel_arguments_are_refused():
    with pytest.raises(ValueError, match="odd"):
        bivariate_kernel("iso", 4, 1.0)
    with pytest.raises(ValueError, match="unknown"):
        bivariate_kernel("box", 5, 1.0)
    with pytest.raises(ValueError, match="cutoff"):
        circular_lowpass_kernel(4.0, 5)
