"""``RealESRGANDegradation``: the Real-ESRGAN two-stage degradation as an mmdet transform."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

from mmdistillmot.datasets.transforms.degradation.params import (
    DegradationParams,
    DegradationSettings,
    sample_degradation_params,
)
from mmdistillmot.datasets.transforms.degradation.pipeline import (
    CHANNEL_ORDERS,
    apply_degradation,
)

__all__ = ["RealESRGANDegradation", "derive_seed", "frame_name", "sequence_name"]

CONSISTENCY_MODES = ("per_frame", "per_sequence")

#: Keys that name a sequence explicitly, tried in this order before the image path.
SEQUENCE_KEYS = ("video_name", "seq_name", "sequence_name")


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from the text of ``parts`` (stable across processes and runs).

    Python's ``hash`` is salted per process, so SHA-256 of the joined parts is used instead.
    """
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def sequence_name(results: dict[str, Any]) -> str | None:
    """The name of the video a sample belongs to, or ``None`` when it cannot be told.

    Tried in order: an explicit ``video_name`` / ``seq_name`` / ``sequence_name`` key; the
    sequence folder of ``img_path`` (``.../<SEQ>/img1/<frame>.jpg`` in MOTChallenge and
    DanceTrack layouts gives ``<SEQ>``; any other path gives the image's parent folder name);
    else ``video_id`` (as ``'video_id=<n>'``).

    Args:
        results: The sample's results dict.

    Returns:
        The sequence name.
    """
    for key in SEQUENCE_KEYS:
        if results.get(key) is not None:
            return str(results[key])
    img_path = results.get("img_path")
    if img_path:
        parent = Path(img_path).parent
        if parent.name == "img1" and parent.parent.name:
            return parent.parent.name
        if parent.name:
            return parent.name
    if results.get("video_id") is not None:
        return f"video_id={results['video_id']}"
    return None


def frame_name(results: dict[str, Any]) -> str | None:
    """The frame's name within its sequence: the file stem of ``img_path``, else ``frame_id``."""
    img_path = results.get("img_path")
    if img_path:
        return Path(img_path).stem
    if results.get("frame_id") is not None:
        return str(results["frame_id"])
    return None


