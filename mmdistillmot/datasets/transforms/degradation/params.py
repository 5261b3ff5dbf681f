"""Sampling one Real-ESRGAN degradation parameter set, and scaling it by a severity.

A parameter set is drawn at the Real-ESRGAN defaults (:class:`DegradationSettings`) and then
scaled by ``severity`` in [0, 1]: every magnitude moves from its drawn value towards the value
at which its operator does nothing (``p_s = p_identity + severity * (p - p_identity)``):

========================  ==================  =============================================
parameter                 identity value      effect of severity ``s``
========================  ==================  =============================================
USM weight                0                   ``0.5 * s``
blur sigma_x, sigma_y     0 (unit impulse)    ``sigma * s``
sinc kernel               unit impulse        ``(1 - s) * impulse + s * sinc``
resize scale              1                   ``1 + s * (scale - 1)``
Gaussian noise sigma      0                   ``sigma * s``
Poisson noise scale       0                   ``scale * s``
JPEG quality              100 (skipped)       ``100 - s * (100 - quality)``
========================  ==================  =============================================

Choices (kernel family and size, up/down/keep, resize mode, noise kind, grey noise, the order
of the last steps) and shape parameters (rotation, beta) do not depend on the severity, so one
random draw seen at several severities is one degradation made weaker or stronger. Severity 0
is the identity exactly; severity 1 is the Real-ESRGAN x4plus recipe with output scale 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from mmdistillmot.datasets.transforms.degradation.kernels import (
    GAUSSIAN_FAMILIES,
    bivariate_kernel,
    circular_lowpass_kernel,
    delta_kernel,
)
from mmdistillmot.datasets.transforms.degradation.ops import gaussian_kernel_1d

__all__ = [
    "DegradationParams",
    "DegradationSettings",
    "KernelParams",
    "NoiseParams",
    "ResizeParams",
    "StageParams",
    "sample_degradation_params",
    "scale_severity",
]

Range = tuple[float, float]


@dataclass(frozen=True)
class DegradationSettings:
    """The distributions of the degradation; defaults are Real-ESRGAN's x4plus recipe.

    Ranges are ``(low, high)`` of uniform draws; ``*2`` fields belong to the second stage.
    Noise levels are in grey levels of the 8-bit scale.
    """

    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    kernel_families: tuple[str, ...] = GAUSSIAN_FAMILIES
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    rotation_range: Range = (-math.pi, math.pi)
    # A sinc kernel smaller than this size draws its cutoff from sinc_cutoff_small, else from
    # sinc_cutoff_large (small kernels cannot hold a very low cutoff).
    sinc_size_threshold: int = 13
    sinc_cutoff_small: Range = (math.pi / 3, math.pi)
    sinc_cutoff_large: Range = (math.pi / 5, math.pi)
    usm_weight: float = 0.5
    usm_threshold: float = 10.0
    usm_radius: int = 50
    resize_modes: tuple[str, ...] = ("area", "bilinear", "bicubic")
    # Stage 1.
    sinc_prob: float = 0.1
    blur_sigma: Range = (0.2, 3.0)
    betag_range: Range = (0.5, 4.0)
    betap_range: Range = (1.0, 2.0)
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: Range = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: Range = (1.0, 30.0)
    poisson_scale_range: Range = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: Range = (30.0, 95.0)
    # Stage 2.
    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: Range = (0.2, 1.5)
    betag_range2: Range = (0.5, 4.0)
    betap_range2: Range = (1.0, 2.0)
    resize_probs2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: Range = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: Range = (1.0, 25.0)
    poisson_scale_range2: Range = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: Range = (30.0, 95.0)
    # Final step: [resize back + sinc] then JPEG with this probability, else the reverse.
    final_sinc_prob: float = 0.8
    final_sinc_cutoff: Range = (math.pi / 3, math.pi)
    resize_then_jpeg_prob: float = 0.5

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> DegradationSettings:
        """The defaults with some fields replaced.

        Args:
            overrides: Field name to value; lists are turned into tuples.

        Returns:
            The settings.

        Raises:
            ValueError: Naming any key that is not a field.
        """
        if not overrides:
            return cls()
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(
                f"unknown degradation setting(s) {unknown}; valid names: {sorted(names)}"
            )
        values: dict[str, Any] = asdict(cls())
        values.update({k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
        return cls(**values)


@dataclass(frozen=True)
class KernelParams:
    """One blur kernel.

    Attributes:
        family: One of the Gaussian families, ``'sinc'`` or ``'identity'``.
        size: Odd kernel size (1 for ``identity``).
        sigma_x: First-axis standard deviation, pixels (Gaussian families).
        sigma_y: Second-axis standard deviation, pixels.
        theta: Rotation, radians.
        beta: Shape exponent (generalized and plateau families).
        cutoff: Angular cutoff, radians per pixel (``sinc``).
        weight: Weight of the kernel against the unit impulse: ``w * k + (1 - w) * impulse``.
    """

    family: str = "identity"
    size: int = 1
    sigma_x: float = 0.0
    sigma_y: float = 0.0
    theta: float = 0.0
    beta: float = 1.0
    cutoff: float = 0.0
    weight: float = 1.0

    @property
    def is_identity(self) -> bool:
        """Whether this kernel leaves an image unchanged."""
        return self.family == "identity" or self.weight == 0.0

    def build(self) -> np.ndarray:
        """The kernel as an array of shape (size, size), float64, summing to 1."""
        if self.is_identity:
            return delta_kernel(1)
        if self.family == "sinc":
            kernel = circular_lowpass_kernel(self.cutoff, self.size)
        else:
            kernel = bivariate_kernel(
                self.family, self.size, self.sigma_x, self.sigma_y, self.theta, self.beta
            )
        if self.weight != 1.0:
            kernel = self.weight * kernel + (1.0 - self.weight) * delta_kernel(self.size)
        return kernel

    def factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact 1-D factors ``(column, row)`` of an isotropic Gaussian kernel, else ``None``.

        Each factor has shape (size,); their outer product is :meth:`build`'s kernel.
        """
        if self.family != "iso" or self.weight != 1.0:
            return None
        taps = gaussian_kernel_1d(self.size, self.sigma_x)
        return taps, taps


