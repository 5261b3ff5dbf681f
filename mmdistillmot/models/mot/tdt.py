"""TDT's trackers: the one-stage joint model and the paper's two-stage baseline.

* :class:`TDT` (one-stage): a detector whose predictions carry one embedding per box (RetinaNet
  with :class:`RetinaEmbedHead`) followed by :class:`JDETracker`. With an IoU-only tracker
  (``with_appearance=False``) any mmdet detector works: that is the demo's IoU baseline.
* :class:`TwoStageTracker`: the same detector without the embedding head, then a Re-ID teacher
  (e.g. :class:`OSNetTeacher`) on crops of the detections the tracker uses (score above its
  ``obj_score_thr``), then the same :class:`JDETracker`.
  TDT's Table 1 compares the two (same detector, same association).

Both train like mmdet's ByteTrack: ``loss`` is the detector's loss on detection batches, and
``predict`` runs frame by frame over a video (``TrackDataPreprocessor`` gives
``inputs [1, T, C, H, W]``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmdet.models.mot import BaseMOTModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackSampleList
from mmdet.structures.bbox import scale_boxes
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdistillmot.models.distillers.raw_frames import ChannelOrder, recover_raw_frames

__all__ = ["TDT", "TwoStageTracker"]

#: Layers with running statistics (BatchNorm, SyncBatchNorm) a frozen detector must not update.
_NORMS = (nn.modules.batchnorm._BatchNorm,)


def _single_video(inputs: Tensor, data_samples: TrackSampleList, name: str) -> int:
    """Check the one-video batch layout of mmdet's tracking inference; return its length."""
    if inputs.dim() != 5 or inputs.size(0) != 1 or len(data_samples) != 1:
        raise ValueError(
            f"{name}.predict expects one video per batch, inputs [1, T, C, H, W] from "
            f"TrackDataPreprocessor; got inputs of shape {tuple(inputs.shape)} and "
            f"{len(data_samples)} data samples (set test_dataloader.batch_size=1)."
        )
    return len(data_samples[0])


