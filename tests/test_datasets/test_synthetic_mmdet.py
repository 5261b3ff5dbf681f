"""The synthetic CocoVID files load through mmdet's MOTChallengeDataset and score with its metric.

Ground truth fed back as the tracker's output must give HOTA, MOTA and IDF1 of exactly 1; the
same with two identities swapped halfway must not (so the check can fail).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmdistillmot.datasets.synthetic import SyntheticMOTConfig, generate_synthetic_mot

CFG = SyntheticMOTConfig(
    seed=1, num_train=1, num_val=2, frames=8, width=160, height=96, people=(6.0, 8.0), reid=None
)
LOAD = dict(
    type="TransformBroadcaster",
    transforms=[dict(type="LoadImageFromFile"), dict(type="LoadTrackAnnotations")],
)
TEST_PIPELINE = [LOAD, dict(type="PackTrackInputs")]
# Training samples a key frame and a reference frame per video, as mmdet's MOT configs do.
TRAIN_PIPELINE = [
    dict(type="UniformRefFrameSample", num_ref_imgs=1, frame_range=3, filter_key_img=True),
    LOAD,
    dict(type="PackTrackInputs"),
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic_mmdet")
    generate_synthetic_mot(out, CFG, progress=False)
    return out


def _dataset(root: Path, split: str, test_mode: bool):
    from mmdet.registry import DATASETS

    with DefaultScope.overwrite_default_scope("mmdet"):
        return DATASETS.build(
            dict(
                type="MOTChallengeDataset",
                data_root=str(root),
                ann_file=f"annotations/{split}_cocoformat.json",
                data_prefix=dict(img_path=""),
                metainfo=dict(classes=("pedestrian",)),
                test_mode=test_mode,
                pipeline=TEST_PIPELINE if test_mode else TRAIN_PIPELINE,
            )
        )


def test_dataset_loads_videos_frames_and_instances(root: Path) -> None:
    dataset = _dataset(root, "val", test_mode=False)
    assert len(dataset) == 2  # two validation videos
    video = dataset.get_data_info(0)
    assert video["video_length"] == CFG.frames
    first = video["images"][0]
    assert Path(first["img_path"]).is_file()
    assert first["frame_id"] == 0 and first["mot_frame_id"] == 1
    instance = first["instances"][0]
    assert {"bbox", "instance_id", "visibility", "mot_conf", "bbox_label"} <= instance.keys()
    # The pipeline reads the sampled frames and their boxes.
    packed = dataset[0]
    sample = packed["data_samples"]
    assert packed["inputs"].shape[0] == 2 and packed["inputs"].shape[-2:] == (CFG.height, CFG.width)
    assert len(sample[0].gt_instances) > 0


def _score(root: Path, swap_ids: bool) -> dict:
    from mmdet.registry import METRICS

    dataset = _dataset(root, "val", test_mode=True)
    with DefaultScope.overwrite_default_scope("mmdet"):
        evaluator = Evaluator(
            METRICS.build(dict(type="MOTChallengeMetric", metric=["HOTA", "CLEAR", "Identity"]))
        )
    evaluator.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        video = dataset[index]["data_samples"]
        for frame in video:
            gt = frame.gt_instances
            ids = gt.instances_ids.clone()
            if swap_ids and frame.frame_id >= CFG.frames // 2:
                # The two lowest instance ids exchange labels from mid-sequence on.
                low = torch.unique(ids)[:2]
                if len(low) == 2:
                    ids = torch.where(
                        ids == low[0], low[1], torch.where(ids == low[1], low[0], ids)
                    )
            frame.pred_track_instances = InstanceData(
                bboxes=gt.bboxes.clone().float(),
                instances_id=ids,
                scores=torch.ones(len(gt)),
                labels=gt.labels.clone(),
            )
        evaluator.process([video], None)
    return evaluator.evaluate(len(dataset))


def test_ground_truth_scored_against_itself_is_perfect(root: Path) -> None:
    metrics = _score(root, swap_ids=False)
    prefix = "motchallenge-metric/"
    assert metrics[prefix + "HOTA"] == pytest.approx(1.0)
    assert metrics[prefix + "MOTA"] == pytest.approx(1.0)
    assert metrics[prefix + "IDF1"] == pytest.approx(1.0)
    assert metrics[prefix + "IDSW"] == 0

    swapped = _score(root, swap_ids=True)
    assert swapped[prefix + "IDSW"] > 0
    assert swapped[prefix + "HOTA"] < 1.0 and swapped[prefix + "IDF1"] < 1.0
    assert np.isclose(swapped[prefix + "DetA"], 1.0)  # boxes are still all right
