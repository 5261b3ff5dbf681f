"""mmdet's MOTChallengeMetric (TrackEval inside) works here and agrees with our file scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData
from mot_eval_helpers import two_walkers, write_sequence

from mmdistillmot.datasets.mot_files import make_mot_rows, write_mot_results
from mmdistillmot.evaluation.mot_eval import evaluate_mot_results


def test_metric_imports_and_builds_from_a_config():
    from mmdet.evaluation import MOTChallengeMetric
    from mmdet.registry import METRICS

    with DefaultScope.overwrite_default_scope("mmdet"):
        metric = METRICS.build(dict(type="MOTChallengeMetric", metric=["HOTA", "CLEAR"]))
    assert isinstance(metric, MOTChallengeMetric)
    assert metric.metrics == ["HOTA", "CLEAR"]


def _xyxy(rows: np.ndarray) -> np.ndarray:
    """Boxes of MOT rows as [x1, y1, x2, y2], shape (N, 4)."""
    return np.stack([rows["x"], rows["y"], rows["x"] + rows["w"], rows["y"] + rows["h"]], axis=1)


def _video_sample(name: str, gt: np.ndarray, pred: np.ndarray, num_frames: int):
    """A TrackDataSample as mmdet's test loop hands it to the metric (annotations in metainfo)."""
    from mmdet.structures import DetDataSample, TrackDataSample

    frames = []
    for frame in range(1, num_frames + 1):
        g, p = gt[gt["frame"] == frame], pred[pred["frame"] == frame]
        instances = [
            dict(
                instance_id=int(r["id"]),
                bbox=box.tolist(),
                mot_conf=float(r["conf"]),
                category_id=int(r["class_id"]),
                visibility=float(r["visibility"]),
            )
            for r, box in zip(g, _xyxy(g))
        ]
        sample = DetDataSample()
        sample.set_metainfo(
            dict(
                img_path=f"data/train/{name}/img1/{frame:06d}.jpg",
                frame_id=frame - 1,
                ori_video_length=num_frames,
                instances=instances,
            )
        )
        sample.pred_track_instances = InstanceData(
            instances_id=torch.as_tensor(p["id"]),
            bboxes=torch.as_tensor(_xyxy(p), dtype=torch.float32).reshape(-1, 4),
            scores=torch.as_tensor(p["conf"], dtype=torch.float32),
        )
        frames.append(sample)
    video = TrackDataSample()
    video.video_data_samples = frames
    return video


def test_metric_agrees_with_file_scorer_on_hand_worked_cases(tmp_path: Path):
    from mmdet.evaluation import MOTChallengeMetric

    # Sequence 1: two walkers whose identities swap at frame 4 (hand-worked in test_mot_eval).
    gt_a = two_walkers(10)
    pred_a = gt_a.copy()
    pred_a["id"] = np.where((gt_a["frame"] >= 4) == (gt_a["id"] == 1), 12, 11)
    # Sequence 2: a static person (distractor) whose result must be dropped, a car whose result
    # is a false positive, and a pedestrian that is missed in frame 2.
    gt_b = make_mot_rows(
        [1, 1, 1, 2, 2],
        [1, 2, 3, 1, 2],
        [[10, 10, 40, 100], [100, 10, 40, 100], [300, 10, 60, 40]] + [[12, 10, 40, 100]]
        + [[100, 10, 40, 100]],
        conf=1.0,
        class_id=[1, 7, 3, 1, 7],
        visibility=1.0,
    )  # fmt: skip
    pred_b = gt_b[[0, 1, 2, 4]].copy()
    pred_b["conf"] = 0.9
    cases = {"MOT17-91": (gt_a, pred_a, 10), "MOT17-92": (gt_b, pred_b, 2)}

    evaluator = Evaluator(MOTChallengeMetric(outfile_prefix=str(tmp_path / "mmdet_out")))
    for name, (gt, pred, num_frames) in cases.items():
        evaluator.process([_video_sample(name, gt, pred, num_frames)], data_batch={})
        write_sequence(tmp_path / "gt", name, gt, num_frames)
        write_mot_results(tmp_path / "res" / f"{name}.txt", pred)
    theirs = evaluator.evaluate(1)
    ours = evaluate_mot_results(tmp_path / "gt", tmp_path / "res").combined

    pairs = {
        "HOTA": "HOTA", "DetA": "DetA", "AssA": "AssA", "MOTA": "MOTA", "MOTP": "MOTP",
        "IDF1": "IDF1", "IDSW": "IDs", "FP": "FP", "FN": "FN", "TP": "CLR_TP", "IDTP": "IDTP",
    }  # fmt: skip
    for their_key, our_key in pairs.items():
        value = theirs[f"motchallenge-metric/{their_key}"]
        assert float(value) == pytest.approx(ours[our_key], abs=1e-9), their_key
    # Hand counts: 2 switches (sequence 1); 1 false positive (the car) and 1 miss (sequence 2).
    assert (ours["IDs"], ours["FP"], ours["FN"], ours["CLR_TP"]) == (2, 1, 1, 21)
    assert ours["MOTA"] == pytest.approx((21 - 1 - 2) / 22)
