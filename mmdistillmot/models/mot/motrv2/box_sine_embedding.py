"""Sine embedding of normalised coordinates in MOTRv2's (x, y, w, h) order.

MOTRv2 turns a reference box into the decoder's positional query, a proposal score into a
content vector, and a track's reference box into QIM's positional term with one function: every
coordinate ``c`` in ``[0, 1]`` becomes ``num_feats`` values ``sin/cos(2*pi*c / T^(2*(i//2)/F))``
with sines on even and cosines on odd channels, and the per-coordinate blocks are concatenated in
the input's own order. mmdet's ``coordinate_to_encoding`` swaps the first two blocks
(y, x, w, h), so it cannot be reused for weights or behaviour that follow MOTRv2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["box_sine_embedding"]


def box_sine_embedding(coords: Tensor, num_feats: int = 64, temperature: float = 10000.0) -> Tensor:
    """Embed normalised coordinates with interleaved sine/cosine features.

    Args:
        coords (Tensor): Normalised coordinates ``[..., D]`` (e.g. ``D = 4`` boxes
            ``(cx, cy, w, h)`` or ``D = 1`` scores), values nominally in ``[0, 1]``.
        num_feats (int): Features per coordinate; must be even. Defaults to 64, so a box gives
            ``4 * 64 = 256`` channels.
        temperature (float): Frequency base ``T``. Defaults to 10000.

    Returns:
        Tensor: ``[..., D * num_feats]``; block ``k`` (channels ``k*num_feats`` to
        ``(k+1)*num_feats``) embeds ``coords[..., k]``, channel ``2j`` is a sine and ``2j + 1``
        a cosine of the same frequency.

    Raises:
        ValueError: If ``num_feats`` is odd.
    """
    if num_feats % 2:
        raise ValueError(f"num_feats must be even, got {num_feats}")
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=coords.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
    angles = coords.float()[..., None] * (2 * math.pi) / dim_t  # [..., D, F]
    # Pair (sin of even, cos of odd) channels, then flatten D and F into one axis.
    emb = torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1)
    return emb.flatten(-3).to(coords.dtype)
