"""MOTR-style clip sampling: a few frames of one video at a random, fixed stride.

mmdet's video datasets hand the pipeline a whole video (``video_infos``, with ``key_frame_id``
when ``TrackImgSampler`` picked a frame). This transform turns it into one training clip of
``num_frames`` frames ``start, start + s, ..., start + (num_frames - 1) * s`` with the stride
``s`` drawn uniformly from ``min_step..max_step`` (both inclusive; MOTRv2: 5 frames, 1..11).
The key frame is the clip's first frame. When the clip would run past the end of the video the
start moves back (the stride, and so its distribution, is kept); only a video too short for the
drawn stride gets the longest stride that fits, and a video shorter than the clip repeats its
last frame.

The result is the dict-of-lists layout of mmdet's ``UniformRefFrameSample`` output, so it is
followed by ``TransformBroadcaster`` (per-frame loading and augmentation) and
``PackTrackInputs``. For clip-consistent augmentation use ``share_random_params=True``: the
wrapper then reuses, for every frame, the draws that a transform makes inside methods decorated
with ``@cache_randomness``. In mmcv 2.1 / mmdet 3.3 that covers ``RandomFlip``
(``_choose_direction``), ``RandomResize`` (``_random_scale``), ``RandomChoiceResize``
(``_random_select``), ``RandomCrop`` (``_get_crop_size``, ``_rand_offset``),
``PhotoMetricDistortion``, ``YOLOXHSVRandomAug``, ``RandomAffine``, ``RandomShift``,
``Expand``, ``MinIoURandomCrop`` and the geometric/colour-space ``GeomTransform`` /
``ColorTransform`` family; ``Albu`` and ``RandomCenterCropPad`` are marked
``avoid_cache_randomness`` and refuse to be shared. ``RandomChoice`` and ``RandomApply`` share
their choice as well.
"""

from __future__ import annotations

import copy
import random
from collections import defaultdict
from typing import Any

from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

__all__ = ["MOTRClipSample", "clip_frame_indices"]


def clip_frame_indices(video_length: int, start: int, step: int, num_frames: int) -> list[int]:
    """Frame indices of a clip, fitted into the video.

    Args:
        video_length (int): Frames in the video (>= 1).
        start (int): Requested first frame (0-based).
        step (int): Requested stride (>= 1).
        num_frames (int): Frames in the clip (>= 1).

    Returns:
        list[int]: ``num_frames`` non-decreasing indices in ``[0, video_length)``; strictly
        increasing with a constant stride whenever the video has at least ``num_frames``
        frames.

    Raises:
        ValueError: On a non-positive length, stride or clip size.
    """
    if video_length < 1 or step < 1 or num_frames < 1:
        raise ValueError(
            f"need video_length, step and num_frames >= 1, got {video_length}, {step}, {num_frames}"
        )
    last = video_length - 1
    if num_frames > 1:
        # Keep the stride unless even a clip starting at frame 0 cannot hold it; then slide the
        # start back so that the clip ends inside the video.
        step = max(1, min(step, last // (num_frames - 1)))
    start = min(max(start, 0), max(0, last - step * (num_frames - 1)))
    return [min(start + i * step, last) for i in range(num_frames)]


@TRANSFORMS.register_module()
class MOTRClipSample(BaseTransform):
    """Sample a training clip of ``num_frames`` frames with a random stride.

    Args:
        num_frames (int): Frames per clip. Defaults to 5.
        min_step (int): Smallest stride. Defaults to 1.
        max_step (int): Largest stride, inclusive. Defaults to 11.
        collect_video_keys (tuple[str, ...]): Video-level keys copied into every frame.
            Defaults to ``('video_id', 'video_length')``.
    """

    def __init__(
        self,
        num_frames: int = 5,
        min_step: int = 1,
        max_step: int = 11,
        collect_video_keys: tuple[str, ...] = ("video_id", "video_length"),
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if not 1 <= min_step <= max_step:
            raise ValueError(f"need 1 <= min_step <= max_step, got {min_step}, {max_step}")
        self.num_frames = num_frames
        self.min_step = min_step
        self.max_step = max_step
        self.collect_video_keys = collect_video_keys

    def transform(self, results: dict) -> dict[str, Any]:
        """Pick the clip's frames and collate their infos.

        Args:
            results (dict): ``video_infos`` of a video dataset: ``images`` (per-frame infos),
                ``video_length``, optional ``key_frame_id`` (the clip's first frame; random
                when absent).

        Returns:
            dict[str, Any]: For every per-frame key a list over the clip's frames, plus
            ``frame_stride`` (the stride used, per frame) and ``ori_video_length``.

        Raises:
            ValueError: If the video has no frames.
        """
        images = results["images"]
        video_length = len(images)
        if video_length == 0:
            raise ValueError(f"video {results.get('video_id')} has no frames to sample")
        start = results.get("key_frame_id")
        if start is None:
            start = random.randrange(video_length)
        step = random.randint(self.min_step, self.max_step)
        indices = clip_frame_indices(video_length, int(start), step, self.num_frames)
        stride = indices[1] - indices[0] if len(indices) > 1 else 0
        clip: dict[str, list] = defaultdict(list)
        for index in indices:
            frame = copy.deepcopy(images[index])
            for key in self.collect_video_keys:
                if key == "video_length":
                    frame["ori_video_length"] = results.get("video_length", video_length)
                    frame["video_length"] = self.num_frames
                elif key in results:
                    frame[key] = results[key]
            frame["frame_stride"] = stride
            for key, value in frame.items():
                clip[key].append(value)
        return dict(clip)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_frames={self.num_frames}, "
            f"min_step={self.min_step}, max_step={self.max_step})"
        )
