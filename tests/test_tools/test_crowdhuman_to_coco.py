"""tools/dataset_converters/crowdhuman_to_coco.py on a tiny made-up odgt file."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "crowdhuman_to_coco", REPO / "tools" / "dataset_converters" / "crowdhuman_to_coco.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()

RECORDS = [
    {
        "ID": "273271,c9db000d5146c15",
        "gtboxes": [
            # a person whose full body reaches past the left border
            {"tag": "person", "fbox": [-5, 2, 20, 40], "vbox": [0, 2, 15, 30],
             "extra": {"box_id": 0, "occ": 1}},
            # a person CrowdHuman flags as ignore
            {"tag": "person", "fbox": [30, 5, 10, 20], "vbox": [30, 5, 10, 20],
             "extra": {"box_id": 1, "ignore": 1}},
            # a crowd / reflection region
            {"tag": "mask", "fbox": [50, 0, 14, 14], "vbox": [50, 0, 14, 14],
             "extra": {"box_id": 2, "ignore": 1}},
            # zero width: skipped
            {"tag": "person", "fbox": [10, 10, 0, 5], "extra": {"box_id": 3}},
        ],
    },
    {"ID": "284193,faa9000f2678b5e", "gtboxes": []},
]  # fmt: skip


@pytest.fixture()
def crowdhuman(tmp_path: Path) -> Path:
    (tmp_path / "Images").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "Images" / f"{RECORDS[0]['ID']}.jpg")
    Image.new("RGB", (32, 24)).save(tmp_path / "Images" / f"{RECORDS[1]['ID']}.jpg")
    (tmp_path / "annotation_train.odgt").write_text(
        "\n".join(json.dumps(r) for r in RECORDS) + "\n"
    )
    return tmp_path


def test_full_body_boxes_and_ignore_regions(crowdhuman: Path) -> None:
    out = crowdhuman / "annotations" / "train.json"
    argv = [str(crowdhuman / "annotation_train.odgt"), str(crowdhuman), "-o", str(out)]
    assert tool.main(argv) == 0
    coco = json.loads(out.read_text())
    assert [(im["file_name"], im["width"], im["height"]) for im in coco["images"]] == [
        (f"Images/{RECORDS[0]['ID']}.jpg", 64, 48),
        (f"Images/{RECORDS[1]['ID']}.jpg", 32, 24),
    ]
    anns = coco["annotations"]
    assert [a["bbox"] for a in anns] == [[-5.0, 2.0, 20.0, 40.0], [30.0, 5.0, 10.0, 20.0],
                                         [50.0, 0.0, 14.0, 14.0]]  # fmt: skip
    assert [a["iscrowd"] for a in anns] == [0, 1, 1]
    assert [a["area"] for a in anns] == [800.0, 200.0, 196.0]
    assert anns[0]["vbox"] == [0.0, 2.0, 15.0, 30.0]
    assert all(a["image_id"] == 1 and a["category_id"] == 1 for a in anns)
    assert [a["id"] for a in anns] == [1, 2, 3]


def test_mmdet_reads_crowd_boxes_as_ignored(crowdhuman: Path) -> None:
    from mmdet.datasets import CocoDataset

    out = crowdhuman / "train.json"
    assert (
        tool.main([str(crowdhuman / "annotation_train.odgt"), str(crowdhuman), "-o", str(out)]) == 0
    )
    dataset = CocoDataset(
        data_root=str(crowdhuman),
        ann_file="train.json",
        data_prefix=dict(img=""),
        metainfo=dict(classes=("pedestrian",)),
        test_mode=True,
        pipeline=[],
    )
    instances = dataset.get_data_info(0)["instances"]
    assert [i["ignore_flag"] for i in instances] == [0, 1, 1]
    assert instances[0]["bbox"] == [-5.0, 2.0, 15.0, 42.0]  # x1, y1, x2, y2


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"gtboxes": []}), "string 'ID'"),
        (json.dumps({"ID": "x", "gtboxes": [{"tag": "car", "fbox": [0, 0, 1, 1]}]}), "tag must"),
        (json.dumps({"ID": "x", "gtboxes": [{"tag": "person", "fbox": [0, 0, 1]}]}), "'fbox'"),
    ],
)
def test_malformed_records_name_file_and_line(
    crowdhuman: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    Image.new("RGB", (8, 8)).save(crowdhuman / "Images" / "x.jpg")
    odgt = crowdhuman / "bad.odgt"
    odgt.write_text(json.dumps(RECORDS[1]) + "\n" + line + "\n")
    out = crowdhuman / "bad.json"
    assert tool.main([str(odgt), str(crowdhuman), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{odgt}:2" in err and message in err
    assert not out.exists()


def test_missing_image_and_existing_output(
    crowdhuman: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odgt = crowdhuman / "annotation_train.odgt"
    out = crowdhuman / "train.json"
    out.write_text("keep")
    assert tool.main([str(odgt), str(crowdhuman), "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "keep"
    (crowdhuman / "Images" / f"{RECORDS[1]['ID']}.jpg").unlink()
    assert tool.main([str(odgt), str(crowdhuman), "-o", str(out), "--overwrite"]) == 1
    assert f"{odgt}:2" in capsys.readouterr().err
