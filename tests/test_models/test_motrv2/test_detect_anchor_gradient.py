"""The detect queries' learned anchors get a gradient; proposals and inter-layer boxes do not.

MOTRv2 feeds the first decoder layer the reference boxes as they are (the learned
``detect_boxes`` anchors keep their gradient) and detaches only the refined boxes handed from
one layer to the next (Deformable DETR's iterative refinement).
"""

from __future__ import annotations

import torch
from conftest import build_tiny, make_clip
from mmengine.registry import init_default_scope
from torch import nn

from mmdistillmot.models.mot.motrv2.motr_decoder import MOTRDecoder

C = 32


def _decoder_with_zero_heads(num_layers: int) -> tuple[MOTRDecoder, nn.ModuleList]:
    init_default_scope("mmdet")
    torch.manual_seed(0)
    decoder = MOTRDecoder(
        num_layers=num_layers,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=C, num_heads=2, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=C, num_heads=2, num_levels=1, num_points=2, dropout=0.0),
            ffn_cfg=dict(embed_dims=C, feedforward_channels=64, ffn_drop=0.0),
        ),
    )
    heads = nn.ModuleList([nn.Linear(C, 4) for _ in range(num_layers)])
    for head in heads:  # zero deltas: every layer's box is sigmoid(logit(its reference))
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return decoder, heads


def _memory() -> dict:
    return dict(
        value=torch.randn(1, 12, C),
        key_padding_mask=torch.zeros(1, 12, dtype=torch.bool),
        spatial_shapes=torch.tensor([[3, 4]]),
        level_start_index=torch.tensor([0]),
        valid_ratios=torch.ones(1, 1, 2),
    )


def test_first_layer_box_is_differentiable_in_its_reference_and_later_layers_are_cut():
    decoder, heads = _decoder_with_zero_heads(2)
    refs = (torch.rand(1, 3, 4) * 0.5 + 0.25).requires_grad_(True)
    _, refs_in, boxes = decoder(torch.randn(1, 3, C), refs, reg_branches=heads, **_memory())
    # With zero heads, box_0 = sigmoid(logit(ref)) = ref, so d(sum box_0)/d ref = 1 exactly.
    (grad0,) = torch.autograd.grad(boxes[0].sum(), refs, retain_graph=True)
    torch.testing.assert_close(grad0, torch.ones_like(refs))
    # box_1 = sigmoid(logit(box_0.detach())): its only path to ref is cut between the layers.
    torch.testing.assert_close(refs_in[0], refs.detach())
    (grad1,) = torch.autograd.grad(boxes[1].sum(), refs, allow_unused=True)
    assert grad1 is None or torch.count_nonzero(grad1) == 0


def test_detect_anchor_learns_and_proposals_stay_inputs(tiny_model_cfg):
    model = build_tiny(tiny_model_cfg)
    model.train()
    seen_proposals: list[torch.Tensor] = []
    original = model.frame_proposals

    def proposals_requiring_grad(data_sample, device):
        # Make each frame's proposals a leaf that would collect a gradient if anything
        # flowed back into it.
        leaf = original(data_sample, device).clone().requires_grad_(True)
        seen_proposals.append(leaf)
        return leaf

    model.frame_proposals = proposals_requiring_grad
    inputs, samples = make_clip(num_frames=2)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    sum(model(**data, mode="loss").values()).backward()

    grad = model.detect_boxes.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert len(seen_proposals) == 2 and all(p.numel() == 10 for p in seen_proposals)
    assert all(p.grad is None for p in seen_proposals)
