"""The contract every teacher follows (OSNet, DINOv2, CLIP, ...).

A teacher is built from a config, loads its weights from a local file, is frozen and stays in
eval mode whatever ``train()`` its parent calls, takes the *raw* frames the data pipeline
loaded (uint8, BGR from mmdet's ``LoadImageFromFile`` unless told otherwise) and does its own
preprocessing, runs without autograd, and refuses to run on random weights unless a config sets
``allow_random_init=True`` (tests only).

A subclass:

1. calls ``super().__init__(...)`` first, then builds its network;
2. ends its ``__init__`` with ``self.load_and_freeze()``;
3. implements :meth:`BaseTeacher.extract` (the computation, already inside ``no_grad`` and
   autocast) and, where its file format needs it, sets ``weight_key_renames`` /
   ``ignored_weight_keys`` or overrides :meth:`BaseTeacher.convert_state_dict` and
   :meth:`BaseTeacher.weights_module`.
"""

from __future__ import annotations

import contextlib
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import torch
from mmengine.logging import MMLogger
from torch import nn

from mmdistillmot.models.teachers.weights import LoadedWeights, load_weights_file

__all__ = ["BaseTeacher", "TeacherNotReadyError", "IMAGENET_MEAN", "IMAGENET_STD"]

#: ImageNet mean / std in RGB order on the 0-255 scale (OSNet and DINOv2 use them).
IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)

ChannelOrder = Literal["bgr", "rgb"]
Precision = Literal["fp32", "fp16", "bf16", "auto"]
_PRECISIONS = ("fp32", "fp16", "bf16", "auto")


class TeacherNotReadyError(RuntimeError):
    """A teacher was called without weights (and without ``allow_random_init=True``)."""


