"""mmdet's ``MOTChallengeMetric`` writing 1-based track ids, as MOTChallenge result files have.

mmdet 3.3's metric writes ``pred_track_instances.instances_id`` as it is, and mmdet's trackers
(and this project's ``JDETracker`` and ``MOTRTracker``) number tracks from 0, so the result
files it leaves (``outfile_prefix``, ``format_only=True`` for a submission) hold id 0, which
MOTChallenge's format does not use (ids count from 1, as in ``gt.txt``). The scores do not
change: TrackEval matches ids, whatever their numbers.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from mmdet.evaluation import MOTChallengeMetric
from mmdet.registry import METRICS

__all__ = ["OneBasedMOTChallengeMetric"]


@METRICS.register_module()
class OneBasedMOTChallengeMetric(MOTChallengeMetric):
    """``MOTChallengeMetric`` whose result files hold ``instances_id + 1`` (ids from 1).

    The shift happens once, where the metric turns a frame's tracks into MOTChallenge rows;
    everything else (TrackEval, the scores, the ground-truth files) is mmdet's. With
    ``use_postprocess=True`` the rows come from the model as they are (mmdet's convention for
    models that post-process their tracks themselves) and are not shifted.

    Args:
        metric: ``'HOTA'``, ``'CLEAR'`` and/or ``'Identity'`` (a string or a list).
        outfile_prefix: Folder for the result files (a temporary one when None).
        track_iou_thr: IoU threshold of the CLEAR and Identity matching. 0.5.
        benchmark: TrackEval's benchmark name (``'MOT17'`` ...).
        format_only: Only write the result files (``outfile_prefix`` needed), no scores.
        use_postprocess: Take the rows from ``pred_track_instances.bboxes`` as they are.
        postprocess_tracklet_cfg: mmdet's tracklet post-processing (e.g. interpolation).
        collect_device: ``'cpu'`` or ``'gpu'``, for results of several processes.
        prefix: Prefix of the metric names (``motchallenge-metric`` by default).
    """

    def transform_gt_and_pred(self, img_data_sample: dict, video: Any, frame_id: int) -> None:
        """mmdet's rows of one frame, with the predicted track ids made 1-based.

        Args:
            img_data_sample: The frame's ``DetDataSample`` as a dict (``img_path``,
                ``pred_track_instances`` and, when annotated, ``instances``).
            video: Unused (mmdet reads the sequence name from ``img_path``).
            frame_id: 0-based index of the frame in its video.
        """
        sequence = img_data_sample["img_path"].split(os.sep)[-3]  # as mmdet names it
        before = len(self.seq_info[sequence]["pred_tracks"])
        super().transform_gt_and_pred(img_data_sample, video, frame_id)
        if self.use_postprocess:
            return
        rows = self.seq_info[sequence]["pred_tracks"]
        for index in range(before, len(rows)):
            row = np.array(rows[index], dtype=np.float64)  # frame, id, x, y, w, h, score
            row[1] += 1
            rows[index] = row
