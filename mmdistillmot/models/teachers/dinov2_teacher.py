"""DINOv2 teacher: a frozen timm ViT-{S,B,L,g}/14 giving last-layer patch-token maps.

Input: raw frames (0-255, ``channel_order``). The teacher resizes them to a size divisible by
the patch size (14), normalises with ImageNet mean/std in RGB, runs the ViT and returns the
last layer's patch tokens after the final LayerNorm as a map ``[B, C, H/14, W/14]`` (C = 384,
768, 1024, 1536 for small, base, large, giant).

Input size. The ViT is built with ``dynamic_img_size=True``: its 37x37 (518 px) position
embeddings are resampled to whatever patch grid the input has, so any size divisible by 14
works with the released weights. Frames are *resized* (bilinear) to the nearest multiple of 14
per side (1088x608 -> 1092x602, a 78x43 grid) rather than padded: padding would add patches of
pad value with no image behind them, and the resize changes the aspect ratio by under 1 %.
``input_size`` fixes another size (e.g. a smaller one to save teacher time). The position
embeddings are resampled by timm (bicubic to the target grid); the original DINOv2 code
resamples with a scale factor offset by 0.1, so at sizes other than 518 the two differ
slightly in the position embeddings (the weights are the same).

Weights. ``weights`` is a local file in timm's layout (e.g. the ``pytorch_model.bin`` /
``.pth`` of ``timm/vit_base_patch14_dinov2.lvd142m``) or in the original release layout of
facebookresearch/dinov2 (``dinov2_vitb14_pretrain.pth``). The two differ in: ``mask_token``
(original only, used for iBOT masking in training; dropped), the giant model's SwiGLU MLP
(``mlp.w12`` / ``mlp.w3`` in the original, ``mlp.fc1`` / ``mlp.fc2`` in timm, same packing
and order: ``silu(first half) * second half``), training checkpoints with chunked blocks
(``blocks.<chunk>.<index>.*``) and a ``backbone.`` prefix, and the register variants
(``register_tokens`` -> ``reg_token``; timm's reg4 models keep the class token out of the
position embedding, so the original's first position embedding is added to the class token).
All other names (``cls_token``, ``pos_embed`` [1, 1 + 37*37, C], ``patch_embed.proj``,
``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm``)
are the same in both. No hub is contacted: the timm model is always created with
``pretrained=False`` and filled from the local file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import timm
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import nn

from mmdistillmot.models.teachers.base_teacher import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BaseTeacher,
    ChannelOrder,
    Precision,
)

__all__ = ["DINOv2Teacher", "DINOV2_ARCHS", "convert_dinov2_state_dict"]

#: Short names -> timm model names (the ``.lvd142m`` tag names the released weights).
DINOV2_ARCHS: dict[str, str] = {
    "small": "vit_small_patch14_dinov2",
    "base": "vit_base_patch14_dinov2",
    "large": "vit_large_patch14_dinov2",
    "giant": "vit_giant_patch14_dinov2",
    "small_reg4": "vit_small_patch14_reg4_dinov2",
    "base_reg4": "vit_base_patch14_reg4_dinov2",
    "large_reg4": "vit_large_patch14_reg4_dinov2",
    "giant_reg4": "vit_giant_patch14_reg4_dinov2",
}

_CHUNKED_BLOCK = re.compile(r"^blocks\.\d+\.(\d+)\.")
_SWIGLU_RENAMES = (
    (re.compile(r"\.mlp\.w12\."), ".mlp.fc1."),
    (re.compile(r"\.mlp\.w3\."), ".mlp.fc2."),
)


def convert_dinov2_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert an original-release DINOv2 state dict to timm's names (timm's passes unchanged).

    Args:
        state_dict: Name -> tensor, from ``dinov2_vit*14*_pretrain.pth`` or from timm.

    Returns:
        A new dict with timm's names.
    """
    sd = dict(state_dict)
    if sd and all(k.startswith("backbone.") for k in sd if not k.startswith(("dino_", "ibot_"))):
        # a DINOv2 training checkpoint: the backbone beside the projection heads
        sd = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key == "mask_token":
            continue  # iBOT masking token: training only
        key = _CHUNKED_BLOCK.sub(r"blocks.\1.", key)  # BlockChunk keeps the global index
        for pattern, repl in _SWIGLU_RENAMES:
            key = pattern.sub(repl, key)
        out[key] = value
    if "register_tokens" in out:
        # timm's reg4 DINOv2 models use no_embed_class: position embeddings cover patches only
        out["reg_token"] = out.pop("register_tokens")
        pos_embed = out["pos_embed"]
        out["cls_token"] = out["cls_token"] + pos_embed[:, :1]
        out["pos_embed"] = pos_embed[:, 1:]
    return out


