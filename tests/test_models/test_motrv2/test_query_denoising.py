"""Denoising queries: jitter bounds, mask pattern, and real queries really cannot see them."""

from __future__ import annotations

import torch
from mmengine.registry import init_default_scope
from torch import nn

from mmdistillmot.models.mot.motrv2.motr_decoder import MOTRDecoder
from mmdistillmot.models.mot.motrv2.query_denoising import QueryDenoiser


def test_jitter_stays_within_five_percent():
    denoiser = QueryDenoiser(embed_dims=16, noise_scale=0.05)
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.4]]).repeat(2000, 1)
    jittered = denoiser.jitter(boxes, torch.Generator().manual_seed(0))
    dx = (jittered[:, 0] - 0.5).abs() / 0.2
    dy = (jittered[:, 1] - 0.5).abs() / 0.4
    rw, rh = jittered[:, 2] / 0.2, jittered[:, 3] / 0.4
    assert dx.max() <= 0.05 + 1e-6 and dy.max() <= 0.05 + 1e-6
    assert rw.min() >= 0.95 - 1e-6 and rw.max() <= 1.05 + 1e-6
    assert rh.min() >= 0.95 - 1e-6 and rh.max() <= 1.05 + 1e-6
    # it is a jitter, not a no-op: the draws spread over most of the allowed range
    assert dx.max() > 0.045 and rw.min() < 0.955 and rw.max() > 1.045


def test_attention_mask_pattern():
    mask = QueryDenoiser.attention_mask(num_real=3, num_denoise=2, device="cpu")
    expected = torch.tensor(
        [
            [0, 0, 0, 1, 1],
            [0, 0, 0, 1, 1],
            [0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=torch.bool,
    )
    assert mask.dtype == torch.bool and torch.equal(mask, expected)


def test_real_queries_are_blind_to_denoising_queries():
    init_default_scope("mmdet")
    torch.manual_seed(0)
    c = 16
    decoder = MOTRDecoder(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=c, num_heads=2),
            cross_attn_cfg=dict(embed_dims=c, num_heads=2, num_levels=1, num_points=2, dropout=0.0),
            ffn_cfg=dict(embed_dims=c, feedforward_channels=32),
        ),
    )
    heads = nn.ModuleList([nn.Linear(c, 4) for _ in range(2)])
    mem = dict(
        value=torch.randn(1, 20, c),
        key_padding_mask=torch.zeros(1, 20, dtype=torch.bool),
        spatial_shapes=torch.tensor([[4, 5]]),
        level_start_index=torch.tensor([0]),
        valid_ratios=torch.ones(1, 1, 2),
    )
    real_q, real_b = torch.randn(1, 4, c), torch.rand(1, 4, 4) * 0.5 + 0.2
    mask = QueryDenoiser.attention_mask(4, 3, "cpu")
    outs = []
    for seed in (1, 2):
        gen = torch.Generator().manual_seed(seed)
        dn_q, dn_b = torch.randn(1, 3, c, generator=gen), torch.rand(1, 3, 4, generator=gen)
        query, boxes = torch.cat([real_q, dn_q], 1), torch.cat([real_b, dn_b], 1)
        outs.append(decoder(query, boxes, reg_branches=heads, self_attn_mask=mask, **mem))
    # different denoising queries, identical real outputs; the denoising outputs do differ
    torch.testing.assert_close(outs[0][0][:, :, :4], outs[1][0][:, :, :4])
    assert not torch.allclose(outs[0][0][:, :, 4:], outs[1][0][:, :, 4:])
    # without the mask the real queries would see them
    gen = torch.Generator().manual_seed(1)
    dn_q, dn_b = torch.randn(1, 3, c, generator=gen), torch.rand(1, 3, 4, generator=gen)
    unmasked = decoder(
        torch.cat([real_q, dn_q], 1), torch.cat([real_b, dn_b], 1), reg_branches=heads, **mem
    )
    assert not torch.allclose(unmasked[0][:, :, :4], outs[0][0][:, :, :4])
