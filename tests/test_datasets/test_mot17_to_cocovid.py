"""Real MOT17 annotations -> CocoVID (mmdet's mot2coco.py) -> the project's tracking dataset.

The user's path to every MOT17 config (docs/datasets.md): convert MOT17 with mmdet's converter,
then read it with ``MOTChallengeVideoDataset`` (configs/_base_/datasets/mot17_track.py). Checked
on the first frames of four real MOT17 training sequences (../shared/assets/mot17_mini) against
their own ``gt.txt`` and ``seqinfo.ini``: every frame, every pedestrian box (MOTChallenge
``x, y, w, h`` -> xyxy), each sequence's frame rate (MOT17-05 is 14 fps) and its ids.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import mmdet
import numpy as np
import pytest
from mmdet.registry import DATASETS
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
MOT2COCO = Path(mmdet.__file__).parent / ".mim" / "tools" / "dataset_converters" / "mot2coco.py"


@pytest.fixture(scope="module")
def converted(assets_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mot17")
    (root / "train").mkdir()
    (root / "test").mkdir()  # the converter converts both splits
    for sequence in sorted((assets_root / "mot17_mini" / "train").iterdir()):
        (root / "train" / sequence.name).symlink_to(sequence)
    subprocess.run(
        [sys.executable, str(MOT2COCO), "-i", str(root), "-o", str(root / "annotations")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return root


def _seqinfo(sequence: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(sequence / "seqinfo.ini")
    return parser["Sequence"]


def test_mot17_frames_boxes_and_frame_rates_reach_the_tracking_dataset(converted: Path) -> None:
    cfg = Config.fromfile(str(REPO / "configs" / "_base_" / "datasets" / "mot17_track.py"))
    dataset_cfg = cfg.mot17_test_dataloader.dataset
    dataset_cfg.update(
        data_root=str(converted),
        ann_file="annotations/train_cocoformat.json",
        data_prefix=dict(img_path="train"),
        pipeline=[],
    )
    dataset = DATASETS.build(dataset_cfg)
    sequences = sorted((converted / "train").iterdir())
    assert len(dataset) == len(sequences)
    by_name = {}
    for index in range(len(dataset)):
        video = dataset.get_data_info(index)
        name = Path(video["images"][0]["img_path"]).parts[-3]
        by_name[name] = video
    for sequence in sequences:
        info = _seqinfo(sequence)
        video = by_name[sequence.name]
        frames = video["images"]
        assert len(frames) == int(info["seqLength"]) == len(list((sequence / "img1").iterdir()))
        assert {f["fps"] for f in frames} == {float(info["frameRate"])}
        assert {(f["height"], f["width"]) for f in frames} == {
            (int(info["imHeight"]), int(info["imWidth"]))
        }
        gt = np.loadtxt(sequence / "gt" / "gt.txt", delimiter=",", ndmin=2)
        identity: dict[int, int] = {}  # MOT17 id -> the dataset's instance_id
        for frame in frames:
            assert Path(frame["img_path"]).is_file()
            rows = gt[(gt[:, 0] == frame["frame_id"] + 1) & (gt[:, 7] == 1)]  # pedestrians
            x, y, w, h = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5]
            expected = np.c_[x, y, x + w, y + h]
            instances = frame["instances"]
            assert len(instances) == len(rows), (sequence.name, frame["frame_id"])
            for instance in instances:
                # each box is exactly one gt row, MOTChallenge x, y, w, h -> x1, y1, x2, y2
                (row,) = np.flatnonzero(np.abs(expected - instance["bbox"]).max(1) < 1e-4)
                mot_id = int(rows[row, 1])
                assert (
                    identity.setdefault(mot_id, instance["instance_id"])
                    == (instance["instance_id"])
                ), (sequence.name, mot_id)
        # one dataset id per MOT17 id and the reverse: tracks keep their identity
        assert len(set(identity.values())) == len(identity) > 0
    assert by_name["MOT17-05-FRCNN"]["images"][0]["fps"] == 14.0
