"""The decoder recomputes the positional query from each layer's (refined) boxes."""

from __future__ import annotations

import torch
from mmengine.registry import init_default_scope
from torch import nn

from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding
from mmdistillmot.models.mot.motrv2.motr_decoder import MOTRDecoder

C = 32


def _decoder(num_layers: int = 3) -> tuple[MOTRDecoder, nn.ModuleList]:
    init_default_scope("mmdet")
    torch.manual_seed(0)
    decoder = MOTRDecoder(
        num_layers=num_layers,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=C, num_heads=2, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=C, num_heads=2, num_levels=2, num_points=2, dropout=0.0),
            ffn_cfg=dict(embed_dims=C, feedforward_channels=64, ffn_drop=0.0),
        ),
    )
    heads = nn.ModuleList([nn.Linear(C, 4) for _ in range(num_layers)])
    for head in heads:  # big enough deltas that every layer moves the boxes
        nn.init.normal_(head.weight, std=0.5)
    return decoder, heads


def _memory(batch: int = 1):
    shapes = torch.tensor([[6, 8], [3, 4]])
    starts = torch.tensor([0, 48])
    value = torch.randn(batch, 60, C)
    return dict(
        value=value,
        key_padding_mask=torch.zeros(batch, 60, dtype=torch.bool),
        spatial_shapes=shapes,
        level_start_index=starts,
        valid_ratios=torch.ones(batch, 2, 2),
    )


def _record_query_pos(decoder: MOTRDecoder) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    for layer in decoder.layers:
        layer.register_forward_pre_hook(
            lambda _m, _a, kw: seen.append(kw["query_pos"].clone()), with_kwargs=True
        )
    return seen


def test_positional_query_follows_refined_boxes():
    decoder, heads = _decoder(3)
    seen = _record_query_pos(decoder)
    query, refs = torch.randn(1, 5, C), torch.rand(1, 5, 4) * 0.5 + 0.25
    hidden, refs_in, boxes = decoder(query, refs, reg_branches=heads, **_memory())
    assert hidden.shape == (3, 1, 5, C) and refs_in.shape == boxes.shape == (3, 1, 5, 4)
    assert len(seen) == 3
    torch.testing.assert_close(refs_in[0], refs)
    for layer in range(3):
        # each layer's positional query is the sine embedding of the boxes it starts from ...
        torch.testing.assert_close(seen[layer], box_sine_embedding(refs_in[layer], C // 4))
    for layer in range(1, 3):
        # ... which are the previous layer's refined boxes, so the query changes with them
        torch.testing.assert_close(refs_in[layer], boxes[layer - 1].detach())
        assert not torch.allclose(seen[layer], seen[layer - 1])
        assert not torch.allclose(refs_in[layer], refs_in[layer - 1])


def test_changing_a_box_refinement_changes_only_later_positional_queries():
    decoder, heads = _decoder(2)
    seen = _record_query_pos(decoder)
    query, refs, mem = torch.randn(1, 4, C), torch.rand(1, 4, 4) * 0.5 + 0.25, _memory()
    decoder(query, refs, reg_branches=heads, **mem)
    with torch.no_grad():
        heads[0].bias += 0.3  # layer 0 now refines its boxes differently
    decoder(query, refs, reg_branches=heads, **mem)
    torch.testing.assert_close(seen[0], seen[2])  # layer 0 starts from the same boxes
    assert not torch.allclose(seen[1], seen[3])  # layer 1's positional query moved


def test_box_refinement_is_additive_in_logit_space():
    decoder, heads = _decoder(1)
    refs = torch.tensor([[[0.5, 0.5, 0.2, 0.4]]])
    hidden, _, boxes = decoder(torch.randn(1, 1, C), refs, reg_branches=heads, **_memory())
    delta = heads[0](hidden[0])
    expected = torch.sigmoid(delta + torch.logit(refs))
    torch.testing.assert_close(boxes[0], expected)
