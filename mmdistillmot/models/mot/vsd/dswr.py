"""Dynamic Semantic Weight Regulation (DSWR), section III-C of the VSD-MOT paper.

Three stages per frame:

1. *Frame quality* ``Q`` in [0, 1] from the grayscale frame: clarity (Laplacian variance),
   noise level (high-frequency analysis) and contrast (standard deviation), each normalised
   to [0, 1] and combined.
2. *Weight*: ``w = sigmoid(W * Q + b)`` with learnable scalars ``W``, ``b`` (equation 13).
   The paper says the semantic weight rises as the quality falls, i.e. ``W < 0``. By default
   (``weight_param='negative'``) that is built in: ``W = -softplus(v)`` with ``v`` the learned
   parameter, so ``W`` stays negative however training moves it; ``weight_param='free'``
   learns ``W`` itself (the paper's equation as written, where ``W`` may change sign).
3. *Fusion*: ``F = w * F_semantic + (1 - w) * F_query`` (equation 14).

DSWR fuses a frame's query vectors; it lives with the VSD-MOT modules (it was a "neck" before,
the registry name ``DSWR`` is unchanged).

The paper names the three measurements but not their formulas, normalisation or combination.
Choices made here, all on the 0-255 grey scale of the *raw* frame (BT.601 luma):

* **Analysis size.** Frames are area-downscaled so that the short side is at most
  ``analysis_short_side`` (480 px, the height of the smallest MOT17 frames) before measuring.
  The measurements depend on scale (a Laplacian sees finer detail at higher resolution), and
  MOTRv2 trains at a random short side of 608-992 px and tests at 800: a fixed analysis size
  makes ``Q`` a property of the frame, not of the augmentation.
* **Noise** ``sigma``: Immerkaer's estimator (the 3x3 mask ``[[1,-2,1],[-2,4,-2],[1,-2,1]]``
  cancels linear image structure; on white noise of std ``sigma`` its response has std
  ``6 sigma``) made robust to edges with the median absolute response:
  ``sigma = median|I * M| / (0.6745 * 6)``.
* **Clarity**: the variance of the 4-neighbour Laplacian (OpenCV's ``Laplacian`` with
  ``ksize=1``) minus the part that white noise adds to it (``20 sigma^2``: the kernel's
  squared weights sum to 20). Without this correction noise would read as sharpness and raise
  the quality of noisy frames.
* **Contrast**: the standard deviation of the grey levels.
* **Normalisation**: each measurement ``x`` becomes a score with a half-point constant ``k``:
  clarity ``x / (x + k_c)``, contrast ``x / (x + k_t)``, noise ``k_n / (sigma + k_n)`` (falls
  with noise). Defaults ``k_c = 100`` (grey-level^2), ``k_t = 20`` (grey levels),
  ``k_n = 1.0`` (grey levels). They were set from the four MOT17 training sequences in
  ``shared/assets/mot17_mini`` at the analysis size: clean frames give Laplacian variances of
  150-740, noise estimates of 0.1-0.4 and standard deviations of 40-60 (scores 0.6-0.9);
  Gaussian blur with sigma 3 brings the Laplacian variance to 1-24, Gaussian noise of std 10
  raises the noise estimate to 1.5-6.6 and a contrast factor of 0.15 brings the standard
  deviation to 6-9.
* **Combination**: the weighted geometric mean of the three scores (equal weights), so that a
  frame is as poor as its worst aspect; with the arithmetic mean, strong noise on a small
  frame could raise the Laplacian term more than it lowers the noise term. ``combine=
  'arithmetic'`` is available.
* **Initialisation** ``W = -4``, ``b = 2``: ``w = 0.5`` at ``Q = 0.5``, 0.88 at ``Q = 0``,
  0.12 at ``Q = 1``. With the negative parametrisation ``v = log(exp(4) - 1)``, so that
  ``W = -softplus(v) = -4``. ``W`` and ``b`` are learnable as in the paper; ``W`` is logged
  during training (``vsd_dswr_W`` in the refiner's log values).

``Q`` is a measurement of the input: it is computed without autograd; only ``W`` and ``b``
(and the two feature streams) receive gradients. Padding added by a data preprocessor counts
as image content (MOTRv2 trains one clip per GPU with ``pad_size_divisor=1``: no padding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import nn

__all__ = ["DSWR", "LAPLACIAN_KERNEL", "IMMERKAER_KERNEL", "WEIGHT_PARAMS"]

#: 4-neighbour Laplacian (OpenCV ``Laplacian(ksize=1)``); squared weights sum to 20.
LAPLACIAN_KERNEL = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
#: Immerkaer's noise mask (difference of two Laplacians); squared weights sum to 36.
IMMERKAER_KERNEL = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
#: ITU-R BT.601 luma weights, RGB order (OpenCV's ``cvtColor`` to grey).
_LUMA_RGB = (0.299, 0.587, 0.114)
#: median |N(0, 1)| (the MAD of a standard normal).
_MAD_NORMAL = 0.6744897501960817
#: Parametrisations of ``W`` (equation 13): ``-softplus(v)`` (always negative) or ``W`` itself.
WEIGHT_PARAMS = ("negative", "free")


def _inverse_softplus(value: float) -> float:
    """``v`` with ``softplus(v) = value`` (``value > 0``), in float64."""
    return value + math.log(-math.expm1(-value))


@MODELS.register_module()
class DSWR(nn.Module):
    """Frame-quality-driven fusion of semantic features and query features.

    Args:
        channel_order: Channel order of the raw frames given to :meth:`forward` (MOTRv2's
            refiner hook gives the preprocessor's order: ``'rgb'`` with ``bgr_to_rgb=True``).
        analysis_short_side: Frames are area-downscaled to this short side before measuring
            (never upscaled); ``None`` measures at the given size.
        clarity_scale: Half-point ``k_c`` of the clarity score (grey-level^2).
        noise_scale: Half-point ``k_n`` of the noise score (grey levels).
        contrast_scale: Half-point ``k_t`` of the contrast score (grey levels).
        metric_weights: Weights of (clarity, noise, contrast) in the combination.
        combine: ``'geometric'`` (weighted geometric mean) or ``'arithmetic'``.
        init_weight: Initial ``W`` (negative: lower quality, higher semantic weight; must be
            negative with ``weight_param='negative'``).
        init_bias: Initial ``b``.
        weight_param: ``'negative'``: ``W = -softplus(v)`` with the parameter ``v``
            (``weight_raw``), so ``W < 0`` always. ``'free'``: ``W`` is the parameter
            (``weight``) and may change sign in training.
    """

    luma: torch.Tensor  # [1, 3, 1, 1] luma weights in channel_order (a buffer)
    laplacian: torch.Tensor  # [1, 1, 3, 3] (a buffer)
    immerkaer: torch.Tensor  # [1, 1, 3, 3] (a buffer)

    def __init__(
        self,
        channel_order: Literal["rgb", "bgr"] = "rgb",
        analysis_short_side: int | None = 480,
        clarity_scale: float = 100.0,
        noise_scale: float = 1.0,
        contrast_scale: float = 20.0,
        metric_weights: Sequence[float] = (1.0, 1.0, 1.0),
        combine: Literal["geometric", "arithmetic"] = "geometric",
        init_weight: float = -4.0,
        init_bias: float = 2.0,
        weight_param: Literal["negative", "free"] = "negative",
    ) -> None:
        super().__init__()
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"DSWR: channel_order must be 'rgb' or 'bgr', got {channel_order!r}.")
        if combine not in ("geometric", "arithmetic"):
            raise ValueError(f"DSWR: combine must be 'geometric' or 'arithmetic', got {combine!r}.")
        if min(clarity_scale, noise_scale, contrast_scale) <= 0:
            raise ValueError("DSWR: clarity_scale, noise_scale and contrast_scale must be > 0.")
        weights = [float(w) for w in metric_weights]
        if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(
                f"DSWR: metric_weights needs 3 non-negative values, got {metric_weights}."
            )
        if weight_param not in WEIGHT_PARAMS:
            raise ValueError(
                f"DSWR: weight_param must be one of {WEIGHT_PARAMS}, got {weight_param!r}."
            )
        if weight_param == "negative" and not init_weight < 0:
            raise ValueError(
                f"DSWR: weight_param='negative' needs init_weight < 0, got {init_weight}."
            )
        if analysis_short_side is not None and analysis_short_side < 8:
            raise ValueError(f"DSWR: analysis_short_side too small: {analysis_short_side}.")
        self.channel_order = channel_order
        self.analysis_short_side = analysis_short_side
        self.clarity_scale = float(clarity_scale)
        self.noise_scale = float(noise_scale)
        self.contrast_scale = float(contrast_scale)
        self.metric_weights = tuple(w / sum(weights) for w in weights)
        self.combine = combine
        self.weight_param = weight_param
        if weight_param == "negative":  # W = -softplus(v) of eq. 13
            raw = _inverse_softplus(-float(init_weight))
            self.weight_raw = nn.Parameter(torch.tensor(raw, dtype=torch.float32))
        else:  # W of eq. 13
            self.weight = nn.Parameter(torch.tensor(float(init_weight)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))  # b of eq. 13
        luma = _LUMA_RGB if channel_order == "rgb" else _LUMA_RGB[::-1]
        # configuration, not weights: kept out of checkpoints
        self.register_buffer("luma", torch.tensor(luma).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "laplacian", torch.tensor(LAPLACIAN_KERNEL).view(1, 1, 3, 3), persistent=False
        )
        self.register_buffer(
            "immerkaer", torch.tensor(IMMERKAER_KERNEL).view(1, 1, 3, 3), persistent=False
        )

    # ------------------------------------------------------------------ stage 1: quality
    def grayscale(self, frame: torch.Tensor) -> torch.Tensor:
        """BT.601 grey levels at the analysis size.

        Args:
            frame: ``[B, 3, H, W]`` raw frame, 0-255, in ``channel_order``.

        Returns:
            ``[B, 1, h, w]`` float32 grey levels (0-255).
        """
        if frame.dim() != 4 or frame.shape[1] != 3:
            raise ValueError(f"DSWR: frame must be [B, 3, H, W], got {tuple(frame.shape)}.")
        gray = (frame.float() * self.luma.to(frame.device)).sum(dim=1, keepdim=True)
        height, width = gray.shape[-2:]
        side = self.analysis_short_side
        if side is not None and min(height, width) > side:
            scale = side / min(height, width)
            size = (max(3, round(height * scale)), max(3, round(width * scale)))
            gray = F.interpolate(gray, size=size, mode="area")
        if min(gray.shape[-2:]) < 3:
            raise ValueError(f"DSWR: frame {tuple(frame.shape)} is too small to measure.")
        return gray

    @torch.no_grad()
    def measurements(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three raw measurements of each frame.

        Args:
            frame: ``[B, 3, H, W]`` raw frame, 0-255, in ``channel_order``.

        Returns:
            ``laplacian_var`` (noise-corrected Laplacian variance), ``noise_sigma``,
            ``contrast`` (grey-level standard deviation), each ``[B]``.
        """
        gray = self.grayscale(frame)
        lap = F.conv2d(gray, self.laplacian.to(gray.device)).flatten(1)  # valid: no borders
        hf = F.conv2d(gray, self.immerkaer.to(gray.device)).flatten(1)
        sigma = hf.abs().median(dim=1).values / (_MAD_NORMAL * 6.0)
        lap_var = (lap.var(dim=1, unbiased=False) - 20.0 * sigma.square()).clamp(min=0.0)
        contrast = gray.flatten(1).std(dim=1, unbiased=False)
        return {"laplacian_var": lap_var, "noise_sigma": sigma, "contrast": contrast}

    @torch.no_grad()
    def scores(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        """The normalised clarity, noise and contrast scores (each in [0, 1], higher = better).

        Args:
            frame: ``[B, 3, H, W]`` raw frame, 0-255, in ``channel_order``.

        Returns:
            ``clarity``, ``noise``, ``contrast``, each ``[B]``.
        """
        m = self.measurements(frame)
        return {
            "clarity": m["laplacian_var"] / (m["laplacian_var"] + self.clarity_scale),
            "noise": self.noise_scale / (m["noise_sigma"] + self.noise_scale),
            "contrast": m["contrast"] / (m["contrast"] + self.contrast_scale),
        }

    @torch.no_grad()
    def frame_quality(self, frame: torch.Tensor) -> torch.Tensor:
        """Comprehensive quality score ``Q`` (lower = poorer frame).

        Args:
            frame: ``[B, 3, H, W]`` raw frame, 0-255, in ``channel_order``.

        Returns:
            ``Q``: ``[B]`` in [0, 1].
        """
        s = self.scores(frame)
        parts = torch.stack([s["clarity"], s["noise"], s["contrast"]], dim=1)  # [B, 3]
        w = parts.new_tensor(self.metric_weights)
        if self.combine == "geometric":
            quality = torch.exp((parts.clamp(min=1e-6).log() * w).sum(dim=1))
        else:
            quality = (parts * w).sum(dim=1)
        return quality.clamp(0.0, 1.0)

    # ------------------------------------------------------------------ stage 2: weight
    def slope(self) -> torch.Tensor:
        """``W`` of equation 13 (a scalar tensor with autograd).

        Returns:
            ``-softplus(weight_raw)`` (``weight_param='negative'``) or ``weight`` (``'free'``).
        """
        if self.weight_param == "negative":
            return -F.softplus(self.weight_raw)
        return self.weight

    def semantic_weight(self, quality: torch.Tensor) -> torch.Tensor:
        """Equation 13: ``w = sigmoid(W * Q + b)``.

        Args:
            quality: ``[B]`` quality scores.

        Returns:
            ``[B]`` semantic weights in (0, 1).
        """
        return torch.sigmoid(self.slope() * quality + self.bias)

    # ------------------------------------------------------------------ stage 3: fusion
    @staticmethod
    def fuse(semantic: torch.Tensor, query: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Equation 14: ``w * semantic + (1 - w) * query``, one ``w`` per frame.

        Args:
            semantic: ``[B, N, C]`` semantic features (the student's output).
            query: ``[B, N, C]`` query vectors.
            weight: ``[B]`` semantic weights.

        Returns:
            ``[B, N, C]`` fused features.
        """
        if semantic.shape != query.shape:
            raise ValueError(
                f"DSWR: semantic {tuple(semantic.shape)} and query {tuple(query.shape)} differ."
            )
        w = weight.to(query.dtype).view(-1, *([1] * (query.dim() - 1)))
        return w * semantic + (1.0 - w) * query

    def forward(
        self,
        semantic: torch.Tensor,
        query: torch.Tensor,
        frame: torch.Tensor,
        return_details: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Fuse by the frame's quality (stages 1-3).

        Args:
            semantic: ``[B, N, C]`` semantic features.
            query: ``[B, N, C]`` query vectors.
            frame: ``[B, 3, H, W]`` raw frame, 0-255, in ``channel_order``.
            return_details: Also return ``quality`` ``[B]``, ``weight`` ``[B]`` (the semantic
                weights) and ``slope`` (``W``, a scalar).

        Returns:
            ``[B, N, C]`` fused features, or ``(fused, details)`` with ``return_details``.
        """
        quality = self.frame_quality(frame)
        weight = self.semantic_weight(quality)
        fused = self.fuse(semantic, query, weight)
        if not return_details:
            return fused
        return fused, {"quality": quality, "weight": weight, "slope": self.slope()}
