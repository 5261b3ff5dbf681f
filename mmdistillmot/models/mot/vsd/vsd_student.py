"""The VSD-MOT student: a small Transformer encoder over a frame's query vectors (Fig. 4).

Equations 1-3 of the paper, for the ``n`` query vectors ``X`` ``[n, 256]`` of one frame::

    X_proj = Linear(X)                        [n, hidden]
    X_enc  = TransformerEncoder(X_proj)       [n, hidden], 3 layers
    X_out  = Linear(X_enc) + Residual(X)      [n, 256]

Choices where the paper gives no number:

* ``hidden_dim=128``, ``ffn_dim=512`` (4 x hidden), 8 heads, post-norm layers (PyTorch's
  ``nn.TransformerEncoderLayer`` defaults otherwise, ReLU, dropout 0.1). With ``Residual`` a
  ``Linear(256, 256)`` (the "residual connection layer" of equation 3) this student has
  726,528 parameters: the +0.7 M that the paper's Table VIII adds for the student. (Our
  totals are 41.93 M for MOTRv2 and 42.66 M with the student and DSWR; the table prints
  41.9 M and 42.6 M, so only the difference is compared.) A 256-d hidden size with a 2048 FFN
  (PyTorch's default) would add 4.1 M.
* The encoder has no positional encoding: the queries are a set (detect, proposal and track
  queries in no spatial order), and the paper names none.
"""

from __future__ import annotations

import torch
from mmdet.registry import MODELS
from torch import nn

__all__ = ["VSDStudent"]


@MODELS.register_module()
class VSDStudent(nn.Module):
    """Linear -> TransformerEncoder -> Linear, plus a linear residual projection.

    Args:
        in_dim: Size of the query vectors (256 in MOTRv2).
        out_dim: Size of the semantic features (256; DSWR fuses them with the queries).
        hidden_dim: Width of the encoder.
        num_layers: Encoder layers (3 in the paper).
        num_heads: Attention heads per layer.
        ffn_dim: Hidden size of each layer's feed-forward block.
        dropout: Dropout inside the encoder layers.
    """

    def __init__(
        self,
        in_dim: int = 256,
        out_dim: int = 256,
        hidden_dim: int = 128,
        num_layers: int = 3,
        num_heads: int = 8,
        ffn_dim: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(
                f"VSDStudent: hidden_dim {hidden_dim} must be divisible by num_heads {num_heads}."
            )
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.input_proj = nn.Linear(in_dim, hidden_dim)  # eq. 1
        layer = nn.TransformerEncoderLayer(
            d_model=hidden_dim,
            nhead=num_heads,
            dim_feedforward=ffn_dim,
            dropout=dropout,
            batch_first=True,
        )
        # nested tensors only speed up padded batches in eval; keep the plain path everywhere
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=num_layers, enable_nested_tensor=False
        )  # eq. 2
        self.output_proj = nn.Linear(hidden_dim, out_dim)  # eq. 3, first term
        self.residual = nn.Linear(in_dim, out_dim)  # eq. 3, Residual(X)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """Semantic features of a frame's queries.

        Args:
            queries: ``X``: ``[B, n, in_dim]`` query vectors.

        Returns:
            ``X_out``: ``[B, n, out_dim]``.
        """
        if queries.dim() != 3 or queries.shape[-1] != self.in_dim:
            raise ValueError(
                f"VSDStudent: queries must be [B, n, {self.in_dim}], got {tuple(queries.shape)}."
            )
        encoded = self.encoder(self.input_proj(queries))
        return self.output_proj(encoded) + self.residual(queries)
