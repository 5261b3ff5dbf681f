"""MOTRv2's runtime tracker: the identity life cycle of track queries at inference.

MOTR-style trackers have no association step: a query that keeps predicting an object *is* the
track. What remains is bookkeeping, done here frame by frame on the queries' scores:

- birth: a query without an id whose score is >= ``init_score_thr`` (0.5) gets the next id;
- dips: a tracked query scoring < ``keep_score_thr`` (0.5) counts one missed frame; a score
  >= ``init_score_thr`` resets the count;
- death: after ``miss_tolerance`` (20) consecutive missed frames the id is released (-1), and
  QIM stops carrying the query;
- output: a tracked query is reported when its score is > ``output_score_thr`` (0.5) and its box
  area (original image pixels) is > ``min_area`` (100).

The tracker also holds the queries carried into the next frame (``carried``) and resets at the
first frame of each video.
"""

from __future__ import annotations

from typing import Any

import torch
from mmdet.registry import MODELS
from torch import Tensor

__all__ = ["MOTRTracker"]


@MODELS.register_module()
class MOTRTracker:
    """Identity bookkeeping for query-propagation trackers (MOTR, MOTRv2).

    Args:
        init_score_thr (float): Score at or above which a query starts a track (and resets its
            miss count). Defaults to 0.5.
        keep_score_thr (float): Score under which a tracked query counts a missed frame.
            Defaults to 0.5.
        miss_tolerance (int): Consecutive missed frames after which a track is dropped.
            Defaults to 20.
        output_score_thr (float): Reported tracks score strictly above this. Defaults to 0.5.
        min_area (float): Reported boxes have an area strictly above this (pixels of the
            original image). Defaults to 100.
    """

    def __init__(
        self,
        init_score_thr: float = 0.5,
        keep_score_thr: float = 0.5,
        miss_tolerance: int = 20,
        output_score_thr: float = 0.5,
        min_area: float = 100.0,
    ) -> None:
        if miss_tolerance < 1:
            raise ValueError(f"miss_tolerance must be >= 1, got {miss_tolerance}")
        self.init_score_thr = init_score_thr
        self.keep_score_thr = keep_score_thr
        self.miss_tolerance = miss_tolerance
        self.output_score_thr = output_score_thr
        self.min_area = min_area
        self.next_id = 0
        self.carried: Any = None

    def reset(self) -> None:
        """Forget all tracks (call at the first frame of a video); ids restart at 0."""
        self.next_id = 0
        self.carried = None

    def update(self, scores: Tensor, obj_ids: Tensor, miss_counts: Tensor) -> tuple[Tensor, Tensor]:
        """Apply one frame of births, misses and deaths.

        Args:
            scores (Tensor): ``[N]`` foreground probabilities of all queries of the frame.
            obj_ids (Tensor): ``[N]`` long, current track id of each query, -1 for none.
            miss_counts (Tensor): ``[N]`` long, consecutive missed frames so far.

        Returns:
            tuple[Tensor, Tensor]: New ``obj_ids`` and ``miss_counts`` (new tensors). New ids
            are consecutive from :attr:`next_id` in query order.
        """
        obj_ids, miss_counts = obj_ids.clone(), miss_counts.clone()
        confident = scores >= self.init_score_thr
        miss_counts[confident] = 0
        born = (obj_ids < 0) & confident
        num_born = int(born.sum())
        obj_ids[born] = self.next_id + torch.arange(num_born, device=obj_ids.device)
        self.next_id += num_born
        missed = (obj_ids >= 0) & (scores < self.keep_score_thr)
        miss_counts[missed] += 1
        dead = missed & (miss_counts >= self.miss_tolerance)
        obj_ids[dead] = -1
        return obj_ids, miss_counts

    def output_mask(self, scores: Tensor, obj_ids: Tensor, bboxes: Tensor) -> Tensor:
        """Which tracked queries to report this frame.

        Args:
            scores (Tensor): ``[N]`` probabilities.
            obj_ids (Tensor): ``[N]`` ids after :meth:`update`.
            bboxes (Tensor): ``[N, 4]`` ``(x1, y1, x2, y2)`` boxes in original image pixels.

        Returns:
            Tensor: Boolean ``[N]``.
        """
        area = (bboxes[:, 2] - bboxes[:, 0]).clamp(min=0) * (bboxes[:, 3] - bboxes[:, 1]).clamp(
            min=0
        )
        return (obj_ids >= 0) & (scores > self.output_score_thr) & (area > self.min_area)
