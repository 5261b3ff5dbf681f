"""mmdet's ``MOTChallengeDataset`` that gives every frame its video's frame rate (``fps``).

CocoVID files carry each video's rate in ``videos[i]['fps']`` (mmdet's ``mot2coco`` and this
project's converters copy ``seqinfo.ini``'s ``frameRate``), but mmdet 3.3 reads only the images
and annotations: no frame learns its video's rate, and a tracker falls back to the 30 fps of its
config (``JDETracker``'s lost-track buffer then lasts 30 frames at 7 fps as at 30 fps, where
FairMOT keeps ``int(7 / 30 * 30) = 7``). :class:`MOTChallengeVideoDataset` adds ``fps`` to each
frame's data info and to the ``meta_keys`` of the pipeline's ``PackTrackInputs``, so that every
``DetDataSample`` of ``tools/test.py`` (and of training) has ``metainfo['fps']``. A video without
``fps`` in the file gets none (the tracker's config rate applies). Everything else, including
what ``MOTChallengeMetric`` reads, is mmdet's.
"""

from __future__ import annotations

from typing import Any

from mmdet.datasets import MOTChallengeDataset
from mmdet.datasets.transforms import PackTrackInputs
from mmdet.registry import DATASETS

__all__ = ["MOTChallengeVideoDataset"]


@DATASETS.register_module()
class MOTChallengeVideoDataset(MOTChallengeDataset):
    """``MOTChallengeDataset`` whose frames carry their video's frame rate in ``metainfo['fps']``.

    Args:
        *args: ``MOTChallengeDataset``'s arguments (``ann_file``, ``data_root``, ``pipeline``,
            ``test_mode`` ...).
        **kwargs: ``MOTChallengeDataset``'s keyword arguments, e.g. ``visibility_thr``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._video_fps: dict[int, float] | None = None
        super().__init__(*args, **kwargs)
        for transform in self.pipeline.transforms:
            if isinstance(transform, PackTrackInputs) and "fps" not in transform.meta_keys:
                transform.meta_keys = (*transform.meta_keys, "fps")

    def load_data_list(self) -> list[dict]:
        """mmdet's video list; the videos' ``fps`` is read on the way (see :meth:`parse_data_info`).

        Returns:
            One dict per video (``video_id``, ``images``, ``video_length``).
        """
        self._video_fps = None  # read from this file's ``videos``, on its first image
        return super().load_data_list()

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """mmdet's frame info plus ``fps``, the frame rate of the frame's video when known.

        Args:
            raw_data_info: ``raw_img_info`` (with ``video_id``) and ``raw_ann_info``.

        Returns:
            The frame's data info; ``fps`` (float) when its video has one in the file.
        """
        if self._video_fps is None:
            # mmdet's load_data_list keeps the parsed file in ``self.coco`` while it parses
            videos = self.coco.dataset.get("videos", [])
            self._video_fps = {
                int(video["id"]): float(video["fps"]) for video in videos if video.get("fps")
            }
        data_info = super().parse_data_info(raw_data_info)
        video_id = raw_data_info["raw_img_info"].get("video_id")
        if video_id is not None and int(video_id) in self._video_fps:
            data_info["fps"] = self._video_fps[int(video_id)]
        return data_info