@MODELS.register_module()
class TDT(BaseMOTModel):
    """One-stage tracker: detector with per-box embeddings + JDETracker.

    Args:
        detector: Config of an mmdet detector. For appearance association its predictions
            must carry ``pred_instances.embeddings`` [K, D] (RetinaNet + RetinaEmbedHead).
        tracker: Config of the tracker (``JDETracker``).
        data_preprocessor: Config of ``TrackDataPreprocessor``.
        trainable: Train only the parameters whose name (``detector.bbox_head.embed_conv.weight``
            ...) contains one of these strings, e.g. ``('embed',)`` to train the embedding
            branch on a frozen detector (``tools/distill/adapt_to_footage.py
            --freeze-detector``). The others get ``requires_grad=False`` when the model is
            built (so DDP never waits for their gradients) and every BatchNorm
            without a trainable parameter stays in eval mode, its running statistics fixed.
            None (default): everything trains.
        init_cfg: Initialisation config.
    """

    def __init__(
        self,
        detector: dict,
        tracker: dict,
        data_preprocessor: OptConfigType = None,
        trainable: Sequence[str] | None = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(data_preprocessor, init_cfg)
        self.detector = MODELS.build(detector)
        self.tracker = MODELS.build(tracker)
        self.trainable = tuple(trainable) if trainable is not None else None
        if self.trainable is not None:
            kept = 0
            for name, param in self.named_parameters():
                train = any(key in name for key in self.trainable)
                param.requires_grad_(train)
                kept += int(train)
            if kept == 0:
                raise ValueError(
                    f"TDT.trainable={list(self.trainable)} matches no parameter name "
                    f"(e.g. {next(n for n, _ in self.named_parameters())})"
                )

    def train(self, mode: bool = True) -> TDT:
        """Set train / eval mode; with ``trainable``, frozen norm layers stay in eval mode."""
        super().train(mode)
        if mode and self.trainable is not None:
            for module in self.modules():
                frozen = all(not p.requires_grad for p in module.parameters(recurse=False))
                if isinstance(module, _NORMS) and frozen:
                    module.eval()
        return self

    def loss(self, inputs: Tensor, data_samples: list[DetDataSample], **kwargs: Any) -> dict:
        """Detector losses (focal, box and, with RetinaEmbedHead, embedding) on a batch.

        Args:
            inputs: Images [N, C, H, W].
            data_samples: Per image ``gt_instances`` (with ``teacher_embeds`` for the embedding
                head).
            **kwargs: Passed to the detector's ``loss``.

        Returns:
            The detector's loss dict.
        """
        return self.detector.loss(inputs, data_samples, **kwargs)

    def predict(
        self, inputs: Tensor, data_samples: TrackSampleList, rescale: bool = True, **kwargs: Any
    ) -> TrackSampleList:
        """Track one video.

        Args:
            inputs: Frames [1, T, C, H, W].
            data_samples: One TrackDataSample of T frames (``frame_id`` in each metainfo).
            rescale: Report boxes in original image coordinates.
            **kwargs: Unused.

        Returns:
            The TrackDataSample with ``pred_track_instances`` (bboxes, scores, labels,
            instances_id) on every frame.
        """
        num_frames = _single_video(inputs, data_samples, type(self).__name__)
        video = data_samples[0]
        for frame_id in range(num_frames):
            frame_sample = video[frame_id]
            (detections,) = self.detector.predict(
                inputs[:, frame_id].contiguous(), [frame_sample], rescale=rescale
            )
            frame_sample.pred_track_instances = self.tracker.track(data_sample=detections)
        return [video]


@MODELS.register_module()
class TwoStageTracker(BaseMOTModel):
    """Two-stage tracker: detector, then a Re-ID network on crops, then JDETracker.

    The Re-ID network crops the detections from the *original* frame, as TDT's two-stage
    baseline does and as the teacher stores were extracted: the test pipeline keeps it with
    ``ResizeKeepOriginal`` and ``PackTrackInputs(meta_keys=('ori_img',))``, and the boxes are
    mapped back to original pixels (``1 / scale_factor``) before cropping. A pipeline without
    ``ori_img`` gets crops of the resized frame the detector saw (the raw pixels recovered
    from the preprocessed input), with a warning, once.

    Args:
        detector: Config of an mmdet detector.
        reid: Config of a box embedder called as ``reid(frames, [boxes]) -> [embeddings]``
            with raw frames (``OSNetTeacher``, with real weights).
        tracker: Config of the tracker (``JDETracker``).
        loaded_channel_order: Channel order of the frames the pipeline loads (mmdet: 'bgr').
        data_preprocessor: Config of ``TrackDataPreprocessor``.
        init_cfg: Initialisation config.
    """

    def __init__(
        self,
        detector: dict,
        reid: dict,
        tracker: dict,
        loaded_channel_order: ChannelOrder = "bgr",
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(data_preprocessor, init_cfg)
        self.detector = MODELS.build(detector)
        self.reid = MODELS.build(reid)
        self.tracker = MODELS.build(tracker)
        if loaded_channel_order not in ("bgr", "rgb"):
            raise ValueError(
                f"loaded_channel_order must be 'bgr' or 'rgb', got {loaded_channel_order!r}"
            )
        self.loaded_channel_order = loaded_channel_order

    def loss(self, inputs: Tensor, data_samples: list[DetDataSample], **kwargs: Any) -> dict:
        """The detector's losses (the Re-ID network is trained separately).

        Args:
            inputs: Images [N, C, H, W].
            data_samples: Per image ``gt_instances``.
            **kwargs: Passed to the detector's ``loss``.

        Returns:
            The detector's loss dict.
        """
        return self.detector.loss(inputs, data_samples, **kwargs)

    def tracked_detections(self, detections: InstanceData) -> InstanceData:
        """The detections the tracker will use: ``score > tracker.obj_score_thr``.

        JDETracker drops every other detection before association, so embedding them would
        only add crops (with the detector's ``score_thr=0.05``, about five times as many on
        the demo's frames) to the two-stage time and inflate the one-stage speed-up. A tracker
        without ``obj_score_thr`` gets every detection.

        Args:
            detections: The detector's ``pred_instances`` (``bboxes`` [K, 4], ``scores`` [K]).

        Returns:
            The kept rows, in the same order.
        """
        threshold = getattr(self.tracker, "obj_score_thr", None)
        if threshold is None:
            return detections
        return detections[detections.scores > threshold]

    def predict(
        self, inputs: Tensor, data_samples: TrackSampleList, rescale: bool = True, **kwargs: Any
    ) -> TrackSampleList:
        """Track one video: detect, embed the crops of the tracked detections, associate.

        Args:
            inputs: Frames [1, T, C, H, W].
            data_samples: One TrackDataSample of T frames.
            rescale: Report boxes in original image coordinates.
            **kwargs: Unused.

        Returns:
            The TrackDataSample with ``pred_track_instances`` on every frame.
        """
        num_frames = _single_video(inputs, data_samples, type(self).__name__)
        video = data_samples[0]
        for frame_id in range(num_frames):
            frame_sample = video[frame_id]
            frame = inputs[:, frame_id].contiguous()
            original = frame_sample.metainfo.get("ori_img")
            if original is not None:
                # detect in original pixels, crop the original frame
                (det_sample,) = self.detector.predict(frame, [frame_sample], rescale=True)
                detections = self.tracked_detections(det_sample.pred_instances)
                raw = self.original_frame(original, frame.device)
                del frame_sample.ori_img  # one frame per sample: not kept in the results
            else:
                self._warn_no_original_frame()
                (det_sample,) = self.detector.predict(frame, [frame_sample], rescale=False)
                detections = self.tracked_detections(det_sample.pred_instances)
                raw = recover_raw_frames(
                    frame, self.data_preprocessor, self.loaded_channel_order, self.reid_order
                )
            with torch.no_grad():
                (embeddings,) = self.reid(raw, [detections.bboxes])
            detections.embeddings = embeddings
            has_scale = "scale_factor" in frame_sample.metainfo
            if original is not None and not rescale and has_scale:
                detections.bboxes = scale_boxes(
                    detections.bboxes, frame_sample.metainfo["scale_factor"]
                )
            elif original is None and rescale and has_scale:
                inverse = [1.0 / s for s in frame_sample.metainfo["scale_factor"]]
                detections.bboxes = scale_boxes(detections.bboxes, inverse)
            frame_sample.pred_instances = detections
            frame_sample.pred_track_instances = self.tracker.track(data_sample=frame_sample)
        return [video]

    @property
    def reid_order(self) -> ChannelOrder:
        """Channel order the Re-ID network wants (``'bgr'`` unless it says otherwise)."""
        order: ChannelOrder = getattr(self.reid, "channel_order", "bgr")
        return order

    def original_frame(self, image: Any, device: torch.device) -> Tensor:
        """The original frame as the Re-ID network takes it.

        Args:
            image: ``ori_img`` from the pipeline, ``[H0, W0, 3]`` (numpy or tensor) in
                ``loaded_channel_order`` on the 0-255 scale.
            device: Where the network runs.

        Returns:
            ``[1, 3, H0, W0]`` float32 frames on the 0-255 scale in :attr:`reid_order`.
        """
        frame = torch.as_tensor(np.ascontiguousarray(image), device=device)
        if frame.dim() != 3 or frame.shape[-1] != 3:
            raise ValueError(
                f"{type(self).__name__}: ori_img must be an [H, W, 3] colour frame, got shape "
                f"{tuple(frame.shape)}"
            )
        frame = frame.permute(2, 0, 1).unsqueeze(0).float()
        if self.loaded_channel_order != self.reid_order:
            frame = frame.flip(1)
        return frame

    def _warn_no_original_frame(self) -> None:
        if getattr(self, "_warned_no_original", False):
            return
        self._warned_no_original = True
        warnings.warn(
            f"{type(self).__name__}: the test pipeline does not keep the original frame "
            "('ori_img'), so the Re-ID network crops the resized frame the detector saw. TDT's "
            "two-stage baseline crops the original: use ResizeKeepOriginal instead of Resize "
            "and PackTrackInputs(meta_keys=('ori_img',)).",
            stacklevel=2,
        )