def _to_float32(output: Any) -> Any:
    """Cast every floating tensor in a (nested) output to float32."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, list | tuple):
        return type(output)(_to_float32(o) for o in output)
    if isinstance(output, dict):
        return {k: _to_float32(v) for k, v in output.items()}
    return output


class BaseTeacher(nn.Module, metaclass=ABCMeta):
    """Base class of frozen, self-preprocessing teachers.

    Args:
        weights: Local weight file. ``None`` means no weights: the teacher then refuses to run
            unless ``allow_random_init`` is true.
        allow_random_init: Let the teacher run with random weights (tests only; a loud warning
            is logged).
        channel_order: Channel order of the raw frames given to ``forward``: ``'bgr'`` (what
            mmdet's ``LoadImageFromFile`` gives) or ``'rgb'``.
        precision: ``'fp32'``, ``'fp16'``, ``'bf16'`` (autocast on the input's device), or
            ``'auto'``: bf16 on CUDA devices that support it, else fp16 on CUDA, fp32 on CPU.
            Outputs are always returned as float32.
        mean: Normalisation mean, RGB, on the 0-255 scale.
        std: Normalisation std, RGB, on the 0-255 scale.
    """

    pixel_mean: torch.Tensor  # [1, 3, 1, 1] RGB mean on the 0-255 scale (a buffer)
    pixel_std: torch.Tensor  # [1, 3, 1, 1] RGB std on the 0-255 scale (a buffer)

    #: Regex ``(pattern, replacement)`` pairs applied to the keys of a weight file.
    weight_key_renames: Sequence[tuple[str, str]] = ()
    #: Regex patterns of weight-file keys dropped on purpose (e.g. a training classifier).
    ignored_weight_keys: Sequence[str] = ()

    def __init__(
        self,
        weights: str | None = None,
        allow_random_init: bool = False,
        channel_order: ChannelOrder = "bgr",
        precision: Precision = "auto",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if channel_order not in ("bgr", "rgb"):
            raise ValueError(
                f"{type(self).__name__}: channel_order must be 'bgr' or 'rgb', got "
                f"{channel_order!r}."
            )
        if precision not in _PRECISIONS:
            raise ValueError(
                f"{type(self).__name__}: precision must be one of {_PRECISIONS}, got {precision!r}."
            )
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"{type(self).__name__}: mean and std need 3 values (RGB).")
        self.weights = weights
        self.allow_random_init = allow_random_init
        self.channel_order: ChannelOrder = channel_order
        self.precision: Precision = precision
        self.weights_sha256: str | None = None
        self.weights_loaded = False
        self._setup_done = False
        # Non-persistent: the normalisation is configuration, not a weight, and must not enter
        # any checkpoint.
        self.register_buffer(
            "pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), False
        )

    # ------------------------------------------------------------------ identity
    @property
    def teacher_name(self) -> str:
        """Name used in messages and fingerprints, e.g. ``'OSNetTeacher(osnet_x1_0)'``."""
        arch = getattr(self, "arch", None)
        return f"{type(self).__name__}({arch})" if arch else type(self).__name__

    def fingerprint(self) -> dict[str, Any]:
        """Describe what this teacher computes, for stores of precomputed outputs.

        Returns:
            ``name`` (class), ``arch``, ``weights`` (path or None), ``weights_sha256``,
            ``channel_order``, ``precision``, ``mean``, ``std``, plus what
            :meth:`extra_fingerprint` adds (input size, output dim, ...). JSON-serialisable.
        """
        info: dict[str, Any] = {
            "name": type(self).__name__,
            "arch": getattr(self, "arch", None),
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "random_init": not self.weights_loaded,
            "channel_order": self.channel_order,
            "precision": self.precision,
            "mean": [round(float(v), 4) for v in self.pixel_mean.flatten()],
            "std": [round(float(v), 4) for v in self.pixel_std.flatten()],
        }
        info.update(self.extra_fingerprint())
        return info

    def extra_fingerprint(self) -> dict[str, Any]:
        """Subclass-specific fingerprint fields (input size, output dim, options)."""
        return {}

    # ------------------------------------------------------------------ weights
    def weights_module(self) -> nn.Module:
        """The submodule whose ``state_dict`` names the weight file's keys (default: self)."""
        return self

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Convert a foreign file layout to this network's (default: unchanged).

        Args:
            state_dict: The unwrapped name -> tensor dict read from the weight file.

        Returns:
            The dict with this network's names and shapes.
        """
        return state_dict

    def load_weights(self, path: str) -> LoadedWeights:
        """Load a local weight file, record its hash, and re-freeze.

        Args:
            path: Local weight file.

        Returns:
            The loading report (path, sha256, unexpected and ignored keys).
        """
        report = load_weights_file(
            self.weights_module(),
            path,
            owner=self.teacher_name,
            key_renames=self.weight_key_renames,
            ignore_keys=self.ignored_weight_keys,
            convert=self.convert_state_dict,
        )
        self.weights = path
        self.weights_sha256 = report.sha256
        self.weights_loaded = True
        self._freeze()
        return report

    def load_and_freeze(self) -> None:
        """Load ``self.weights`` (if given), freeze, and switch to eval; ends ``__init__``."""
        if self.weights is not None:
            report = self.load_weights(self.weights)
            MMLogger.get_current_instance().info(
                f"{self.teacher_name}: loaded {report.num_loaded} tensors from '{report.path}' "
                f"(sha256 {report.sha256[:12]}..., {len(report.ignored_keys)} ignored)."
            )
        elif self.allow_random_init:
            MMLogger.get_current_instance().warning(
                f"!!! {self.teacher_name} runs with RANDOM weights (allow_random_init=True). "
                "Its outputs are meaningless; this is for tests only. !!!"
            )
        self._freeze()
        self._setup_done = True

    def init_weights(self) -> None:
        """Re-read the weight file.

        mmengine's ``BaseModule.init_weights`` of a parent may apply its ``init_cfg`` to every
        submodule (teacher included) before calling the children's ``init_weights``; reloading
        here restores the teacher's weights after such an initialiser.
        """
        if self.weights_loaded and self.weights is not None:
            self.load_weights(self.weights)

    def _freeze(self) -> None:
        """Freeze every parameter and switch to eval mode."""
        self.requires_grad_(False)
        super().train(False)

    # ------------------------------------------------------------------ mode
    def train(self, mode: bool = True) -> BaseTeacher:
        """Keep eval mode whatever ``mode`` is asked (BatchNorm statistics must not move).

        Args:
            mode: Ignored.

        Returns:
            self.
        """
        return super().train(False)

    # ------------------------------------------------------------------ input helpers
    @property
    def device(self) -> torch.device:
        """The device of the teacher's buffers (where inputs are moved)."""
        return self.pixel_mean.device

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype for ``device`` under ``self.precision`` (None = full fp32).

        Args:
            device: The device the computation runs on.

        Returns:
            ``torch.float16``, ``torch.bfloat16`` or None.
        """
        if self.precision == "fp16":
            return torch.float16
        if self.precision == "bf16":
            return torch.bfloat16
        if self.precision == "auto" and device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None

    def image_list(self, images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Split raw frames into a list of float ``[3, H, W]`` tensors on the teacher's device.

        Args:
            images: uint8 (or float on the 0-255 scale) frames, ``[B, 3, H, W]`` or a sequence of
                ``[3, H_i, W_i]``, in ``self.channel_order``.

        Returns:
            ``B`` float32 tensors ``[3, H_i, W_i]``, still in the input channel order and scale.
        """
        if isinstance(images, torch.Tensor):
            if images.dim() != 4 or images.shape[1] != 3:
                raise ValueError(
                    f"{self.teacher_name}: images must be [B, 3, H, W], got {tuple(images.shape)}."
                )
            frames = list(images.unbind(0))
        else:
            frames = list(images)
        out = []
        for i, frame in enumerate(frames):
            if frame.dim() != 3 or frame.shape[0] != 3:
                raise ValueError(
                    f"{self.teacher_name}: image {i} must be [3, H, W], got {tuple(frame.shape)}."
                )
            out.append(frame.to(self.device, non_blocking=True).float())
        return out

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Reorder channels to RGB and normalise with the teacher's own mean / std.

        Args:
            images: ``[B, 3, H, W]`` float frames on the 0-255 scale in ``self.channel_order``.

        Returns:
            ``[B, 3, H, W]`` normalised RGB.
        """
        if self.channel_order == "bgr":
            images = images.flip(1)
        return (images - self.pixel_mean) / self.pixel_std

    # ------------------------------------------------------------------ forward
    @abstractmethod
    def extract(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the teacher's outputs (runs inside ``no_grad`` and autocast)."""

    def check_ready(self) -> None:
        """Raise unless the teacher has weights (or may run without).

        Raises:
            TeacherNotReadyError: No weights were loaded and ``allow_random_init`` is false, or
                the subclass did not finish its set-up with :meth:`load_and_freeze`.
        """
        if not self._setup_done:
            raise TeacherNotReadyError(
                f"{type(self).__name__}.__init__ must end with self.load_and_freeze()."
            )
        if not self.weights_loaded and not self.allow_random_init:
            raise TeacherNotReadyError(
                f"{self.teacher_name} has no weights: set weights='path/to/file' in its config "
                "(allow_random_init=True is for tests only)."
            )

    @torch.no_grad()
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run :meth:`extract` without autograd, in the configured precision.

        Returns:
            What :meth:`extract` returns, floating tensors cast to float32.
        """
        self.check_ready()
        if any(m.training for m in self.modules()):
            # someone switched a submodule to train mode directly; the contract is eval always
            super().train(False)
        dtype = self.autocast_dtype(self.device)
        context = (
            torch.autocast(device_type=self.device.type, dtype=dtype)
            if dtype is not None
            else contextlib.nullcontext()
        )
        with context:
            output = self.extract(*args, **kwargs)
        return _to_float32(output)
