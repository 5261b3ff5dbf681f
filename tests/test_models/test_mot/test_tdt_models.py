"""TDT and TwoStageTracker: frame loop, crops (original frame or detector's), rescaling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmdet.datasets.transforms import Resize
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import InstanceData
from torch import nn

import mmdistillmot  # noqa: F401  (registers the transforms)
from mmdistillmot.datasets.transforms import ResizeKeepOriginal
from mmdistillmot.models.mot.tdt import TDT, TwoStageTracker

REPO = Path(__file__).resolve().parents[3]


@MODELS.register_module(force=True)
class _FixedDetector(nn.Module):
    """Predicts the same box (input pixels) on every frame, with an embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def predict(self, inputs, data_samples, rescale=True):  # noqa: ANN001, ANN201
        self.calls.append(tuple(inputs.shape))
        box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
        if rescale:
            sx, sy = data_samples[0].metainfo["scale_factor"]
            box = box / torch.tensor([sx, sy, sx, sy])
        data_samples[0].pred_instances = InstanceData(
            bboxes=box, scores=torch.tensor([0.9]), labels=torch.tensor([0]),
            embeddings=torch.tensor([[1.0, 0.0]]),
        )  # fmt: skip
        return data_samples


@MODELS.register_module(force=True)
class _RecordingReID(nn.Module):
    """Returns the mean raw pixel of each channel inside the box: checks what the crop saw."""

    channel_order = "bgr"

    def forward(self, frames, boxes):  # noqa: ANN001, ANN201
        x1, y1, x2, y2 = boxes[0][0].round().long().tolist()
        per_channel = frames[0, :, y1:y2, x1:x2].mean(dim=(1, 2))  # [3], in frames' order
        return [per_channel.unsqueeze(0)]


def _video(num_frames: int, scale: float = 2.0) -> tuple[torch.Tensor, list[TrackDataSample]]:
    frames = []
    for frame_id in range(num_frames):
        sample = DetDataSample(metainfo=dict(frame_id=frame_id, scale_factor=(scale, scale)))
        frames.append(sample)
    video = TrackDataSample()
    video.video_data_samples = frames
    return torch.zeros(1, num_frames, 3, 64, 48), [video]


TRACKER = dict(type="JDETracker", min_box_area=None, max_aspect_ratio=None)


def test_tdt_tracks_every_frame_with_one_id() -> None:
    model = TDT(detector=dict(type="_FixedDetector"), tracker=TRACKER)
    inputs, samples = _video(3)
    (video,) = model.predict(inputs, samples)
    ids = [video[i].pred_track_instances.instances_id.tolist() for i in range(3)]
    # frame 0 starts (and activates) the track; it keeps its id while the box stays
    assert ids == [[0], [0], [0]]
    assert model.detector.calls == [(1, 3, 64, 48)] * 3
    # boxes are reported in original-image pixels (input / scale_factor)
    torch.testing.assert_close(
        video[2].pred_track_instances.bboxes, torch.tensor([[5.0, 10.0, 15.0, 30.0]])
    )


def test_two_stage_without_original_frame_crops_the_detector_frame() -> None:
    preprocessor = dict(
        type="TrackDataPreprocessor", mean=[10.0, 20.0, 30.0], std=[2.0, 2.0, 2.0],
        bgr_to_rgb=True,
    )  # fmt: skip
    model = TwoStageTracker(
        detector=dict(type="_FixedDetector"),
        reid=dict(type="_RecordingReID"),
        tracker=TRACKER,
        data_preprocessor=preprocessor,
    )
    inputs, samples = _video(2)
    # normalised input that is 0 everywhere -> raw pixel = mean (RGB), flipped back to BGR;
    # no 'ori_img' in the metainfo: crops of the detector's frame, said once
    with pytest.warns(UserWarning, match="ResizeKeepOriginal") as caught:
        (video,) = model.predict(inputs, samples)
    assert sum("ori_img" in str(w.message) for w in caught) == 1
    first = video[0]
    # the reid (channel_order 'bgr') saw raw pixels, channel by channel: the preprocessor's
    # RGB mean (10, 20, 30) in BGR order is (30, 20, 10); RGB order would give (10, 20, 30)
    torch.testing.assert_close(first.pred_instances.embeddings, torch.tensor([[30.0, 20.0, 10.0]]))
    torch.testing.assert_close(first.pred_instances.bboxes, torch.tensor([[5.0, 10.0, 15.0, 30.0]]))
    assert len(video[1].pred_track_instances) == 1


