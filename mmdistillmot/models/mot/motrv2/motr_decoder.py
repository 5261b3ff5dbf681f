"""MOTRv2's decoder loop: positional queries recomputed from the boxes at every layer.

mmdet's ``DeformableDetrTransformerDecoder`` keeps one positional query for all layers. MOTRv2
instead derives it at every layer from that layer's reference boxes (``box_sine_embedding`` of
``(cx, cy, w, h)``), and refines the boxes layer by layer (iterative box refinement). The layers
themselves are mmdet's ``DeformableDetrTransformerDecoderLayer`` (self-attention, multi-scale
deformable cross-attention, FFN, post-norm).
"""

from __future__ import annotations

import torch
from mmdet.models.layers.transformer import (
    DeformableDetrTransformerDecoderLayer,
    inverse_sigmoid,
)
from mmdet.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding

__all__ = ["MOTRDecoder"]


@MODELS.register_module()
class MOTRDecoder(BaseModule):
    """Deformable decoder with per-layer positional queries and box refinement.

    Args:
        num_layers (int): Number of decoder layers (6 in MOTRv2).
        layer_cfg (dict): Config of one ``DeformableDetrTransformerDecoderLayer``
            (``self_attn_cfg``, ``cross_attn_cfg``, ``ffn_cfg``).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, num_layers: int, layer_cfg: dict, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f"MOTRDecoder needs at least one layer, got num_layers={num_layers}")
        self.num_layers = num_layers
        self.layers = ModuleList(
            [DeformableDetrTransformerDecoderLayer(**layer_cfg) for _ in range(num_layers)]
        )
        self.embed_dims: int = self.layers[0].embed_dims
        if self.embed_dims % 4:
            raise ValueError(
                f"embed_dims must be divisible by 4 (one sine block per box coordinate), "
                f"got {self.embed_dims}"
            )

    def positional_query(self, ref_boxes: Tensor) -> Tensor:
        """Positional query of reference boxes.

        Args:
            ref_boxes (Tensor): Normalised ``(cx, cy, w, h)`` boxes ``[B, N, 4]``.

        Returns:
            Tensor: ``[B, N, embed_dims]``, blocks in (x, y, w, h) order.
        """
        return box_sine_embedding(ref_boxes, num_feats=self.embed_dims // 4)

    def forward(
        self,
        query: Tensor,
        ref_boxes: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        reg_branches: nn.ModuleList,
        self_attn_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run all layers.

        Args:
            query (Tensor): Content queries ``[B, N, C]``.
            ref_boxes (Tensor): Initial normalised ``(cx, cy, w, h)`` reference boxes
                ``[B, N, 4]``.
            value (Tensor): Encoder memory ``[B, S, C]`` (``S`` = sum of ``h*w`` over levels).
            key_padding_mask (Tensor | None): ``[B, S]``, True on padded pixels.
            spatial_shapes (Tensor): ``[num_levels, 2]`` as ``(h, w)``.
            level_start_index (Tensor): ``[num_levels]`` start of each level in ``S``.
            valid_ratios (Tensor): ``[B, num_levels, 2]`` valid ``(w, h)`` fraction per level.
            reg_branches (nn.ModuleList): One box-delta head per layer, ``C -> 4``; the delta is
                added to the reference in logit space.
            self_attn_mask (Tensor | None): ``[N, N]`` boolean, True where a query may NOT
                attend to a key (used to hide denoising queries). Defaults to None.

        Returns:
            tuple[Tensor, Tensor, Tensor]:

            - hidden states ``[L, B, N, C]`` of every layer,
            - the reference boxes each layer started from ``[L, B, N, 4]`` (the first is
              ``ref_boxes`` itself, with its gradient; the later ones are detached),
            - the boxes each layer predicts ``[L, B, N, 4]`` (with gradient).
        """
        if len(reg_branches) != self.num_layers:
            raise ValueError(
                f"reg_branches has {len(reg_branches)} heads for {self.num_layers} decoder layers"
            )
        box_scale = torch.cat([valid_ratios, valid_ratios], -1)[:, None]  # [B, 1, L_lvl, 4]
        hidden_states, refs_in, boxes = [], [], []
        output = query
        # The first layer starts from ``ref_boxes`` as given, gradient included: the learned
        # anchors of the detect queries (``detect_boxes``) learn through it, as in MOTRv2.
        # Proposal and track boxes arrive without a gradient, so for them this is a no-op.
        ref = ref_boxes
        for layer, reg_branch in zip(self.layers, reg_branches):
            output = layer(
                output,
                query_pos=self.positional_query(ref),
                value=value,
                key_padding_mask=key_padding_mask,
                self_attn_mask=self_attn_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=ref[:, :, None] * box_scale,
            )
            new_boxes = (reg_branch(output) + inverse_sigmoid(ref)).sigmoid()
            hidden_states.append(output)
            refs_in.append(ref)
            boxes.append(new_boxes)
            # The next layer starts from the refined boxes; the gradient path between layers
            # stops here as in Deformable DETR's iterative refinement.
            ref = new_boxes.detach()
        return torch.stack(hidden_states), torch.stack(refs_in), torch.stack(boxes)
