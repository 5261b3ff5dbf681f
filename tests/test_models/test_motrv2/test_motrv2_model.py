"""MOTRv2 end to end on tiny clips: training step, query refiner hook, inference ids."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import build_tiny, make_clip
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from torch import nn

from mmdistillmot.models.mot.motrv2 import MOTRv2
from mmdistillmot.models.mot.motrv2.track_queries import make_track_queries


@MODELS.register_module(force=True)
class _RecordingRefiner(nn.Module):
    """Test refiner: a learnable shift; records its inputs; returns one extra loss."""

    def __init__(self, embed_dims: int, channel_order: str | None = None) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.full((embed_dims,), 0.5))
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        if channel_order is not None:
            self.channel_order = channel_order

    def forward(self, query_feats, frame):
        self.calls.append((query_feats.detach().clone(), frame.detach().clone()))
        refined = query_feats + self.shift
        return refined, dict(loss_refiner=(refined - query_feats).pow(2).mean())


def _train_step_losses(model, inputs, samples):
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    return model(**data, mode="loss")


def test_one_training_iteration_on_a_two_frame_clip(tiny_model_cfg):
    model = build_tiny(tiny_model_cfg)
    # The box heads start with zero last layers (boxes = references), which would block box-loss
    # gradients to everything before them in this single step; give them small weights.
    with torch.no_grad():
        for head in model.reg_branches:
            head[-1].weight.normal_(std=0.01)
    model.train()
    inputs, samples = make_clip(num_frames=2)
    losses = _train_step_losses(model, inputs, samples)
    for key in ("loss_cls", "loss_bbox", "loss_iou", "d0.loss_cls", "dn_loss_bbox", "dn_loss_iou"):
        assert key in losses and torch.isfinite(losses[key]) and losses[key] > 0, key
    total = sum(losses.values())
    total.backward()
    named = dict(model.named_parameters())
    for name in (
        "backbone.layer2.0.conv1.weight",
        "neck.convs.0.conv.weight",
        "neck.extra_convs.0.conv.weight",
        "encoder.layers.0.self_attn.sampling_offsets.weight",
        "decoder.layers.1.cross_attn.value_proj.weight",
        "cls_branches.1.weight",
        "reg_branches.0.4.weight",
        "detect_content.weight",
        "proposal_content.weight",
        "denoiser.content.weight",
    ):  # (level_embed only reaches the loss through the zero-initialised offset/weight heads)
        grad = named[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # frozen stem / layer1 (frozen_stages=1) and frozen BN get no gradient
    assert not named["backbone.layer1.0.conv1.weight"].requires_grad
    assert not named["backbone.layer3.0.bn1.weight"].requires_grad


def test_clip_losses_are_frame_sums_over_the_clip_gt_count(tiny_model_cfg):
    model = build_tiny(tiny_model_cfg)
    inputs, samples = make_clip(num_frames=3)
    samples[0][2].gt_instances = samples[0][2].gt_instances[:1]  # 2 + 2 + 1 GT boxes
    calls = []
    criterion_forward = model.criterion.forward

    def spy(*args, **kwargs):
        losses, tracks = criterion_forward(*args, **kwargs)
        calls.append((args[6], {k: v.detach() for k, v in losses.items()}))
        return losses, tracks

    model.criterion.forward = spy
    losses = _train_step_losses(model, inputs, samples)
    assert [num_gt for num_gt, _ in calls] == [5.0, 5.0, 5.0]  # every frame: the clip's count
    for key, value in losses.items():
        assert value.item() == pytest.approx(sum(c[1][key].item() for c in calls), rel=1e-5)


def test_carried_tracks_go_through_the_decoder_and_keep_their_ids(tiny_model_cfg):
    model = build_tiny(tiny_model_cfg)
    inputs, samples = make_clip(num_frames=1)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    frame = data["data_samples"][0][0]
    carried = make_track_queries(torch.randn(3, 32), torch.tensor([[0.3, 0.5, 0.2, 0.6]] * 3))
    carried.obj_ids = torch.tensor([4, 9, 77])
    out = model.forward_frame(data["inputs"][:, 0], frame, carried)
    num_new = model.num_queries + 2  # 10 detect + 2 proposal queries
    assert out.cls_logits.shape == (2, num_new + 3, 1)
    assert out.query_feats.shape == (1, num_new + 3, 32)
    assert out.tracks.obj_ids[num_new:].tolist() == [4, 9, 77]
    # proposal queries start on their proposals: (x1+1, ..) boxes normalised by the image size
    proposals = model.frame_proposals(frame, "cpu")
    torch.testing.assert_close(out.tracks.ref_boxes[10:12], proposals[:, :4])
    expected_first = torch.tensor([(11 + 35) / 2 / 96, (9 + 57) / 2 / 64, 24 / 96, 48 / 64])
    torch.testing.assert_close(proposals[0, :4], expected_first)


def test_post_decoder_refiner_sees_last_layer_queries_and_raw_frame(tiny_model_cfg):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg.query_refiner = dict(type="_RecordingRefiner", embed_dims=32)
    cfg.query_refiner_position = "post_decoder"
    model = build_tiny(cfg)
    inputs, samples = make_clip(num_frames=2)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    frame = data["data_samples"][0][0]
    out = model.forward_frame(data["inputs"][:, 0], frame, None)
    feats, raw = model.query_refiner.calls[-1]
    assert feats.shape == (1, model.num_queries + 2, 32)  # real queries only, no denoising
    torch.testing.assert_close(feats, out.query_feats.detach())
    # the refiner gets the frame in RGB 0..255, as loaded (BGR file order flipped by bgr_to_rgb)
    torch.testing.assert_close(raw[0], inputs[0][0].float().flip(0), atol=1e-3, rtol=0)
    # the last heads and QIM use the refined features
    torch.testing.assert_close(out.refined_query_feats, out.query_feats + model.query_refiner.shift)
    torch.testing.assert_close(out.tracks.output_embed, out.refined_query_feats[0])
    expected_logits = model.cls_branches[-1](out.refined_query_feats)[0]
    torch.testing.assert_close(out.cls_logits[-1], expected_logits)
    # refiner losses come back from a training step, averaged over the frames
    losses = model(**data, mode="loss")
    assert losses["loss_refiner"].item() == torch.tensor(0.25).item()
    losses["loss_refiner"].backward()
    assert model.query_refiner.shift.grad is not None
    # the last box head is trained on the refined real queries only: the denoising queries
    # (never refined) keep their box losses in the other layers
    assert "d0.dn_loss_bbox" in losses and "d0.dn_loss_iou" in losses
    assert "dn_loss_bbox" not in losses and "dn_loss_iou" not in losses


def test_pre_decoder_refiner_rewrites_the_decoder_input(tiny_model_cfg):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg.query_refiner = dict(type="_RecordingRefiner", embed_dims=32)
    model = build_tiny(cfg)
    assert model.query_refiner_position == "pre_decoder"  # the default (VSD-MOT Fig. 2 / 4)
    plain = build_tiny(tiny_model_cfg)  # same seed: same weights but no refiner
    inputs, samples = make_clip(num_frames=2)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    frame = data["data_samples"][0][0]
    carried = make_track_queries(torch.randn(3, 32), torch.tensor([[0.3, 0.5, 0.2, 0.6]] * 3))
    carried.obj_ids = torch.tensor([4, 9, 77])
    out = model.forward_frame(data["inputs"][:, 0], frame, carried)
    feats, _raw = model.query_refiner.calls[-1]
    # the refiner got the content vectors of the detect, proposal and track queries, in order
    num_new = model.num_queries + 2
    assert feats.shape == (1, num_new + 3, 32)
    torch.testing.assert_close(feats[0, :10], model.detect_content.weight.detach())
    torch.testing.assert_close(feats[0, num_new:], carried.content)
    # ... and the decoder their refined version; the stored content stays unrefined
    torch.testing.assert_close(out.decoder_queries, feats + model.query_refiner.shift)
    torch.testing.assert_close(out.tracks.content[num_new:], carried.content)
    # the decoder output (what heads and QIM use) differs from the plain model's
    plain_out = plain.forward_frame(data["inputs"][:, 0], frame, carried)
    assert not torch.allclose(out.query_feats, plain_out.query_feats)
    assert out.refined_query_feats is out.query_feats
    torch.testing.assert_close(out.tracks.output_embed, out.query_feats[0])
    # denoising queries keep every layer's box loss; the refiner's gradient comes through
    # the whole decoder
    losses = model(**data, mode="loss")
    assert {"dn_loss_bbox", "dn_loss_iou", "d0.dn_loss_bbox"} <= set(losses)
    losses["loss_cls"].backward()
    assert model.query_refiner.shift.grad is not None
    assert model.query_refiner.shift.grad.abs().sum() > 0


def test_refiner_gets_the_raw_frame_in_its_own_channel_order(tiny_model_cfg):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg.query_refiner = dict(type="_RecordingRefiner", embed_dims=32, channel_order="bgr")
    model = build_tiny(cfg)
    inputs, samples = make_clip(num_frames=1)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    model.forward_frame(data["inputs"][:, 0], data["data_samples"][0][0], None)
    _feats, raw = model.query_refiner.calls[-1]
    # loaded BGR, flipped to RGB by the preprocessor, handed back in BGR as the refiner asks
    torch.testing.assert_close(raw[0], inputs[0][0].float(), atol=1e-3, rtol=0)


def test_qim_does_not_run_after_the_last_frame_of_a_clip(tiny_model_cfg):
    model = build_tiny(tiny_model_cfg)
    calls = []
    qim_forward = model.qim.forward
    model.qim.forward = lambda *a, **k: calls.append(1) or qim_forward(*a, **k)
    inputs, samples = make_clip(num_frames=3)
    _train_step_losses(model, inputs, samples)
    assert len(calls) == 2  # after frames 1 and 2: frame 3's carried queries would be unused


def test_frames_without_proposals_are_refused_unless_allowed(tiny_model_cfg):
    inputs, samples = make_clip(num_frames=2)
    frames = []
    for t in range(2):  # what a pipeline without LoadDetDBProposals packs
        meta = {k: v for k, v in samples[0][t].metainfo.items() if k != "det_proposals"}
        frames.append(DetDataSample(metainfo=meta, gt_instances=samples[0][t].gt_instances))
    samples[0].video_data_samples = frames
    model = build_tiny(tiny_model_cfg)
    with pytest.raises(ValueError, match="LoadDetDBProposals"):
        _train_step_losses(model, inputs, copy.deepcopy(samples))
    model.eval()
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=False)
    with pytest.raises(ValueError, match="allow_no_proposals=True"):
        model(**copy.deepcopy(data), mode="predict")
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg.allow_no_proposals = True  # plain MOTR, asked for explicitly
    motr = build_tiny(cfg)
    losses = _train_step_losses(motr, inputs, copy.deepcopy(samples))
    assert torch.isfinite(losses["loss_cls"])
    motr.eval()
    (result,) = motr(**data, mode="predict")
    assert "pred_track_instances" in result[1]


def test_inference_over_three_frames_gives_consistent_ids(tiny_model_cfg):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg.tracker.min_area = 0.0  # untrained detect queries may hold sub-pixel boxes
    model = build_tiny(cfg)
    with torch.no_grad():  # every query confident: every query becomes a track
        model.cls_branches[-1].bias.fill_(6.0)
    model.eval()
    inputs, samples = make_clip(num_frames=3)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=False)
    (result,) = model(**data, mode="predict")
    assert isinstance(result, TrackDataSample) and len(result) == 3
    ids = []
    for t in range(3):
        pred = result[t].pred_track_instances
        assert set(pred.keys()) >= {"bboxes", "scores", "labels", "instances_id"}
        assert pred.bboxes.shape == (len(pred), 4) and (pred.scores > 0.5).all()
        frame_ids = pred.instances_id.tolist()
        assert len(set(frame_ids)) == len(frame_ids)  # one box per id
        ids.append(set(frame_ids))
    num_new = model.num_queries + 2
    assert ids[0] == set(range(num_new))
    # frames 2, 3: the carried tracks keep their ids, the new queries get fresh ones
    assert ids[0] <= ids[1] and ids[1] <= ids[2]
    assert ids[1] - ids[0] == set(range(num_new, 2 * num_new))
    assert ids[2] - ids[1] == set(range(2 * num_new, 3 * num_new))

    # frame-by-frame calls (TrackImgSampler) give the same ids; frame_id 0 resets the tracker
    for t in range(3):
        one = TrackDataSample()
        one.video_data_samples = [copy.deepcopy(samples[0][t])]
        data = model.data_preprocessor(
            dict(inputs=[inputs[0][t : t + 1]], data_samples=[one]), training=False
        )
        (single,) = model(**data, mode="predict")
        assert set(single[0].pred_track_instances.instances_id.tolist()) == ids[t]


def test_inference_boxes_are_rescaled_to_the_original_image():
    boxes = torch.tensor([[0.5, 0.5, 0.5, 0.25]])
    inputs, samples = make_clip(num_frames=1)
    frame = samples[0][0]
    frame.set_metainfo(dict(scale_factor=(0.5, 0.25)))
    pixels = MOTRv2._to_pixels(boxes, frame, rescale=True)
    # 96x64 input: box (24, 24, 72, 40) in input pixels -> /0.5 in x, /0.25 in y
    torch.testing.assert_close(pixels, torch.tensor([[48.0, 96.0, 144.0, 160.0]]))
    assert np.allclose(MOTRv2._to_pixels(boxes, frame, rescale=False), [[24, 24, 72, 40]])
