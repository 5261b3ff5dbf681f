"""FairMOT: one network for detection and re-identification, tracked by JDE association."""

from __future__ import annotations

from typing import Any

from mmdet.models.mot import BaseMOTModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.utils import InstanceList, OptConfigType, OptMultiConfig
from torch import Tensor

__all__ = ["FairMOT"]

DataSamples = list[TrackDataSample] | list[DetDataSample]


@MODELS.register_module()
class FairMOT(BaseMOTModel):
    """FairMOT (Zhang et al., IJCV 2021) in mmdet's MOT model interface.

    ``backbone`` (HRNetV2-W18) -> ``neck`` (:class:`HRNetUpsampleConcat`, the 270-channel stride-4
    map; a distillation wrapper taps this submodule) -> ``bbox_head`` (:class:`FairMOTHead`:
    heatmap, ltrb box, offset and 128-d embedding) -> ``tracker`` (:class:`JDETracker`) at
    inference.

    Training takes either video-style batches (``inputs [N, T, C, H, W]`` with
    :class:`TrackDataSample` items, as ``PackTrackInputs`` and ``TrackDataPreprocessor`` give;
    every frame is an independent training image) or detection-style batches
    (``inputs [N, C, H, W]`` with :class:`DetDataSample` items). Identity labels are read from
    ``gt_instances.instances_ids`` (``PackTrackInputs``'s name for ``gt_instances_ids``);
    images without them train detection only.

    Inference runs frame by frame: decode detections and embeddings, then let the tracker
    associate them (``frame_id`` 0 starts a new video). Both image-based (``TrackImgSampler``,
    one frame per call) and video-based sampling work.

    Args:
        backbone (dict): Backbone config (mmdet's ``HRNet``).
        neck (dict): Neck config returning one ``[B, C, H/4, W/4]`` tensor.
        bbox_head (dict): Head config (``FairMOTHead``).
        tracker (dict, optional): Tracker config (``JDETracker``); needed for ``predict``.
        data_preprocessor (dict, optional): ``TrackDataPreprocessor`` config.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        bbox_head: dict,
        tracker: dict | None = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.bbox_head = MODELS.build(bbox_head)
        self.tracker = MODELS.build(tracker) if tracker is not None else None

    def extract_feat(self, images: Tensor) -> Tensor:
        """Backbone and neck.

        Args:
            images (Tensor): ``[B, 3, H, W]`` preprocessed images (H, W divisible by 32).

        Returns:
            Tensor: ``[B, C, H/4, W/4]`` feature map (270 channels for HRNetV2-W18).
        """
        return self.neck(self.backbone(images))

    @staticmethod
    def _flatten_frames(inputs: Tensor, data_samples: DataSamples) -> tuple[Tensor, list]:
        """Turn a video-style batch into a batch of independent frames.

        Args:
            inputs (Tensor): ``[N, T, C, H, W]`` or ``[N, C, H, W]``.
            data_samples (list): ``TrackDataSample`` (with ``T`` frames each) or
                ``DetDataSample`` items.

        Returns:
            tuple[Tensor, list[DetDataSample]]: ``[N*T, C, H, W]`` images and their samples.

        Raises:
            ValueError: When the input rank and the samples do not agree.
        """
        if inputs.dim() == 5:
            frames = [f for s in data_samples for f in s.video_data_samples]
            if len(frames) != inputs.shape[0] * inputs.shape[1]:
                raise ValueError(
                    f"FairMOT: inputs of shape {tuple(inputs.shape)} but the data samples hold "
                    f"{len(frames)} frames"
                )
            return inputs.flatten(0, 1), frames
        if inputs.dim() == 4:
            return inputs, list(data_samples)
        raise ValueError(
            f"FairMOT: expected inputs [N, T, C, H, W] or [N, C, H, W], got {tuple(inputs.shape)}"
        )

    def loss(self, inputs: Tensor, data_samples: DataSamples, **kwargs: Any) -> dict[str, Tensor]:
        """Compute FairMOT's losses on a batch.

        Args:
            inputs (Tensor): ``[N, T, C, H, W]`` (video-style) or ``[N, C, H, W]`` images.
            data_samples (list): Matching ``TrackDataSample`` or ``DetDataSample`` items with
                ``gt_instances`` (``bboxes``, ``labels``, optionally ``instances_ids``).
            **kwargs: Unused.

        Returns:
            dict[str, Tensor]: See :class:`FairMOTHead` (``loss_*`` terms sum to the
            uncertainty-weighted total).
        """
        images, frames = self._flatten_frames(inputs, data_samples)
        return self.bbox_head.loss(self.extract_feat(images), frames)

    def predict_detections(
        self, images: Tensor, data_samples: list[DetDataSample], rescale: bool = True
    ) -> InstanceList:
        """Detect one batch of frames (no tracking).

        Args:
            images (Tensor): ``[B, C, H, W]`` images.
            data_samples (list[DetDataSample]): Their samples (meta information).
            rescale (bool): Boxes in original image pixels. Defaults to True.

        Returns:
            list[InstanceData]: Per frame ``bboxes``, ``scores``, ``labels``, ``embeddings``.
        """
        return self.bbox_head.predict(self.extract_feat(images), data_samples, rescale=rescale)

    def predict(
        self,
        inputs: Tensor,
        data_samples: list[TrackDataSample],
        rescale: bool = True,
        **kwargs: Any,
    ) -> list[TrackDataSample]:
        """Detect and track the frames of one video, in order.

        Args:
            inputs (Tensor): ``[1, T, C, H, W]`` frames of one video (T = 1 with image-based
                sampling).
            data_samples (list[TrackDataSample]): One sample with ``T`` frames; each frame's
                metainfo needs ``frame_id``.
            rescale (bool): Report boxes in original image pixels. Defaults to True.
            **kwargs: Passed to the tracker.

        Returns:
            list[TrackDataSample]: The input sample with ``pred_instances`` (detections and
            embeddings) and ``pred_track_instances`` (``bboxes``, ``scores``, ``labels``,
            ``instances_id``) set on every frame.

        Raises:
            RuntimeError: When the model has no tracker.
            ValueError: For a batch of more than one video or a non-5-D input.
        """
        if self.tracker is None:
            raise RuntimeError("FairMOT.predict: no tracker configured (model.tracker)")
        if inputs.dim() != 5 or inputs.shape[0] != 1 or len(data_samples) != 1:
            raise ValueError(
                f"FairMOT.predict: needs inputs [1, T, C, H, W] and one TrackDataSample, got "
                f"{tuple(inputs.shape)} and {len(data_samples)} samples"
            )
        track_sample = data_samples[0]
        for frame_idx in range(len(track_sample)):
            frame = track_sample[frame_idx]
            detections = self.predict_detections(
                inputs[:, frame_idx].contiguous(), [frame], rescale=rescale
            )[0]
            frame.pred_instances = detections
            frame.pred_track_instances = self.tracker.track(data_sample=frame, **kwargs)
        return [track_sample]

    def _forward(
        self, inputs: Tensor, data_samples: DataSamples | None = None, **kwargs: Any
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Network outputs without post-processing (``mode='tensor'``).

        Args:
            inputs (Tensor): ``[N, C, H, W]`` or ``[N, T, C, H, W]`` images.
            data_samples (list, optional): Unused.
            **kwargs: Unused.

        Returns:
            tuple[Tensor, Tensor, Tensor, Tensor]: Heatmap logits, ltrb, offsets, embeddings
            (see :meth:`FairMOTHead.forward`), for all ``N*T`` frames.
        """
        images = inputs.flatten(0, 1) if inputs.dim() == 5 else inputs
        return self.bbox_head(self.extract_feat(images))
