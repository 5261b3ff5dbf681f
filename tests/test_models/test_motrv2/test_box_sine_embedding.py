"""MOTRv2's sine embedding: formula by hand, (x, y, w, h) block order vs mmdet's (y, x, w, h)."""

from __future__ import annotations

import math

import pytest
import torch
from mmdet.models.layers.transformer import coordinate_to_encoding

from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding


def test_channels_match_the_formula():
    box = torch.tensor([[0.3, 0.6, 0.2, 0.1]])
    emb = box_sine_embedding(box, num_feats=8, temperature=100.0)
    assert emb.shape == (1, 32)
    for k, coord in enumerate(box[0].tolist()):
        for i in range(8):
            freq = 100.0 ** (2 * (i // 2) / 8)
            angle = 2 * math.pi * coord / freq
            expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert emb[0, k * 8 + i].item() == pytest.approx(expected, abs=1e-5)


def test_block_order_is_xywh_not_mmdets_yxwh():
    boxes = torch.rand(2, 5, 4)
    ours = box_sine_embedding(boxes)  # num_feats 64 -> 256 channels
    mmdet = coordinate_to_encoding(boxes, num_feats=64)  # (y, x, w, h) blocks
    assert ours.shape == mmdet.shape == (2, 5, 256)
    torch.testing.assert_close(ours[..., :64], mmdet[..., 64:128])  # x
    torch.testing.assert_close(ours[..., 64:128], mmdet[..., :64])  # y
    torch.testing.assert_close(ours[..., 128:], mmdet[..., 128:])  # w, h
    assert not torch.allclose(ours, mmdet)


def test_score_embedding_width_and_odd_feats_rejected():
    assert box_sine_embedding(torch.rand(7, 1), num_feats=256).shape == (7, 256)
    with pytest.raises(ValueError, match="even"):
        box_sine_embedding(torch.rand(3, 4), num_feats=7)
