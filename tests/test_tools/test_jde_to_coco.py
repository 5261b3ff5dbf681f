"""tools/dataset_converters/jde_to_coco.py on a tiny made-up JDE layout."""

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
        "jde_to_coco", REPO / "tools" / "dataset_converters" / "jde_to_coco.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@pytest.fixture()
def jde_root(tmp_path: Path) -> Path:
    """Two sequences: one 64x32 image with two labelled people, one image without a label file."""
    for seq, size in (("seqA", (64, 32)), ("seqB", (40, 20))):
        (tmp_path / "images" / seq).mkdir(parents=True)
        Image.new("RGB", size).save(tmp_path / "images" / seq / "000001.jpg")
    (tmp_path / "labels_with_ids" / "seqA").mkdir(parents=True)
    # class identity cx/W cy/H w/W h/H
    (tmp_path / "labels_with_ids" / "seqA" / "000001.txt").write_text(
        "0 7 0.5 0.5 0.25 0.5\n0 -1 0.125 0.75 0.25 0.5\n"
    )
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "toy.train").write_text(
        "images/seqA/000001.jpg\nimages/seqB/000001.jpg\n"
    )
    return tmp_path


def test_converts_boxes_to_pixels_and_drops_identities(jde_root: Path) -> None:
    out = jde_root / "annotations" / "toy.json"
    assert tool.main([str(jde_root), "lists/toy.train", "-o", str(out)]) == 0
    coco = json.loads(out.read_text())
    assert [im["file_name"] for im in coco["images"]] == [
        "images/seqA/000001.jpg",
        "images/seqB/000001.jpg",
    ]
    assert [(im["width"], im["height"]) for im in coco["images"]] == [(64, 32), (40, 20)]
    # worked by hand on the 64x32 image: (cx, cy, w, h) = (32, 16, 16, 16) and (8, 24, 16, 16)
    boxes = [a["bbox"] for a in coco["annotations"]]
    assert boxes == [[24.0, 8.0, 16.0, 16.0], [0.0, 16.0, 16.0, 16.0]]
    assert all(a["image_id"] == 1 and a["area"] == 256.0 for a in coco["annotations"])
    assert all(a["iscrowd"] == 0 and a["category_id"] == 1 for a in coco["annotations"])
    assert not any("instance_id" in a or "track_id" in a for a in coco["annotations"])
    assert len({a["id"] for a in coco["annotations"]}) == 2
    assert coco["categories"] == [{"id": 1, "name": "pedestrian"}]


def test_malformed_label_names_file_and_line(
    jde_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    label = jde_root / "labels_with_ids" / "seqA" / "000001.txt"
    label.write_text("0 7 0.5 0.5 0.25 0.5\n0 3 0.5 0.5\n")
    out = jde_root / "toy.json"
    assert tool.main([str(jde_root), "lists/toy.train", "-o", str(out)]) == 1
    assert f"{label}:2" in capsys.readouterr().err
    assert not out.exists()


def test_refuses_to_overwrite_and_reports_missing_images(
    jde_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = jde_root / "toy.json"
    out.write_text("{}")
    assert tool.main([str(jde_root), "lists/toy.train", "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "{}"
    assert tool.main([str(jde_root), "lists/toy.train", "-o", str(out), "--overwrite"]) == 0
    (jde_root / "images" / "seqB" / "000001.jpg").unlink()
    assert tool.main([str(jde_root), "lists/toy.train", "-o", str(out), "--overwrite"]) == 1
    assert "seqB/000001.jpg" in capsys.readouterr().err