def test_batch_of_two_videos_is_rejected() -> None:
    model = TDT(detector=dict(type="_FixedDetector"), tracker=TRACKER)
    inputs, samples = _video(2)
    with pytest.raises(ValueError, match="one video per batch"):
        model.predict(torch.cat([inputs, inputs]), samples * 2)


@MODELS.register_module(force=True)
class _ThreeScoreDetector(nn.Module):
    """Three separate boxes with scores 0.9, 0.3 and 0.41 on every frame."""

    def predict(self, inputs, data_samples, rescale=True):  # noqa: ANN001, ANN201
        boxes = torch.tensor([[0.0, 0, 10, 30], [20.0, 0, 30, 30], [40.0, 0, 48, 30]])
        data_samples[0].pred_instances = InstanceData(
            bboxes=boxes, scores=torch.tensor([0.9, 0.3, 0.41]), labels=torch.zeros(3).long()
        )
        return data_samples


@MODELS.register_module(force=True)
class _CountingReID(nn.Module):
    """Records the boxes it is asked to embed; one distinct embedding per box position."""

    channel_order = "bgr"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, frames, boxes):  # noqa: ANN001, ANN201
        self.seen.append(boxes[0].clone())
        return [torch.nn.functional.one_hot((boxes[0][:, 0] / 20).long(), 3).float()]


def test_two_stage_embeds_only_the_detections_the_tracker_uses() -> None:
    """Only boxes above obj_score_thr are embedded (crops cost two-stage time).

    The 0.3 box (<= obj_score_thr 0.4) is never embedded, and the tracks are those of the two
    kept boxes (the tracker would drop the third anyway).
    """
    model = TwoStageTracker(
        detector=dict(type="_ThreeScoreDetector"),
        reid=dict(type="_CountingReID"),
        tracker=dict(TRACKER, obj_score_thr=0.4),
        data_preprocessor=dict(type="TrackDataPreprocessor"),
    )
    inputs, samples = _video(2, scale=1.0)
    (video,) = model.predict(inputs, samples)
    assert len(model.reid.seen) == 2
    for boxes in model.reid.seen:
        torch.testing.assert_close(boxes[:, 0], torch.tensor([0.0, 40.0]))
    torch.testing.assert_close(
        video[1].pred_track_instances.scores.sort().values, torch.tensor([0.41, 0.9])
    )


def test_resize_keep_original_is_resize_plus_the_loaded_frame() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    ours = ResizeKeepOriginal(scale=(100, 60), keep_ratio=True)(dict(img=image.copy()))
    theirs = Resize(scale=(100, 60), keep_ratio=True)(dict(img=image.copy()))
    np.testing.assert_array_equal(ours["img"], theirs["img"])
    assert ours["img_shape"] == theirs["img_shape"] == (60, 100)
    np.testing.assert_allclose(ours["scale_factor"], theirs["scale_factor"])
    np.testing.assert_array_equal(ours["ori_img"], image)
    with pytest.raises(KeyError, match="after the image loader"):
        ResizeKeepOriginal(scale=(100, 60))(dict(img_path="x.jpg"))


#: Boxes (original pixels) of the detector below; scores 0.9 and 0.8 pass obj_score_thr.
ORIGINAL_BOXES = torch.tensor([[20.0, 10.0, 60.0, 90.0], [110.0, 30.0, 170.0, 110.0]])


