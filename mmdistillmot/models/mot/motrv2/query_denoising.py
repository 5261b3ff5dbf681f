"""MOTRv2's query denoising: jittered ground-truth boxes as extra, hidden decoder queries.

During training every ground-truth box of the frame, jittered by up to ``noise_scale`` (0.05:
centre moved by up to 5 % of the box size, width and height scaled by up to +-5 %), becomes one
extra query with a learned content vector. The decoder must regress it back onto its box; only
box losses are applied to these queries. A self-attention mask keeps the real queries (detect,
proposal and track queries) from seeing them, so the denoising branch cannot leak ground truth
into the real predictions; the denoising queries themselves may attend to everything.
"""

from __future__ import annotations

import torch
from mmdet.registry import MODELS
from torch import Tensor, nn

__all__ = ["QueryDenoiser"]


@MODELS.register_module()
class QueryDenoiser(nn.Module):
    """Build denoising queries from ground-truth boxes and the mask that hides them.

    Args:
        embed_dims (int): Query width ``C``.
        noise_scale (float): Maximum relative jitter; 0.05 in MOTRv2. Must be in ``[0, 1)``.
    """

    def __init__(self, embed_dims: int, noise_scale: float = 0.05) -> None:
        super().__init__()
        if not 0.0 <= noise_scale < 1.0:
            raise ValueError(f"noise_scale must be in [0, 1), got {noise_scale}")
        self.noise_scale = noise_scale
        # One learned content vector shared by all denoising queries: their identity comes from
        # the (jittered) box through the positional query.
        self.content = nn.Embedding(1, embed_dims)

    def jitter(self, boxes: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Jitter normalised boxes.

        Args:
            boxes (Tensor): Ground-truth ``(cx, cy, w, h)`` boxes ``[M, 4]`` in ``[0, 1]``.
            generator (torch.Generator, optional): Random source (tests). Defaults to None.

        Returns:
            Tensor: ``[M, 4]`` with ``|cx' - cx| <= s*w``, ``|cy' - cy| <= s*h``,
            ``w' / w`` and ``h' / h`` in ``[1 - s, 1 + s]`` (``s = noise_scale``), clamped to
            ``[0, 1]``.
        """
        noise = torch.rand(boxes.shape, generator=generator, device=boxes.device) * 2 - 1
        noise = noise.to(boxes.dtype)
        centres = boxes[:, :2] + boxes[:, 2:] * noise[:, :2] * self.noise_scale
        sizes = boxes[:, 2:] * (1 + noise[:, 2:] * self.noise_scale)
        return torch.cat([centres, sizes], dim=1).clamp(0.0, 1.0)

    def forward(
        self, gt_boxes: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Make the denoising queries of one frame.

        Args:
            gt_boxes (Tensor): Normalised ``(cx, cy, w, h)`` ground truth ``[M, 4]``.
            generator (torch.Generator, optional): Random source. Defaults to None.

        Returns:
            tuple[Tensor, Tensor]: Content ``[M, C]`` and jittered reference boxes ``[M, 4]``.
        """
        content = self.content.weight.expand(gt_boxes.size(0), -1)
        return content, self.jitter(gt_boxes.detach(), generator)

    @staticmethod
    def attention_mask(num_real: int, num_denoise: int, device: torch.device | str) -> Tensor:
        """Self-attention mask of the decoder for real queries followed by denoising ones.

        Args:
            num_real (int): Number of real queries (they come first).
            num_denoise (int): Number of denoising queries (they come last).
            device (torch.device | str): Device of the mask.

        Returns:
            Tensor: Boolean ``[N, N]`` with ``N = num_real + num_denoise``; True where query
            ``i`` may not attend to key ``j``: exactly the block real-rows x denoise-columns.
        """
        total = num_real + num_denoise
        mask = torch.zeros(total, total, dtype=torch.bool, device=device)
        mask[:num_real, num_real:] = True
        return mask
