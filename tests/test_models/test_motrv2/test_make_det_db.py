"""tools/dataset_converters/make_det_db.py: det.txt (real MOT17 frames) and detector sources."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from assets_testing import require_asset

from mmdistillmot.datasets.mot_files import read_mot_file
from mmdistillmot.datasets.transforms.load_proposals import DetDB, parse_proposal_line

TOOL = Path(__file__).resolve().parents[3] / "tools" / "dataset_converters" / "make_det_db.py"


def _tool():
    spec = importlib.util.spec_from_file_location("make_det_db", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _made_up_split(root: Path) -> Path:
    seq = root / "train" / "SEQ-A"
    (seq / "img1").mkdir(parents=True)
    (seq / "det").mkdir()
    for frame in (1, 2, 3):
        (seq / "img1" / f"{frame:06d}.jpg").write_bytes(b"")
    (seq / "det" / "det.txt").write_text(
        "1,-1,10,20,30,40,0.04\n1,-1,11,21,31,41,0.05\n1,-1,12.5,22,32,42,0.06\n3,-1,1,2,3,4,0.9\n"
    )
    return root / "train"


def test_det_txt_keeps_scores_strictly_above_0_05_and_keys_every_frame(tmp_path):
    tool = _tool()
    db = tool.det_db_from_det_txt(_made_up_split(tmp_path))
    assert db == {
        "train/SEQ-A/img1/000001.jpg": ["12.5,22,32,42,0.06\n"],
        "train/SEQ-A/img1/000002.jpg": [],
        "train/SEQ-A/img1/000003.jpg": ["1,2,3,4,0.9\n"],
    }


def test_det_txt_row_without_image_names_file_and_line(tmp_path):
    split = _made_up_split(tmp_path)
    with open(split / "SEQ-A" / "det" / "det.txt", "a") as handle:
        handle.write("7,-1,1,2,3,4,0.9\n")
    with pytest.raises(ValueError, match=r"det\.txt:5: frame 7 has no image"):
        _tool().det_db_from_det_txt(split)


def test_cli_writes_once_and_never_over_an_input(tmp_path, capsys):
    tool = _tool()
    split = _made_up_split(tmp_path)
    out = tmp_path / "det_db.json"
    assert tool.main(["det-txt", str(split), str(out)]) == 0
    assert json.loads(out.read_text())["train/SEQ-A/img1/000003.jpg"] == ["1,2,3,4,0.9\n"]
    assert tool.main(["det-txt", str(split), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    det_txt = split / "SEQ-A" / "det" / "det.txt"
    before = det_txt.read_bytes()
    assert tool.main(["det-txt", str(split), str(det_txt), "--overwrite"]) == 2
    assert det_txt.read_bytes() == before


@pytest.mark.assets
def test_det_txt_on_real_mot17_frames(tmp_path):
    split = require_asset("mot17_mini", "train")
    out = tmp_path / "det_db.json"
    assert _tool().main(["det-txt", str(split), str(out)]) == 0
    db = DetDB(out)
    images = sorted(split.glob("*/img1/*.jpg"))
    assert len(db) == len(images) == 23  # 4 + 8 + 6 + 5 frames (SOURCES.md)
    for seq in sorted(split.iterdir()):
        rows = read_mot_file(seq / "det" / "det.txt", kind="det").rows
        for frame in np.unique(rows["frame"]):
            expected = rows[(rows["frame"] == frame) & (rows["conf"] > 0.05)]
            got = db.proposals(f"MOT17/train/{seq.name}/img1/{frame:06d}.jpg")
            want = np.stack([expected[k] for k in ("x", "y", "w", "h", "conf")], axis=1)
            np.testing.assert_allclose(got, want, atol=0.006)


@pytest.mark.slow
def test_detector_source_matches_direct_inference(tmp_path):
    import cv2
    import torch
    from mmdet.apis import inference_detector, init_detector
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet")
    config = tmp_path / "det.py"
    config.write_text(
        "_base_ = ['mmdet::yolox/yolox_tiny_8xb8-300e_coco.py']\n"
        "model = dict(bbox_head=dict(num_classes=1), test_cfg=dict(score_thr=0.0))\n"
        "test_pipeline = [\n"
        "    dict(type='LoadImageFromFile'),\n"
        "    dict(type='Resize', scale=(128, 128), keep_ratio=True),\n"
        "    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),\n"
        "    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',\n"
        "                                          'img_shape', 'scale_factor')),\n"
        "]\n"
        "test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n"
    )
    torch.manual_seed(0)
    model = init_detector(str(config), device="cpu")
    with torch.no_grad():  # a random detector that emits finite boxes: priors, high objectness
        for conv in model.bbox_head.multi_level_conv_obj:
            conv.bias.fill_(3.0)
        for conv in model.bbox_head.multi_level_conv_reg:
            conv.weight.zero_()
    checkpoint = tmp_path / "det.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)
    rng = np.random.default_rng(0)
    images = []
    for index in range(2):
        name = f"val/SEQ/img1/{index + 1:06d}.jpg"
        (tmp_path / "val" / "SEQ" / "img1").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (96, 160, 3), dtype=np.uint8))
        images.append(dict(id=index + 1, file_name=name, height=96, width=160))
    small_ann = tmp_path / "ann.json"
    small_ann.write_text(json.dumps({"images": images}))
    db = _tool().det_db_from_detector(
        str(config), str(checkpoint), small_ann, tmp_path, score_thr=0.05
    )
    assert sorted(db) == sorted(image["file_name"] for image in images)
    model = init_detector(str(config), str(checkpoint), device="cpu")
    for image in images:
        pred = inference_detector(model, str(tmp_path / image["file_name"])).pred_instances
        keep = pred.scores > 0.05
        boxes, scores = pred.bboxes[keep].numpy(), pred.scores[keep].numpy()
        assert len(db[image["file_name"]]) == len(boxes) > 0
        got = np.array([parse_proposal_line(line, "db") for line in db[image["file_name"]]])
        want = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2], scores[:, None]], 1)
        np.testing.assert_allclose(got, want, atol=0.006)
