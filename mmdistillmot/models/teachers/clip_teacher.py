"""CLIP teacher: a frozen open_clip image encoder giving one global feature per frame.

VSD-MOT distils the image feature of OpenAI's CLIP (``T`` in R^{1 x 1024}): open_clip's
``RN50-quickgelu`` with the ``openai`` weights gives 1024-d features (``ViT-H-14`` too). Only
the image tower is built (``open_clip.model._build_vision_tower`` with the architecture's
config): the text tower is never used, and for ViT-H-14 it would cost 350 M parameters.
(RN50 and RN50-quickgelu have the same image tower: QuickGELU only changes the text tower.)

Preprocessing, from the raw frame (never from the student's normalised tensor: the authors'
code scaled that by 255 and cast it to uint8, so every negative value wrapped around):

* ``resize_mode='center_crop'`` (default): CLIP's own preprocessing, i.e. the short side
  resized to 224 then the central 224 x 224 crop. Done here as the equivalent crop-then-resize
  (crop the central square of the frame, resize it to 224 x 224: the same pixels, far cheaper
  on a 1080p frame). Chosen because it is the distribution the CLIP weights were trained on
  and what ``open_clip.create_model_and_transforms`` gives; it drops the left and right 22 %
  of a 16:9 frame.
* ``resize_mode='resize'``: the whole frame squashed to 224 x 224 (keeps the frame's edges,
  distorts the aspect ratio).

Resizing is torch's bicubic with antialiasing (``F.interpolate``; CLIP's own ``Resize`` uses
PIL's bicubic, whose kernel and rounding differ slightly, so values are close to, not equal to,
CLIP's preprocessing), clamped to 0-255, then RGB mean (0.48145466, 0.4578275, 0.40821073)
and std (0.26862954, 0.26130258, 0.27577711) on the 0-1 scale. The output is ``encode_image``
without normalisation: ``[B, D]``.

Weights (local files only; open_clip is never asked to download anything):

* open_clip's checkpoint format, i.e. what ``create_model(..., pretrained=PATH)`` reads: the
  whole CLIP model's state dict (``visual.*``, ``transformer.*``, ``token_embedding.*``, ...),
  possibly nested under ``state_dict`` with DDP's ``module.`` prefix (open_clip's training
  checkpoints), e.g. ``open_clip_pytorch_model.bin`` of the ``timm/resnet50_clip.openai``
  release. The ``visual.*`` part is loaded, the text tower ignored.
* a plain state dict of the image tower (``conv1.weight``, ``attnpool.c_proj.weight``, ...).

OpenAI's original ``RN50.pt`` is a TorchScript archive and ``.safetensors`` files are not
pickles; both are refused with the one-line conversion to a state dict.
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import open_clip
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from open_clip.model import _build_vision_tower
from torch import nn

from mmdistillmot.models.teachers.base_teacher import BaseTeacher, ChannelOrder, Precision
from mmdistillmot.models.teachers.weights import LoadedWeights

__all__ = ["CLIPTeacher", "CLIP_MEAN", "CLIP_STD", "clip_visual_state_dict"]

#: OpenAI CLIP normalisation, RGB, on the 0-255 scale (the 0-1 values x 255).
CLIP_MEAN: tuple[float, float, float] = tuple(  # type: ignore[assignment]
    v * 255.0 for v in (0.48145466, 0.4578275, 0.40821073)
)
CLIP_STD: tuple[float, float, float] = tuple(  # type: ignore[assignment]
    v * 255.0 for v in (0.26862954, 0.26130258, 0.27577711)
)

ResizeMode = Literal["center_crop", "resize"]
_VISUAL_PREFIX = "visual."


def clip_visual_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The image tower's weights out of a whole-CLIP state dict (a plain one passes unchanged).

    Args:
        state_dict: Name -> tensor, either open_clip's whole model (``visual.*`` keys beside
            the text tower's) or the image tower alone.

    Returns:
        The image tower's state dict with its own key names.
    """
    if any(k.startswith(_VISUAL_PREFIX) for k in state_dict):
        return {
            k[len(_VISUAL_PREFIX) :]: v
            for k, v in state_dict.items()
            if k.startswith(_VISUAL_PREFIX)
        }
    return dict(state_dict)


