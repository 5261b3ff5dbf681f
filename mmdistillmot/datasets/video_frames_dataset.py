"""A video dataset seen frame by frame: one training clip per frame, as ``TrackImgSampler``.

mmdet's video datasets have one element per video; ``TrackImgSampler`` makes every frame of
every video start one clip per epoch. That sampler only handles a bare video dataset: with
mmengine's ``ConcatDataset`` it hands the wrapped datasets video indices that are not offset
(every dataset after the first is indexed as if it were the first) and a ``(video, frame)``
tuple that ``ConcatDataset`` cannot route. This wrapper moves the per-frame indexing into the
dataset: element ``i`` is frame ``i`` of the concatenated videos, prepared with that frame as
``key_frame_id``. It then concatenates with still-image datasets in a plain ``ConcatDataset``
and is shuffled and sharded by mmengine's ``DefaultSampler``, which is how the MOTRv2 /
CrowdHuman joint training configs use it.
"""

from __future__ import annotations

import bisect
import copy
from typing import Any

from mmdet.datasets import BaseVideoDataset
from mmdet.registry import DATASETS

__all__ = ["VideoFramesDataset"]


@DATASETS.register_module()
class VideoFramesDataset:
    """One element per frame of a (training) video dataset.

    Args:
        dataset (dict | BaseVideoDataset): The video dataset or its config (e.g. mmdet's
            ``MOTChallengeDataset`` with a clip pipeline starting with ``MOTRClipSample``).
        lazy_init (bool): Postpone loading the annotations until first use. Defaults to False.

    Raises:
        TypeError: If ``dataset`` is not a video dataset.
        ValueError: If it is in test mode (testing walks videos in order, not frames at random).
    """

    def __init__(self, dataset: dict | BaseVideoDataset, lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(copy.deepcopy(dataset))
        if not isinstance(dataset, BaseVideoDataset):
            raise TypeError(
                f"VideoFramesDataset wraps an mmdet BaseVideoDataset, got {type(dataset).__name__}"
            )
        if dataset.test_mode:
            raise ValueError(
                f"VideoFramesDataset is for training; {type(dataset).__name__} "
                f"({dataset.ann_file}) is in test_mode"
            )
        self.dataset = dataset
        self._ends: list[int] = []  # cumulative frame counts, one per video
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information (a copy)."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Load the wrapped dataset and index its frames."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        total = 0
        self._ends = []
        for video in range(len(self.dataset)):
            total += self.dataset.get_len_per_video(video)
            self._ends.append(total)
        self._fully_initialized = True

    def frame_index(self, idx: int) -> tuple[int, int]:
        """The ``(video, frame)`` of a flat frame index.

        Args:
            idx (int): Index in ``[-len, len)``.

        Returns:
            tuple[int, int]: Video index and frame index inside that video.

        Raises:
            IndexError: If ``idx`` is out of range.
        """
        self.full_init()
        total = len(self)
        if not -total <= idx < total:
            raise IndexError(f"frame index {idx} out of range for {total} frames")
        idx %= total
        video = bisect.bisect_right(self._ends, idx)
        start = self._ends[video - 1] if video else 0
        return video, idx - start

    def get_data_info(self, idx: int) -> dict:
        """The annotation of the video holding frame ``idx`` (with ``key_frame_id`` set).

        Args:
            idx (int): Flat frame index.

        Returns:
            dict: The video's data info.
        """
        video, frame = self.frame_index(idx)
        info = self.dataset.get_data_info(video)
        info["key_frame_id"] = frame
        return info

    def __len__(self) -> int:
        self.full_init()
        return self._ends[-1] if self._ends else 0

    def __getitem__(self, idx: int) -> Any:
        """A clip starting at frame ``idx`` (the wrapped pipeline's output)."""
        return self.dataset[self.frame_index(idx)]
