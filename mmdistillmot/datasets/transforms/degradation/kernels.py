"""Blur kernel families of the Real-ESRGAN degradation model.

Every kernel is a square, odd-sized, float64 array that sums to 1 and is applied as a
correlation (``cv2.filter2D`` semantics). The families and their formulas follow the
Real-ESRGAN paper (Wang et al., ICCVW 2021):

* ``iso`` / ``aniso``: bivariate Gaussian ``exp(-0.5 * x^T S^-1 x)``;
* ``generalized_iso`` / ``generalized_aniso``: ``exp(-0.5 * (x^T S^-1 x) ** beta)``;
* ``plateau_iso`` / ``plateau_aniso``: ``1 / (1 + (x^T S^-1 x) ** beta)``;
* ``sinc``: the ideal circular low-pass filter ``w * J1(w r) / (2 pi r)`` with cutoff ``w``;

where ``S = R diag(sigma_x^2, sigma_y^2) R^T`` and ``R`` rotates by ``theta`` (isotropic
kernels have ``sigma_y = sigma_x`` and ``theta = 0``). Coordinates ``x`` run over the integer
grid centred on the middle tap.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = [
    "GAUSSIAN_FAMILIES",
    "KERNEL_FAMILIES",
    "bivariate_kernel",
    "circular_lowpass_kernel",
    "covariance_matrix",
    "delta_kernel",
    "is_delta",
    "kernel_grid",
]

#: Families of the "mixed kernel" draw, in the order of Real-ESRGAN's ``kernel_list``.
GAUSSIAN_FAMILIES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)

#: Every family :func:`build_kernel` understands (``identity`` is the unit impulse).
KERNEL_FAMILIES: tuple[str, ...] = GAUSSIAN_FAMILIES + ("sinc", "identity")


def _check_size(size: int) -> None:
    """Raises unless ``size`` is a positive odd integer (kernels need a centre tap)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")


def kernel_grid(size: int) -> np.ndarray:
    """Integer tap coordinates of a ``size x size`` kernel, centred on the middle tap.

    Args:
        size: Odd kernel size.

    Returns:
        Array of shape (size, size, 2) holding ``(x, y)`` per tap, float64; ``x`` runs along
        columns and ``y`` along rows.
    """
    _check_size(size)
    axis = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(axis, axis)
    return np.stack((xx, yy), axis=-1)


def covariance_matrix(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Covariance ``R diag(sigma_x^2, sigma_y^2) R^T`` of a rotated Gaussian.

    Args:
        sigma_x: Standard deviation along the first principal axis, pixels.
        sigma_y: Standard deviation along the second principal axis, pixels.
        theta: Rotation of the principal axes, radians.

    Returns:
        Symmetric positive-definite matrix of shape (2, 2), float64.
    """
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigmas must be > 0, got sigma_x={sigma_x}, sigma_y={sigma_y}")
    cos, sin = math.cos(theta), math.sin(theta)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T


def bivariate_kernel(
    family: str,
    size: int,
    sigma_x: float,
    sigma_y: float | None = None,
    theta: float = 0.0,
    beta: float = 1.0,
) -> np.ndarray:
    """A Gaussian, generalized-Gaussian or plateau kernel, normalised to sum 1.

    Args:
        family: One of :data:`GAUSSIAN_FAMILIES`.
        size: Odd kernel size.
        sigma_x: Standard deviation of the first principal axis, pixels (> 0).
        sigma_y: Standard deviation of the second axis; ignored (``= sigma_x``) by isotropic
            families.
        theta: Rotation in radians; ignored (``= 0``) by isotropic families.
        beta: Shape exponent of the generalized and plateau families (1 for ``iso/aniso``).

    Returns:
        Kernel of shape (size, size), float64, summing to 1.
    """
    if family not in GAUSSIAN_FAMILIES:
        raise ValueError(
            f"unknown Gaussian-type kernel family {family!r}; expected one of {GAUSSIAN_FAMILIES}"
        )
    if family.endswith("iso") and not family.endswith("aniso"):
        sigma_y, theta = sigma_x, 0.0
    elif sigma_y is None:
        raise ValueError(f"family {family!r} needs sigma_y")
    inverse = np.linalg.inv(covariance_matrix(sigma_x, sigma_y, theta))
    grid = kernel_grid(size)
    # Squared Mahalanobis distance of every tap from the centre, shape (size, size).
    distance2 = np.einsum("hwi,ij,hwj->hw", grid, inverse, grid)
    if family.startswith("generalized"):
        kernel = np.exp(-0.5 * np.power(distance2, beta))
    elif family.startswith("plateau"):
        kernel = 1.0 / (np.power(distance2, beta) + 1.0)
    else:
        kernel = np.exp(-0.5 * distance2)
    return kernel / kernel.sum()


def circular_lowpass_kernel(cutoff: float, size: int) -> np.ndarray:
    """The ideal circular low-pass ("sinc") filter, sampled and normalised to sum 1.

    ``k(r) = cutoff * J1(cutoff * r) / (2 pi r)`` with ``k(0) = cutoff^2 / (4 pi)`` (its limit),
    where ``J1`` is the Bessel function of the first kind of order 1. It models ringing and
    overshoot artefacts.

    Args:
        cutoff: Angular cutoff frequency in radians per pixel, in (0, pi].
        size: Odd kernel size.

    Returns:
        Kernel of shape (size, size), float64, summing to 1 (it has negative lobes).
    """
    if not 0 < cutoff <= math.pi + 1e-12:
        raise ValueError(f"sinc cutoff must lie in (0, pi], got {cutoff}")
    radius = np.linalg.norm(kernel_grid(size), axis=-1)
    centre = size // 2
    radius[centre, centre] = 1.0  # placeholder; the centre tap is set to its limit below
    kernel = cutoff * special.j1(cutoff * radius) / (2.0 * math.pi * radius)
    kernel[centre, centre] = cutoff**2 / (4.0 * math.pi)
    return kernel / kernel.sum()


def delta_kernel(size: int = 1) -> np.ndarray:
    """The unit impulse (identity filter) of shape (size, size), float64."""
    _check_size(size)
    kernel = np.zeros((size, size))
    kernel[size // 2, size // 2] = 1.0
    return kernel


def is_delta(kernel: np.ndarray) -> bool:
    """Whether ``kernel`` (shape (k, k)) is exactly the unit impulse, i.e. a no-op filter."""
    centre = kernel.shape[0] // 2
    rest = kernel.copy()
    rest[centre, centre] = 0.0
    return bool(kernel[centre, centre] == 1.0 and not rest.any())