@dataclass(frozen=True)
class ResizeParams:
    """One random resize: ``direction`` up/down/keep, ``scale`` factor, interpolation ``mode``."""

    direction: str = "keep"
    scale: float = 1.0
    mode: str = "bilinear"


@dataclass(frozen=True)
class NoiseParams:
    """One noise draw.

    ``kind`` is gaussian or poisson, ``strength`` the sigma in grey levels or the Poisson scale,
    ``gray`` whether one noise field is shared by all channels.
    """

    kind: str = "gaussian"
    strength: float = 0.0
    gray: bool = False


@dataclass(frozen=True)
class StageParams:
    """One degradation stage: blur, resize, noise, JPEG quality."""

    blur: KernelParams = field(default_factory=KernelParams)
    resize: ResizeParams = field(default_factory=ResizeParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    jpeg_quality: float = 100.0


@dataclass(frozen=True)
class DegradationParams:
    """A complete parameter set of the two-stage degradation (JSON-serialisable).

    Attributes:
        severity: The severity this set was scaled by (1 = as drawn).
        usm_weight: Unsharp-mask weight applied to the clean input.
        usm_threshold: Unsharp-mask residual threshold, grey levels.
        usm_radius: Unsharp-mask Gaussian size.
        stage1: First stage (on the sharpened input).
        stage2: Second stage (its resize is relative to the input size).
        final_sinc: The sinc kernel applied after resizing back (identity when not drawn).
        final_resize_mode: Interpolation of the resize back to the input size.
        resize_then_jpeg: ``True``: [resize back + sinc] then JPEG; ``False``: the reverse.
    """

    severity: float = 1.0
    usm_weight: float = 0.0
    usm_threshold: float = 10.0
    usm_radius: int = 50
    stage1: StageParams = field(default_factory=StageParams)
    stage2: StageParams = field(default_factory=StageParams)
    final_sinc: KernelParams = field(default_factory=KernelParams)
    final_resize_mode: str = "bilinear"
    resize_then_jpeg: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of Python scalars (``json.dumps`` accepts it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DegradationParams:
        """Rebuilds a parameter set from :meth:`to_dict`'s output."""

        def stage(d: dict[str, Any]) -> StageParams:
            return StageParams(
                blur=KernelParams(**d["blur"]),
                resize=ResizeParams(**d["resize"]),
                noise=NoiseParams(**d["noise"]),
                jpeg_quality=d["jpeg_quality"],
            )

        values = dict(data)
        values["stage1"] = stage(data["stage1"])
        values["stage2"] = stage(data["stage2"])
        values["final_sinc"] = KernelParams(**data["final_sinc"])
        return cls(**values)


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _sample_beta(rng: np.random.Generator, bounds: Range) -> float:
    """Real-ESRGAN's beta draw: half the time below 1, half above (a heavier or lighter tail)."""
    if rng.uniform() < 0.5:
        return _uniform(rng, (bounds[0], 1.0))
    return _uniform(rng, (1.0, bounds[1]))


def _sample_blur_kernel(
    rng: np.random.Generator,
    settings: DegradationSettings,
    sinc_prob: float,
    sigma_range: Range,
    betag_range: Range,
    betap_range: Range,
) -> KernelParams:
    """One stage's blur: a sinc with ``sinc_prob``, else a kernel from the mixed families."""
    size = int(rng.choice(settings.kernel_sizes))
    if rng.uniform() < sinc_prob:
        small = size < settings.sinc_size_threshold
        bounds = settings.sinc_cutoff_small if small else settings.sinc_cutoff_large
        return KernelParams(family="sinc", size=size, cutoff=_uniform(rng, bounds))
    probs = np.asarray(settings.kernel_probs, dtype=np.float64)
    family = str(rng.choice(settings.kernel_families, p=probs / probs.sum()))
    sigma_x = _uniform(rng, sigma_range)
    isotropic = family.endswith("iso") and not family.endswith("aniso")
    if isotropic:
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y = _uniform(rng, sigma_range)
        theta = _uniform(rng, settings.rotation_range)
    beta = 1.0
    if family.startswith("generalized"):
        beta = _sample_beta(rng, betag_range)
    elif family.startswith("plateau"):
        beta = _sample_beta(rng, betap_range)
    return KernelParams(
        family=family, size=size, sigma_x=sigma_x, sigma_y=sigma_y, theta=theta, beta=beta
    )


def _sample_resize(
    rng: np.random.Generator,
    settings: DegradationSettings,
    probs: tuple[float, float, float],
    bounds: Range,
) -> ResizeParams:
    direction = str(rng.choice(("up", "down", "keep"), p=np.asarray(probs) / sum(probs)))
    if direction == "up":
        scale = _uniform(rng, (1.0, bounds[1]))
    elif direction == "down":
        scale = _uniform(rng, (bounds[0], 1.0))
    else:
        scale = 1.0
    mode = str(rng.choice(settings.resize_modes))
    return ResizeParams(direction=direction, scale=scale, mode=mode)


def _sample_noise(
    rng: np.random.Generator,
    gaussian_prob: float,
    sigma_range: Range,
    poisson_range: Range,
    gray_prob: float,
) -> NoiseParams:
    if rng.uniform() < gaussian_prob:
        kind, strength = "gaussian", _uniform(rng, sigma_range)
    else:
        kind, strength = "poisson", _uniform(rng, poisson_range)
    return NoiseParams(kind=kind, strength=strength, gray=bool(rng.uniform() < gray_prob))


def _sample_raw(rng: np.random.Generator, settings: DegradationSettings) -> DegradationParams:
    """One parameter set at the settings' own ranges (severity 1)."""
    s = settings
    blur1 = _sample_blur_kernel(rng, s, s.sinc_prob, s.blur_sigma, s.betag_range, s.betap_range)
    blur2 = _sample_blur_kernel(rng, s, s.sinc_prob2, s.blur_sigma2, s.betag_range2, s.betap_range2)
    if rng.uniform() >= s.second_blur_prob:
        blur2 = KernelParams()
    final_sinc = KernelParams()
    if rng.uniform() < s.final_sinc_prob:
        size = int(rng.choice(s.kernel_sizes))
        final_sinc = KernelParams(
            family="sinc", size=size, cutoff=_uniform(rng, s.final_sinc_cutoff)
        )
    stage1 = StageParams(
        blur=blur1,
        resize=_sample_resize(rng, s, s.resize_probs, s.resize_range),
        noise=_sample_noise(
            rng, s.gaussian_noise_prob, s.noise_range, s.poisson_scale_range, s.gray_noise_prob
        ),
        jpeg_quality=_uniform(rng, s.jpeg_range),
    )
    stage2 = StageParams(
        blur=blur2,
        resize=_sample_resize(rng, s, s.resize_probs2, s.resize_range2),
        noise=_sample_noise(
            rng, s.gaussian_noise_prob2, s.noise_range2, s.poisson_scale_range2, s.gray_noise_prob2
        ),
        jpeg_quality=_uniform(rng, s.jpeg_range2),
    )
    return DegradationParams(
        severity=1.0,
        usm_weight=float(s.usm_weight),
        usm_threshold=float(s.usm_threshold),
        usm_radius=int(s.usm_radius),
        stage1=stage1,
        stage2=stage2,
        final_sinc=final_sinc,
        final_resize_mode=str(rng.choice(s.resize_modes)),
        resize_then_jpeg=bool(rng.uniform() < s.resize_then_jpeg_prob),
    )


def _scale_kernel(kernel: KernelParams, severity: float) -> KernelParams:
    if kernel.is_identity:
        return kernel
    if severity == 0.0:
        return KernelParams()
    if kernel.family == "sinc":
        return replace(kernel, weight=kernel.weight * severity)
    return replace(kernel, sigma_x=kernel.sigma_x * severity, sigma_y=kernel.sigma_y * severity)


def _scale_stage(stage: StageParams, severity: float) -> StageParams:
    resize = replace(stage.resize, scale=1.0 + severity * (stage.resize.scale - 1.0))
    noise = replace(stage.noise, strength=stage.noise.strength * severity)
    quality = 100.0 - severity * (100.0 - stage.jpeg_quality)
    return StageParams(
        blur=_scale_kernel(stage.blur, severity),
        resize=resize,
        noise=noise,
        jpeg_quality=quality,
    )


def scale_severity(params: DegradationParams, severity: float) -> DegradationParams:
    """Scales a severity-1 parameter set towards the identity (see the module docstring).

    Args:
        params: A set drawn at severity 1.
        severity: In [0, 1]; 0 gives a set that leaves every image unchanged.

    Returns:
        The scaled set, with ``severity`` recorded.
    """
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must lie in [0, 1], got {severity}")
    if params.severity != 1.0:
        raise ValueError(f"scale_severity needs a severity-1 set, got one at {params.severity}")
    return replace(
        params,
        severity=float(severity),
        usm_weight=params.usm_weight * severity,
        stage1=_scale_stage(params.stage1, severity),
        stage2=_scale_stage(params.stage2, severity),
        final_sinc=_scale_kernel(params.final_sinc, severity),
    )


def sample_degradation_params(
    rng: np.random.Generator,
    severity: float = 1.0,
    settings: DegradationSettings | None = None,
) -> DegradationParams:
    """Draws one degradation parameter set and scales it by ``severity``.

    Args:
        rng: Source of the draws; the same generator state gives the same set.
        severity: In [0, 1]; 0 = identity, 1 = the settings' own ranges.
        settings: The distributions; ``None`` = Real-ESRGAN defaults.

    Returns:
        The parameter set.
    """
    raw = _sample_raw(rng, settings or DegradationSettings())
    return scale_severity(raw, severity)
