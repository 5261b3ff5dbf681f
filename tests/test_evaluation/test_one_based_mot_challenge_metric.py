"""OneBasedMOTChallengeMetric: result files with track ids from 1, scores as mmdet's metric.

A tracker numbers its tracks from 0 (mmdet's convention, and JDETracker's); the ground truth of
the same two walkers numbers them 1 and 2. mmdet's metric writes the tracker's ids as they are
(0 and 1), ours writes them shifted once (1 and 2, the ground truth's numbers); read back from
the files. TrackEval's scores do not depend on the numbering, so both metrics agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mot_eval_helpers import two_walkers
from test_mmdet_motchallenge_metric import _video_sample

from mmdistillmot.datasets.mot_files import read_mot_file

SEQ = "MOT17-93"
FRAMES = 6


def _run(metric_type: str, out: Path) -> tuple[dict, np.ndarray]:
    from mmdet.registry import METRICS

    gt = two_walkers(FRAMES)
    pred = gt.copy()
    pred["id"] = gt["id"] - 1  # the tracker's 0-based ids
    pred["conf"] = 0.9
    with DefaultScope.overwrite_default_scope("mmdet"):
        metric = METRICS.build(dict(type=metric_type, outfile_prefix=str(out)))
    evaluator = Evaluator(metric)
    evaluator.process([_video_sample(SEQ, gt, pred, FRAMES)], data_batch={})
    scores = evaluator.evaluate(1)
    rows = read_mot_file(out / "default-tracker" / f"{SEQ}.txt", kind="result").rows
    return scores, rows


def test_result_file_ids_are_one_based_and_scores_unchanged(tmp_path: Path) -> None:
    gt = two_walkers(FRAMES)
    assert sorted(set(gt["id"].tolist())) == [1, 2]
    theirs, their_rows = _run("MOTChallengeMetric", tmp_path / "mmdet")
    ours, our_rows = _run("OneBasedMOTChallengeMetric", tmp_path / "ours")
    assert sorted(set(their_rows["id"].tolist())) == [0, 1]  # mmdet: the tracker's ids as they are
    assert sorted(set(our_rows["id"].tolist())) == [1, 2]  # once shifted: ids from 1
    order = np.lexsort((gt["id"], gt["frame"]))
    np.testing.assert_array_equal(our_rows["id"], gt["id"][order])
    np.testing.assert_array_equal(our_rows["id"], their_rows["id"] + 1)
    for key in ("frame", "x", "y", "w", "h", "conf"):
        np.testing.assert_allclose(our_rows[key], their_rows[key])
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert float(ours[key]) == pytest.approx(float(value)), key
    assert float(ours["motchallenge-metric/HOTA"]) == pytest.approx(1.0)  # pred = gt boxes