@MODELS.register_module(force=True)
class _OriginalBoxDetector(nn.Module):
    """Two fixed boxes given in original pixels, reported as mmdet's ``predict`` does."""

    def predict(self, inputs, data_samples, rescale=True):  # noqa: ANN001, ANN201
        boxes = ORIGINAL_BOXES.clone()
        if not rescale:  # input pixels
            sx, sy = data_samples[0].metainfo["scale_factor"]
            boxes = boxes * torch.tensor([sx, sy, sx, sy])
        data_samples[0].pred_instances = InstanceData(
            bboxes=boxes, scores=torch.tensor([0.9, 0.8]), labels=torch.zeros(2).long()
        )
        return data_samples


@MODELS.register_module(force=True)
class _FrameRecordingReID(nn.Module):
    """Records the frames and boxes it gets; the embedding is the crop's mean pixel."""

    channel_order = "rgb"

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[torch.Tensor] = []
        self.boxes: list[torch.Tensor] = []

    def forward(self, frames, boxes):  # noqa: ANN001, ANN201
        self.frames.append(frames.clone())
        self.boxes.append(boxes[0].clone())
        means = []
        for x1, y1, x2, y2 in boxes[0].round().long().tolist():
            means.append(frames[0, :, y1:y2, x1:x2].mean(dim=(1, 2)))
        return [torch.nn.functional.normalize(torch.stack(means), dim=1)]


def test_two_stage_config_crops_the_original_frame(tmp_path: Path) -> None:
    """The two-stage config's own test pipeline and model: the Re-ID gets the original frame.

    Frames of 200x120 resized to 100x60 for the detector (scale factor 0.5): the Re-ID network
    must see the [1, 3, 120, 200] frame as loaded (BGR file -> its RGB order) and the boxes in
    original pixels; the reported tracks are in original pixels too. Before the fix it got the
    [1, 3, 60, 100] detector frame and half-size boxes.
    """
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (120, 200, 3), dtype=np.uint8) for _ in range(2)]
    for index, image in enumerate(images):
        cv2.imwrite(str(tmp_path / f"{index:06d}.png"), image)  # lossless: exact pixels
    cfg = Config.fromfile(str(REPO / "configs/tdt/two-stage_mnetv2-fpn_osnet_synthetic.py"))
    cfg.model.detector = dict(type="_OriginalBoxDetector")
    cfg.model.reid = dict(type="_FrameRecordingReID")
    steps = cfg.test_dataloader.dataset.pipeline
    steps[0].transforms[1].scale = (100, 60)
    steps[0].transforms = steps[0].transforms[:2]  # no annotations to load
    pipeline = Compose(steps)
    packed = pipeline(
        dict(
            img_path=[str(tmp_path / f"{i:06d}.png") for i in range(2)],
            img_id=[0, 1], frame_id=[0, 1], video_id=[0, 0], video_length=[2, 2],
        )
    )  # fmt: skip
    model = MODELS.build(cfg.model)
    model.eval()
    (video,) = model.test_step(pseudo_collate([packed]))
    assert len(model.reid.frames) == 2
    for index, (frame, boxes) in enumerate(zip(model.reid.frames, model.reid.boxes, strict=True)):
        expected = torch.from_numpy(images[index][..., ::-1].copy()).permute(2, 0, 1).float()
        assert frame.shape == (1, 3, 120, 200)
        torch.testing.assert_close(frame[0], expected)
        torch.testing.assert_close(boxes, ORIGINAL_BOXES)
    tracks = video[1].pred_track_instances
    torch.testing.assert_close(tracks.bboxes.sort(dim=0).values, ORIGINAL_BOXES.sort(dim=0).values)
    # the frame is not kept in the results
    assert "ori_img" not in video[0].metainfo