@MODELS.register_module()
class DINOv2Teacher(BaseTeacher):
    """Frozen DINOv2 ViT returning the last-layer patch-token map.

    Args:
        arch: ``'small'``, ``'base'``, ``'large'``, ``'giant'`` (or ``*_reg4``), or a timm
            model name such as ``'vit_base_patch14_dinov2'``.
        weights: Local weight file (timm or original DINOv2 layout). Required unless
            ``allow_random_init``.
        allow_random_init: Run with random weights (tests only).
        channel_order: Channel order of the raw frames given to ``forward``.
        precision: ``'auto'`` (bf16 on CUDA where supported, else fp16; fp32 on CPU),
            ``'fp32'``, ``'fp16'`` or ``'bf16'``.
        input_size: ``(h, w)`` the frames are resized to, both divisible by the patch size;
            ``None``: each side rounded to the nearest multiple of the patch size.
        model_kwargs: Extra arguments of ``timm.create_model`` that change the architecture
            (tests use ``depth``/``embed_dim``/``num_heads``/``img_size`` for tiny models). A
            weight file must then match the changed architecture.
    """

    def __init__(
        self,
        arch: str = "base",
        weights: str | None = None,
        allow_random_init: bool = False,
        channel_order: ChannelOrder = "bgr",
        precision: Precision = "auto",
        input_size: Sequence[int] | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            weights=weights,
            allow_random_init=allow_random_init,
            channel_order=channel_order,
            precision=precision,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )
        name = DINOV2_ARCHS.get(arch, arch)
        if name not in DINOV2_ARCHS.values():
            raise ValueError(
                f"DINOv2Teacher: unknown arch {arch!r}; use one of {sorted(DINOV2_ARCHS)} or "
                f"{sorted(DINOV2_ARCHS.values())}."
            )
        self.arch = name
        self.model_kwargs = dict(model_kwargs or {})
        forbidden = {"pretrained", "pretrained_cfg_overlay", "checkpoint_path"} & set(
            self.model_kwargs
        )
        if forbidden:
            raise ValueError(
                f"DINOv2Teacher: {sorted(forbidden)} cannot go in model_kwargs; give the local "
                "file as `weights` (no hub is reachable)."
            )
        # pretrained=False always: weights come from the local file via load_and_freeze()
        vit: Any = timm.create_model(
            name, pretrained=False, num_classes=0, dynamic_img_size=True, **self.model_kwargs
        )
        self.model = vit
        self.patch_size = int(vit.patch_embed.patch_size[0])
        self.embed_dim = int(vit.embed_dim)
        self.num_prefix_tokens = int(vit.num_prefix_tokens)
        self.input_size: tuple[int, int] | None = None
        if input_size is not None:
            h, w = (int(v) for v in input_size)
            if h <= 0 or w <= 0 or h % self.patch_size or w % self.patch_size:
                raise ValueError(
                    f"DINOv2Teacher: input_size {tuple(input_size)} must be positive multiples "
                    f"of the patch size {self.patch_size}."
                )
            self.input_size = (h, w)
        self.load_and_freeze()

    @property
    def out_channels(self) -> int:
        """Channels of the patch map (the ViT's embedding size)."""
        return self.embed_dim

    def weights_module(self) -> nn.Module:
        """The timm ViT: weight files use its key names (after conversion)."""
        return self.model

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Convert the original DINOv2 release layout to timm's (timm's passes unchanged)."""
        return convert_dinov2_state_dict(state_dict)

    def extra_fingerprint(self) -> dict[str, Any]:
        """Input size rule, patch size, output channels and architecture overrides."""
        return {
            "input_size": list(self.input_size) if self.input_size else "nearest_multiple",
            "patch_size": self.patch_size,
            "out_channels": self.embed_dim,
            "model_kwargs": {k: repr(v) for k, v in sorted(self.model_kwargs.items())},
        }

    def teacher_input_size(self, height: int, width: int) -> tuple[int, int]:
        """The size frames of ``height x width`` are resized to.

        Args:
            height: Frame height in pixels.
            width: Frame width in pixels.

        Returns:
            ``(h, w)``, both multiples of the patch size.
        """
        if self.input_size is not None:
            return self.input_size
        p = self.patch_size
        return max(p, round(height / p) * p), max(p, round(width / p) * p)

    def _batch(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """Float ``[B, 3, h, w]`` frames at the teacher's input size (still 0-255, raw order)."""
        frames = self.image_list(images)
        resized = []
        for frame in frames:
            h, w = frame.shape[-2:]
            th, tw = self.teacher_input_size(h, w)
            if (th, tw) != (h, w):
                frame = F.interpolate(
                    frame[None],
                    size=(th, tw),
                    mode="bilinear",
                    align_corners=False,
                    antialias=th < h or tw < w,  # only shrinking needs low-pass filtering
                )[0]
            resized.append(frame)
        sizes = {tuple(f.shape[-2:]) for f in resized}
        if len(sizes) > 1:
            raise ValueError(
                f"DINOv2Teacher: frames of different sizes {sorted(sizes)} cannot form one "
                "batch; set input_size=(h, w) to resize them all to one size."
            )
        return torch.stack(resized)

    def extract(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """Patch-token map of the last layer (after the final norm).

        Args:
            images: Raw frames ``[B, 3, H, W]`` (uint8 or float 0-255) in ``channel_order``,
                or a sequence of ``[3, H, W]``.

        Returns:
            ``[B, C, h / 14, w / 14]`` where ``(h, w)`` is :meth:`teacher_input_size`.
        """
        x = self.normalize(self._batch(images))
        tokens = self.model.forward_features(x)  # [B, prefix + gh * gw, C], final norm applied
        gh, gw = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        patches = tokens[:, self.num_prefix_tokens :]
        return patches.transpose(1, 2).reshape(x.shape[0], self.embed_dim, gh, gw)