def _deep_update(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively update nested dicts (``vision_cfg`` overrides keep the other fields)."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _refuse_unpicklable(path: str) -> None:
    """Raise a clear error for weight formats the safe loader cannot read."""
    if path.endswith(".safetensors"):
        raise ValueError(
            f"CLIPTeacher: '{path}' is a safetensors file; convert it once with "
            "`torch.save(safetensors.torch.load_file(PATH), 'clip.pth')` and give that file."
        )
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
            raise ValueError(
                f"CLIPTeacher: '{path}' is a TorchScript archive (OpenAI's original release); "
                "convert it once with `torch.save(torch.jit.load(PATH, map_location='cpu')"
                ".state_dict(), 'clip.pth')` and give that file."
            )


@MODELS.register_module()
class CLIPTeacher(BaseTeacher):
    """Frozen CLIP image encoder returning the image feature of each raw frame.

    Args:
        arch: open_clip architecture name (``'RN50-quickgelu'`` = OpenAI RN50, 1024-d;
            ``'ViT-H-14'``, 1024-d; any name in ``open_clip.list_models()``).
        weights: Local weight file (open_clip's whole-model checkpoint or the image tower's
            state dict). Required unless ``allow_random_init``.
        allow_random_init: Run with random weights (tests only).
        channel_order: Channel order of the raw frames given to ``forward``.
        precision: ``'auto'`` (bf16 on CUDA where supported, else fp16; fp32 on CPU),
            ``'fp32'``, ``'fp16'`` or ``'bf16'``.
        resize_mode: ``'center_crop'`` (CLIP's preprocessing) or ``'resize'`` (whole frame).
        model_cfg: Overrides of the architecture's open_clip config (``embed_dim``,
            ``vision_cfg`` fields, ``quick_gelu``); tests use them for tiny models. A weight
            file must then match the changed architecture.
    """

    def __init__(
        self,
        arch: str = "RN50-quickgelu",
        weights: str | None = None,
        allow_random_init: bool = False,
        channel_order: ChannelOrder = "bgr",
        precision: Precision = "auto",
        resize_mode: ResizeMode = "center_crop",
        model_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            weights=weights,
            allow_random_init=allow_random_init,
            channel_order=channel_order,
            precision=precision,
            mean=CLIP_MEAN,
            std=CLIP_STD,
        )
        if resize_mode not in ("center_crop", "resize"):
            raise ValueError(
                f"CLIPTeacher: resize_mode must be 'center_crop' or 'resize', got {resize_mode!r}."
            )
        if ":" in arch:
            raise ValueError(
                f"CLIPTeacher: arch {arch!r} names a hub or directory schema; give a built-in "
                "open_clip architecture name and the weights as a local file."
            )
        config = open_clip.get_model_config(arch)
        if config is None:
            raise ValueError(
                f"CLIPTeacher: unknown open_clip architecture {arch!r} "
                "(see open_clip.list_models())."
            )
        self.arch = arch
        self.model_cfg = dict(model_cfg or {})
        config = _deep_update(config, self.model_cfg)
        vision_cfg = dict(config["vision_cfg"])
        if vision_cfg.get("timm_model_name") and vision_cfg.get("timm_model_pretrained"):
            raise ValueError("CLIPTeacher: timm_model_pretrained would download weights.")
        self.embed_dim = int(config["embed_dim"])
        size = vision_cfg.get("image_size", 224)
        self.input_size: tuple[int, int] = (
            (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        )
        self.resize_mode: ResizeMode = resize_mode
        # random init here; weights come from the local file in load_and_freeze()
        self.visual: nn.Module = _build_vision_tower(
            self.embed_dim, vision_cfg, quick_gelu=bool(config.get("quick_gelu", False))
        )
        self.load_and_freeze()

    @property
    def out_channels(self) -> int:
        """Size of the image feature (1024 for RN50 / ViT-H-14)."""
        return self.embed_dim

    def weights_module(self) -> nn.Module:
        """The image tower: weight files are converted to its key names."""
        return self.visual

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Keep the ``visual.*`` part of a whole-CLIP checkpoint (a plain one is unchanged)."""
        return clip_visual_state_dict(state_dict)

    def load_weights(self, path: str) -> LoadedWeights:
        """Load a local weight file (refusing TorchScript and safetensors with a hint).

        Args:
            path: Local weight file.

        Returns:
            The loading report.
        """
        _refuse_unpicklable(path)
        return super().load_weights(path)

    def extra_fingerprint(self) -> dict[str, Any]:
        """Input size, resize mode, output size and architecture overrides."""
        return {
            "input_size": list(self.input_size),
            "resize_mode": self.resize_mode,
            "out_channels": self.embed_dim,
            "model_cfg": {k: repr(v) for k, v in sorted(self.model_cfg.items())},
        }

    def preprocess_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """Crop (``center_crop``) and resize one raw frame to the input size.

        Args:
            frame: ``[3, H, W]`` float frame, 0-255, raw channel order.

        Returns:
            ``[3, h, w]`` (``input_size``), 0-255, raw channel order (not yet normalised).
        """
        th, tw = self.input_size
        if self.resize_mode == "center_crop":
            height, width = frame.shape[-2:]
            # the largest central window with the target's aspect ratio
            ch, cw = min(height, round(width * th / tw)), min(width, round(height * tw / th))
            top, left = int(round((height - ch) / 2.0)), int(round((width - cw) / 2.0))
            frame = frame[:, top : top + ch, left : left + cw]
        if tuple(frame.shape[-2:]) != (th, tw):
            shrink = frame.shape[-2] > th or frame.shape[-1] > tw
            frame = F.interpolate(
                frame[None], size=(th, tw), mode="bicubic", align_corners=False, antialias=shrink
            )[0].clamp(0.0, 255.0)  # bicubic overshoots; PIL clamps to the uint8 range
        return frame

    def preprocess(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """CLIP's input from raw frames.

        Args:
            images: Raw frames ``[B, 3, H, W]`` (uint8 or float 0-255) in ``channel_order``,
                or a sequence of ``[3, H_i, W_i]``.

        Returns:
            ``[B, 3, h, w]`` normalised RGB.
        """
        frames = [self.preprocess_frame(f) for f in self.image_list(images)]
        return self.normalize(torch.stack(frames))

    def extract(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """Image features (``encode_image``, not L2-normalised).

        Args:
            images: Raw frames ``[B, 3, H, W]`` (uint8 or float 0-255) in ``channel_order``,
                or a sequence of ``[3, H, W]``.

        Returns:
            ``[B, D]`` (D = 1024 for RN50 / ViT-H-14).
        """
        return self.visual(self.preprocess(images))
