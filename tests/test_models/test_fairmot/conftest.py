"""Fixtures of the FairMOT tests: tiny MOT videos on disk."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from fairmot_testing import draw_frame


@pytest.fixture(scope="session")
def tiny_mot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 3-frame videos (128x64) in MOTChallenge layout with a CocoVID annotation file.

    Two people per video walk to the right; identities are global (0..3).
    """
    root = tmp_path_factory.mktemp("tiny_mot")
    images, annotations, videos = [], [], []
    img_id = ann_id = 1
    colors = [(40, 40, 220), (220, 160, 40)]
    for vid in range(2):
        name = f"SEQ-0{vid + 1}"
        videos.append(dict(id=vid + 1, name=name, fps=30, width=128, height=64))
        (root / "train" / name / "img1").mkdir(parents=True)
        # File names start with the split, as make_synthetic_mot.py writes them.
        for frame in range(3):
            boxes = np.array(
                [[10 + 4 * frame, 10, 30 + 4 * frame, 58], [70 + 3 * frame, 6, 86 + 3 * frame, 50]],
                dtype=np.float32,
            )
            file_name = f"train/{name}/img1/{frame + 1:06d}.jpg"
            cv2.imwrite(str(root / file_name), draw_frame((128, 64), boxes, colors))
            images.append(
                dict(id=img_id, video_id=vid + 1, file_name=file_name, height=64, width=128,
                     frame_id=frame, mot_frame_id=frame + 1)
            )  # fmt: skip
            for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
                annotations.append(
                    dict(id=ann_id, image_id=img_id, category_id=1, bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=(x2 - x1) * (y2 - y1), iscrowd=False, visibility=1.0,
                         mot_instance_id=k + 1, mot_conf=1.0, instance_id=2 * vid + k)
                )  # fmt: skip
                ann_id += 1
            img_id += 1
    coco = dict(
        categories=[dict(id=1, name="pedestrian")], videos=videos, images=images,
        annotations=annotations, num_instances=4,
    )  # fmt: skip
    (root / "annotations").mkdir()
    for split in ("train", "val"):
        (root / "annotations" / f"{split}_cocoformat.json").write_text(json.dumps(coco))
    return root
