"""The FairMOT model: training steps on tiny inputs, gradients, and frame-by-frame tracking."""

from __future__ import annotations

import copy

import torch
from fairmot_testing import REDUCED_HRNET_EXTRA, REPO_ROOT
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

BASE_MODEL = REPO_ROOT / "configs/_base_/models/fairmot_hrnetv2_w18.py"


def _model_cfg(reduced: bool = True, with_tracker: bool = False) -> dict:
    cfg = copy.deepcopy(Config.fromfile(str(BASE_MODEL)).model.to_dict())
    cfg["bbox_head"]["num_identities"] = 6
    if reduced:  # W18 widths and the 270-channel neck, less depth and a thinner head
        cfg["backbone"]["extra"] = REDUCED_HRNET_EXTRA
        cfg["bbox_head"]["feat_channels"] = 32
    if not with_tracker:
        cfg.pop("tracker")
    cfg.pop("data_preprocessor")
    return cfg


def _frame(boxes: list[list[float]], ids: list[int], frame_id: int = 0) -> DetDataSample:
    sample = DetDataSample(
        metainfo=dict(img_shape=(64, 128), ori_shape=(64, 128), scale_factor=(1.0, 1.0),
                      frame_id=frame_id)
    )  # fmt: skip
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes), labels=torch.zeros(len(boxes), dtype=torch.long),
        instances_ids=torch.tensor(ids),
    )  # fmt: skip
    return sample


def _batch() -> tuple[torch.Tensor, list[DetDataSample]]:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 128) * 0.2
    images[0, :, 10:58, 10:30] = 0.9  # bright people on a dark background
    images[0, :, 6:50, 70:86] = 0.6
    images[1, :, 12:60, 40:64] = 0.9
    samples = [
        _frame([[10.0, 10.0, 30.0, 58.0], [70.0, 6.0, 86.0, 50.0]], [0, 1]),
        _frame([[40.0, 12.0, 64.0, 60.0]], [5]),
    ]
    return images, samples


def test_loss_decreases_on_a_fixed_batch_and_reaches_the_uncertainty_weights() -> None:
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg())  # FairMOT's head init is applied at build
    images, samples = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    totals = []
    for step in range(4):
        losses = model.loss(images, samples)
        total = sum(v for k, v in losses.items() if "loss" in k)
        optimizer.zero_grad()
        total.backward()
        if step == 0:
            head = model.bbox_head
            for param in (head.s_det, head.s_id, head.classifier.weight):
                assert param.grad is not None and float(param.grad.abs().sum()) > 0
            assert model.backbone.conv1.weight.grad is not None
        optimizer.step()
        totals.append(float(total))
    assert all(torch.isfinite(torch.tensor(totals)))
    assert totals[-1] < totals[0], totals


def test_video_style_batch_equals_detection_style_batch() -> None:
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg())
    model.eval()  # BatchNorm with running statistics: the two forms see the same network
    images, samples = _batch()
    track_samples = []
    for sample in samples:
        track = TrackDataSample()
        track.video_data_samples = [sample]
        track_samples.append(track)
    with torch.no_grad():
        det_style = model.loss(images, samples)
        video_style = model.loss(images.unsqueeze(1), track_samples)
    for key in ("loss_hm", "loss_wh", "loss_reg", "loss_id"):
        torch.testing.assert_close(det_style[key], video_style[key])


def test_tensor_mode_returns_head_maps() -> None:
    model = MODELS.build(_model_cfg())
    model.eval()
    with torch.no_grad():
        heatmap, wh, offset, emb = model(torch.rand(1, 3, 64, 128), mode="tensor")
    assert heatmap.shape == (1, 1, 16, 32) and wh.shape == (1, 4, 16, 32)
    assert offset.shape == (1, 2, 16, 32) and emb.shape == (1, 128, 16, 32)


def test_predict_tracks_frame_by_frame() -> None:
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(with_tracker=True))  # the head is initialised at build
    # Make the decoder report a fixed confident detection with a fixed embedding, so that
    # the tracker must carry one identity through both frames.
    with torch.no_grad():
        head = model.bbox_head
        for branch in (head.heatmap_head, head.wh_head, head.offset_head, head.id_head):
            branch[-1].weight.zero_()
        model.bbox_head.heatmap_head[-1].bias.fill_(-10.0)
        model.bbox_head.wh_head[-1].bias.fill_(3.0)  # ltrb 3 cells: 24x24 px boxes
        model.bbox_head.id_head[-1].bias.fill_(1.0)
    original = model.bbox_head.heatmap_head.forward

    def one_peak(x: torch.Tensor) -> torch.Tensor:
        out = original(x)
        out[:, :, 8, 16] = 5.0
        return out

    model.bbox_head.heatmap_head.forward = one_peak
    model.eval()
    video = TrackDataSample()
    video.video_data_samples = [_frame([], [], frame_id=0), _frame([], [], frame_id=1)]
    with torch.no_grad():
        result = model.predict(torch.rand(1, 2, 3, 64, 128), [video])[0]
    ids = []
    for frame in result.video_data_samples:
        torch.testing.assert_close(
            frame.pred_instances.bboxes[:1], torch.tensor([[52.0, 20.0, 76.0, 44.0]])
        )
        ids.append(frame.pred_track_instances.instances_id.tolist())
    assert ids[0] == ids[1] and len(ids[0]) == 1
