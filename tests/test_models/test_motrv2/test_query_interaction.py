"""QIMv2: which tracks survive into the next frame, and what confident ones become."""

from __future__ import annotations

import torch

from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding
from mmdistillmot.models.mot.motrv2.query_interaction import QIMv2
from mmdistillmot.models.mot.motrv2.track_queries import make_track_queries

C = 16


def _tracks():
    torch.manual_seed(0)
    tracks = make_track_queries(torch.randn(5, C), torch.rand(5, 4) * 0.5 + 0.2)
    tracks.obj_ids = torch.tensor([-1, 3, 4, 5, -1])
    tracks.iou = torch.tensor([0.9, 0.9, 0.5, 0.2, 0.0])
    tracks.scores = torch.tensor([0.7, 0.8, 0.3, 0.9, 0.2])
    tracks.pred_boxes = torch.rand(5, 4) * 0.5 + 0.2
    tracks.output_embed = torch.randn(5, C)
    return tracks


def test_training_keeps_tracks_with_an_object_or_a_high_score():
    # MOTRv2's _select_active_tracks: (obj_idxes >= 0) | (scores > 0.5), IoU plays no part here
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32)
    keep = qim.keep_mask(_tracks(), training=True)
    # q0: no object but confident (a false positive MOTRv2 carries), q1-q3 have an object
    # whatever their IoU, q4: no object and score 0.2
    assert keep.tolist() == [True, True, True, True, False]


def test_training_takes_the_id_from_badly_placed_tracks_instead_of_dropping_them():
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32)
    tracks = _tracks()
    kept = qim.select(tracks, training=True)
    # q1 (IoU 0.9) keeps object 3; q2 (IoU exactly 0.5) and q3 (0.2) stay as queries with id
    # -1, so the next frame's Hungarian matching may assign them again; q0 stays unassigned
    assert kept.obj_ids.tolist() == [-1, 3, -1, -1]
    torch.testing.assert_close(kept.content, tracks.content[:4])
    assert tracks.obj_ids.tolist() == [-1, 3, 4, 5, -1]  # the input records are untouched
    # the whole step (selection + update) carries the same four queries
    assert qim(tracks, training=True).obj_ids.tolist() == [-1, 3, -1, -1]


def test_inference_keeps_tracks_with_an_id_or_a_high_score():
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32)
    keep = qim.keep_mask(_tracks(), training=False)
    assert keep.tolist() == [True, True, True, True, False]
    # at inference the ids are the tracker's: IoU (a training quantity) takes none away
    assert qim.select(_tracks(), training=False).obj_ids.tolist() == [-1, 3, 4, 5]


def test_random_drop_only_removes():
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32, random_drop=0.5)
    tracks = _tracks()
    tracks.iou = torch.ones(5)
    tracks.obj_ids = torch.arange(5)
    torch.manual_seed(1)
    kept = torch.stack([qim.keep_mask(tracks, training=True) for _ in range(200)]).float()
    assert 0.35 < kept.mean().item() < 0.65


def test_confident_tracks_move_to_their_prediction_and_get_new_content():
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32)
    tracks = _tracks()
    out = qim(tracks, training=False)  # keeps q0..q3
    confident = torch.tensor([True, True, False, True])  # scores 0.7, 0.8, 0.3, 0.9 > 0.5
    kept_pred, kept_ref, kept_content = (
        tracks.pred_boxes[:4],
        tracks.ref_boxes[:4],
        tracks.content[:4],
    )
    torch.testing.assert_close(out.ref_boxes[confident], kept_pred[confident])
    torch.testing.assert_close(out.ref_boxes[~confident], kept_ref[~confident])
    torch.testing.assert_close(out.content[~confident], kept_content[~confident])
    assert not torch.allclose(out.content[confident], kept_content[confident])
    # the input records are untouched
    torch.testing.assert_close(tracks.ref_boxes[:4], kept_ref)


def test_update_uses_the_new_reference_in_attention():
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32)
    tracks = _tracks()[torch.tensor([1, 3])]  # both confident
    base = qim.update(tracks)
    moved = tracks.clone()
    moved.pred_boxes = tracks.pred_boxes + 0.1
    shifted = qim.update(moved)
    assert not torch.allclose(base.content, shifted.content)
    torch.testing.assert_close(shifted.ref_boxes, moved.pred_boxes)
    # what the self-attention received: query = key = output + sine embedding of the *new*
    # reference box (the prediction, not the old ref_boxes), value = the output alone
    seen = []
    handle = qim.self_attn.register_forward_pre_hook(
        lambda _module, args, kwargs: seen.append((args, kwargs)), with_kwargs=True
    )
    try:
        qim.update(moved)
    finally:
        handle.remove()
    ((args, _kwargs),) = seen
    query, key, value = args
    out = moved.output_embed[None]
    position = box_sine_embedding(moved.pred_boxes, C // 4)[None]  # [1, 2, C]
    assert not torch.allclose(position, box_sine_embedding(moved.ref_boxes, C // 4)[None])
    torch.testing.assert_close(query, out + position)
    torch.testing.assert_close(key, out + position)
    torch.testing.assert_close(value, out)


def test_gradient_flows_from_next_frame_content_to_this_frame_outputs():
    qim = QIMv2(embed_dims=C, num_heads=2, feedforward_channels=32)
    tracks = _tracks()
    tracks.output_embed = tracks.output_embed.clone().requires_grad_(True)
    qim(tracks, training=False).content.sum().backward()
    assert tracks.output_embed.grad is not None
    assert tracks.output_embed.grad[:4].abs().sum() > 0
