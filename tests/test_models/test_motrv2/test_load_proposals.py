"""det-db lookup and LoadDetDBProposals: proposals follow the frame through flip and resize."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import init_default_scope

from mmdistillmot.datasets.transforms.load_proposals import (
    DetDB,
    LoadDetDBProposals,
    format_proposal_line,
    parse_proposal_line,
)


def _write(tmp_path, data) -> str:
    path = tmp_path / "det_db.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_line_format_round_trip():
    line = format_proposal_line(10.5, 20.0, 30.456, 60.0, 0.91349)
    assert line == "10.5,20,30.46,60,0.9135\n"
    assert parse_proposal_line(line, "x") == [10.5, 20.0, 30.46, 60.0, 0.9135]
    assert parse_proposal_line([1, 2, 3, 4, 0.5], "x") == [1.0, 2.0, 3.0, 4.0, 0.5]
    with pytest.raises(ValueError, match="db.json \\[k\\]"):
        parse_proposal_line("1,2,3,4", "db.json [k]")
    with pytest.raises(ValueError, match="negative"):
        parse_proposal_line("1,2,-3,4,0.5", "x")
    with pytest.raises(ValueError, match="5 finite"):
        parse_proposal_line("1,2,3,nan,0.5", "x")


def test_lookup_by_longest_path_suffix(tmp_path):
    db = DetDB(
        _write(
            tmp_path,
            {
                "train/SEQ-1/img1/000001.jpg": ["1,2,3,4,0.9\n"],
                "SEQ-2/img1/000001.txt": [[5, 6, 7, 8, 0.8]],
                "a/SEQ/img1/000001.jpg": [],
                "b/SEQ/img1/000001.jpg": ["1,1,1,1,0.1"],
            },
        )
    )
    assert db.find_key("data/MOT17/train/SEQ-1/img1/000001.jpg") == "train/SEQ-1/img1/000001.jpg"
    assert db.find_key("/abs/val/SEQ-2/img1/000001.jpg") == "SEQ-2/img1/000001.txt"
    assert db.find_key("data/a/SEQ/img1/000001.jpg") == "a/SEQ/img1/000001.jpg"
    np.testing.assert_allclose(db.proposals("x/SEQ-2/img1/000001.png"), [[5, 6, 7, 8, 0.8]])
    assert db.proposals("a/SEQ/img1/000001.jpg").shape == (0, 5)
    with pytest.raises(KeyError, match="several keys"):
        db.find_key("c/SEQ/img1/000001.jpg")
    with pytest.raises(KeyError, match="no proposals for frame"):
        db.find_key("train/SEQ-1/img1/000002.jpg")


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        DetDB(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not a list"):
        DetDB(_write(tmp_path, {"a/b.jpg": "1,2,3,4,0.5"}))
    bad = DetDB(_write(tmp_path, {"s/img1/000001.jpg": ["1,2,3,4"]}))
    with pytest.raises(ValueError, match="det_db.json \\['s/img1/000001.jpg'\\]"):
        bad.proposals("s/img1/000001.jpg")


def test_proposals_follow_flip_and_resize_like_the_ground_truth(tmp_path):
    init_default_scope("mmdet")
    gt_xywh = np.array([[10, 5, 20, 30], [50, 20, 25, 15]], dtype=np.float32)
    lines = [format_proposal_line(*box, score) for box, score in zip(gt_xywh, (0.9, 0.4))]
    det_db = _write(tmp_path, {"train/SEQ/img1/000001.jpg": lines})
    gt_xyxy = np.concatenate([gt_xywh[:, :2], gt_xywh[:, :2] + gt_xywh[:, 2:]], axis=1)
    results = dict(
        img=np.zeros((60, 100, 3), dtype=np.uint8),
        img_shape=(60, 100),
        ori_shape=(60, 100),
        img_path="data/x/train/SEQ/img1/000001.jpg",
        gt_bboxes=HorizontalBoxes(gt_xyxy),
    )
    pipeline = Compose(
        [
            dict(type="RandomFlip", prob=1.0),
            dict(type="Resize", scale=(150, 90), keep_ratio=True),
            dict(type="LoadDetDBProposals", det_db=det_db),
        ]
    )
    out = pipeline(results)
    assert out["flip"] and out["img_shape"] == (90, 150)
    props = out["det_proposals"]
    assert props.dtype == np.float32 and props.shape == (2, 5)
    np.testing.assert_allclose(props[:, :4], out["gt_bboxes"].numpy(), atol=1e-4)
    # by hand: flip x -> 100 - x, then scale 1.5
    np.testing.assert_allclose(props[0], [(100 - 30) * 1.5, 7.5, (100 - 10) * 1.5, 52.5, 0.9])
    np.testing.assert_allclose(props[:, 4], [0.9, 0.4])


def test_threshold_top_k_clipping_and_strictness(tmp_path):
    det_db = _write(
        tmp_path,
        {
            "s/img1/000001.jpg": [
                "0,0,10,10,0.05",
                "90,10,30,10,0.5",  # sticks out on the right: clipped to x2 = 100
                "5,5,10,10,0.95",
                "200,10,10,10,0.9",  # entirely outside: dropped
            ]
        },
    )
    base = dict(img_shape=(50, 100), img_path="s/img1/000001.jpg")
    out = LoadDetDBProposals(det_db, score_thr=0.05)(dict(base))
    np.testing.assert_allclose(out["det_proposals"], [[90, 10, 100, 20, 0.5], [5, 5, 15, 15, 0.95]])
    top = LoadDetDBProposals(det_db, max_num=1)(dict(base))
    np.testing.assert_allclose(top["det_proposals"], [[5, 5, 15, 15, 0.95]])
    with pytest.raises(KeyError, match="no proposals"):
        LoadDetDBProposals(det_db)(dict(img_shape=(50, 100), img_path="s/img1/000002.jpg"))
    lenient = LoadDetDBProposals(det_db, strict=False)(
        dict(img_shape=(50, 100), img_path="s/img1/000002.jpg")
    )
    assert lenient["det_proposals"].shape == (0, 5)
    with pytest.raises(FileNotFoundError, match="make_det_db"):
        LoadDetDBProposals(str(tmp_path / "nope.json"))(dict(base))
