"""Real-ESRGAN degradation: kernel families, operators, parameter sampling and the transform."""

from mmdistillmot.datasets.transforms.degradation.params import (
    DegradationParams,
    DegradationSettings,
    sample_degradation_params,
    scale_severity,
)
from mmdistillmot.datasets.transforms.degradation.pipeline import apply_degradation
from mmdistillmot.datasets.transforms.degradation.real_esrgan_degradation import (
    RealESRGANDegradation,
)

__all__ = [
    "DegradationParams",
    "DegradationSettings",
    "RealESRGANDegradation",
    "apply_degradation",
    "sample_degradation_params",
    "scale_severity",
]