@TRANSFORMS.register_module()
class RealESRGANDegradation(BaseTransform):
    """Degrades ``results['img']`` with the two-stage Real-ESRGAN model at output scale 1.

    USM sharpening, two blur stages (Gaussian, generalized-Gaussian and plateau kernels,
    isotropic or anisotropic, or sinc), random up/down/keep resizes, Gaussian or Poisson
    (colour or grey) noise, JPEG, and a final [resize back + sinc] / JPEG in random order (see
    :mod:`mmdistillmot.datasets.transforms.degradation.pipeline`). The output has the input's
    size and dtype (uint8), so boxes and masks are unchanged.

    Randomness:

    * ``consistency='per_frame'``: every frame draws its own parameters (as the VSD-MOT authors
      built LQDanceTrack / LQMOT).
    * ``consistency='per_sequence'``: one parameter set per video, drawn from
      ``derive_seed(seed, 'params', <sequence>)``, so every frame of a sequence looks as if shot
      by one camera; the noise realisation still changes per frame.

    With ``seed`` given, everything is a deterministic function of ``(seed, sequence, frame)``
    (see :func:`sequence_name` and :func:`frame_name`), independent of call order, worker or
    epoch; with ``seed=None`` per-frame draws are fresh each call and per-sequence draws are
    fixed for the life of the transform object (a random base seed drawn at construction).

    Inside ``TransformBroadcaster(share_random_params=True)`` the parameter draw is shared by all
    frames of the clip (the draw is a ``cache_randomness`` method); noise stays per frame.

    The drawn parameters are stored in ``results['degradation_params']`` (a JSON-serialisable
    dict: the parameter set plus ``noise_seed``, ``seed``, ``consistency``, ``sequence``,
    ``frame``); add ``'degradation_params'`` to the packing transform's ``meta_keys`` to carry it
    into the data sample's metainfo.

    Args:
        severity: In [0, 1]; scales every magnitude from the identity (0: the image is
            returned unchanged) to the Real-ESRGAN defaults (1).
        consistency: ``'per_frame'`` or ``'per_sequence'``.
        seed: Base seed; ``None`` for non-reproducible draws.
        channel_order: Channel order of ``results['img']``: ``'bgr'`` (mmcv's loading default)
            or ``'rgb'``.
        settings: Overrides of :class:`DegradationSettings` fields (e.g.
            ``dict(final_sinc_prob=0.5)``).
    """

    def __init__(
        self,
        severity: float = 1.0,
        consistency: str = "per_frame",
        seed: int | None = None,
        channel_order: str = "bgr",
        settings: dict[str, Any] | None = None,
    ) -> None:
        if not 0.0 <= float(severity) <= 1.0:
            raise ValueError(f"RealESRGANDegradation: severity must lie in [0, 1], got {severity}")
        if consistency not in CONSISTENCY_MODES:
            raise ValueError(
                f"RealESRGANDegradation: consistency must be one of {CONSISTENCY_MODES}, "
                f"got {consistency!r}"
            )
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(
                f"RealESRGANDegradation: channel_order must be one of {CHANNEL_ORDERS}, "
                f"got {channel_order!r}"
            )
        self.severity = float(severity)
        self.consistency = consistency
        self.seed = seed
        self.channel_order = channel_order
        self.settings = DegradationSettings.from_overrides(settings)
        # Per-sequence draws without a seed still need one base for the life of the object
        # (and of its copies in data-loader workers), so all frames of a video agree.
        self._base_seed: int | None = seed
        if seed is None and consistency == "per_sequence":
            self._base_seed = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]

    @cache_randomness
    def _draw_params(self, sequence: str | None, frame: str | None) -> DegradationParams:
        """The parameter set of one frame (shared by a clip inside a broadcaster)."""
        if self.consistency == "per_sequence":
            rng = np.random.default_rng(derive_seed(self._base_seed, "params", sequence))
        elif self._base_seed is not None:
            rng = np.random.default_rng(derive_seed(self._base_seed, "params", sequence, frame))
        else:
            rng = np.random.default_rng()
        return sample_degradation_params(rng, self.severity, self.settings)

    def _noise_seed(self, sequence: str | None, frame: str | None) -> int:
        """The seed of one frame's noise realisation (never shared between frames)."""
        if self._base_seed is None:
            return int(np.random.default_rng().integers(1 << 63))
        return derive_seed(self._base_seed, "noise", sequence, frame)

    def transform(self, results: dict[str, Any]) -> dict[str, Any]:
        """Degrades ``results['img']`` in place of the original.

        Args:
            results: Needs ``img`` (uint8, shape (H, W[, C])); uses ``img_path``, the sequence
                keys or ``video_id``, and ``frame_id`` for the seeding.

        Returns:
            ``results`` with a degraded ``img`` of the same shape and dtype, and
            ``degradation_params``.

        Raises:
            KeyError: When ``img`` is missing, or ``per_sequence`` mode cannot tell the
                sequence.
            TypeError: When ``img`` is not uint8.
        """
        if "img" not in results:
            raise KeyError("RealESRGANDegradation: results has no 'img'; load the image first")
        img = results["img"]
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            dtype = getattr(img, "dtype", type(img).__name__)
            raise TypeError(f"RealESRGANDegradation: results['img'] must be uint8, got {dtype}")
        sequence, frame = self._names(results)
        params = self._draw_params(sequence, frame)
        noise_seed = self._noise_seed(sequence, frame)
        if self.severity > 0.0:
            results["img"] = apply_degradation(
                img, params, np.random.default_rng(noise_seed), self.channel_order
            )
        results["degradation_params"] = self._record(params, noise_seed, sequence, frame)
        return results

    def describe(self, results: dict[str, Any]) -> dict[str, Any]:
        """The ``degradation_params`` record :meth:`transform` would store, without degrading.

        Deterministic when ``seed`` is given (the parameters depend only on the seed, the
        sequence and the frame), so a tool can re-derive the record of a frame it degraded
        earlier without decoding the image.

        Args:
            results: The sample's results dict (``img`` is not needed).

        Returns:
            The JSON-serialisable record.
        """
        sequence, frame = self._names(results)
        params = self._draw_params(sequence, frame)
        return self._record(params, self._noise_seed(sequence, frame), sequence, frame)

    def _names(self, results: dict[str, Any]) -> tuple[str | None, str | None]:
        """The sequence and frame names that key the draws; checks per-sequence needs."""
        sequence, frame = sequence_name(results), frame_name(results)
        if self.consistency == "per_sequence" and sequence is None:
            raise KeyError(
                "RealESRGANDegradation(consistency='per_sequence') cannot tell the sequence: "
                f"results needs one of {SEQUENCE_KEYS}, 'img_path' or 'video_id'"
            )
        return sequence, frame

    def _record(
        self,
        params: DegradationParams,
        noise_seed: int,
        sequence: str | None,
        frame: str | None,
    ) -> dict[str, Any]:
        record = params.to_dict()
        record.update(
            noise_seed=noise_seed,
            seed=self._base_seed,
            consistency=self.consistency,
            sequence=sequence,
            frame=frame,
        )
        return record

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(severity={self.severity}, "
            f"consistency={self.consistency!r}, seed={self.seed}, "
            f"channel_order={self.channel_order!r})"
        )
