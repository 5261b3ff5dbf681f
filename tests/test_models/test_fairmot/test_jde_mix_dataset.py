"""JDEMixDataset: identity offsets across sources, pixel boxes, clear label errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmdistillmot.datasets.jde_mix_dataset import (
    JDEMixDataset,
    LabelFormatError,
    jde_label_path,
    parse_jde_label_file,
)

from fairmot_testing import REPO_ROOT  # isort: skip


def _write_source(root: Path, name: str, labels: dict[str, str], size=(80, 40)) -> str:
    """Images under ``<name>/images``, labels under ``<name>/labels_with_ids``, a list file."""
    lines = []
    for stem, text in labels.items():
        rel = f"{name}/images/{stem}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), np.zeros((size[1], size[0], 3), np.uint8))
        if text is not None:
            label = root / jde_label_path(rel)
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(text)
        lines.append(rel)
    (root / "lists").mkdir(exist_ok=True)
    (root / "lists" / f"{name}.train").write_text("\n".join(lines) + "\n")
    return f"lists/{name}.train"


@pytest.fixture()
def two_sources(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    # Source A: identities 0..2 (max 2 -> 3 numbers); one person without identity.
    list_a = _write_source(tmp_path, "srcA", {
        "0001": "0 0 0.5 0.5 0.25 0.5\n0 2 0.25 0.5 0.125 0.25\n",
        "0002": "0 1 0.5 0.5 0.5 1.0\n0 -1 0.75 0.25 0.125 0.25\n",
    })  # fmt: skip
    # Source B: identities 0..1; one image without a label file (no objects).
    list_b = _write_source(tmp_path, "srcB", {"0001": "0 1 0.5 0.5 0.5 0.5\n0 0 0.1 0.1 0.1 0.1\n",
                                              "0002": None})  # fmt: skip
    return tmp_path, dict(a=list_a, b=list_b)


def test_identities_are_offset_per_source(two_sources) -> None:
    root, lists = two_sources
    dataset = JDEMixDataset(list_files=lists, data_root=str(root))
    # nID = (2 + 1) + (1 + 1) + 1
    assert dataset.num_identities == 6
    assert dataset.metainfo["identity_offsets"] == dict(a=0, b=3)
    ids = [[inst["instance_id"] for inst in dataset[i]["instances"]] for i in range(len(dataset))]
    assert ids == [[0, 2], [1, -1], [4, 3], []]
    # 80x40 image: cx 0.5, cy 0.5, w 0.25, h 0.5 -> (30, 10)-(50, 30) pixels.
    first = dataset.get_data_info(0)
    assert first["width"] == 80 and first["height"] == 40
    np.testing.assert_allclose(first["instances"][0]["bbox"], [30.0, 10.0, 50.0, 30.0])
    assert Path(first["img_path"]).is_file()


def test_malformed_label_line_names_file_and_line(two_sources) -> None:
    root, lists = two_sources
    bad = root / "srcB/labels_with_ids/0001.txt"
    bad.write_text("0 1 0.5 0.5 0.5 0.5\n0 3 0.5 0.5 0.5\n")
    with pytest.raises(LabelFormatError, match=rf"{bad}:2: expected 6 numbers"):
        JDEMixDataset(list_files=lists, data_root=str(root))
    bad.write_text("0 1.5 0.5 0.5 0.5 0.5\n")
    with pytest.raises(LabelFormatError, match=rf"{bad}:1: class and identity must be integers"):
        parse_jde_label_file(str(bad))
    bad.write_text("\n1 1 0.5 0.5 0.5 0.5\n")
    with pytest.raises(LabelFormatError, match=rf"{bad}:2: class 1 outside"):
        parse_jde_label_file(str(bad), num_classes=1)


def test_missing_list_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.train"):
        JDEMixDataset(list_files=dict(x="nope.train"), data_root=str(tmp_path))


def test_label_path_replaces_the_images_directory() -> None:
    assert jde_label_path("MOT17/images/train/S/img1/000001.jpg") == (
        "MOT17/labels_with_ids/train/S/img1/000001.txt"
    )
    with pytest.raises(ValueError, match="no 'images'"):
        jde_label_path("x/y.jpg")


def test_mix_config_pipeline_packs_identities(two_sources) -> None:
    root, lists = two_sources
    cfg = Config.fromfile(str(REPO_ROOT / "configs/_base_/datasets/jde_mix.py"))
    pipeline = cfg.train_dataloader.dataset.pipeline
    for step in pipeline:
        if step["type"] == "Letterbox":
            step["scale"] = (64, 32)
        if step["type"] == "FairMOTRandomAffine":
            step.update(max_rotate_degree=0.0, max_translate_ratio=0.0, max_shear_degree=0.0,
                        scaling_ratio_range=(1.0, 1.0), min_size=0.0)  # fmt: skip
        if step["type"] == "RandomFlip":
            step["prob"] = 0.0
    dataset = JDEMixDataset(list_files=lists, data_root=str(root), pipeline=list(pipeline))
    packed = dataset[2]  # source B, first image: identities 4 and 3
    assert tuple(packed["inputs"].shape) == (1, 3, 32, 64)
    frame = packed["data_samples"][0]
    assert frame.gt_instances.instances_ids.tolist() == [4, 3]
    assert frame.metainfo["letterbox_offset"] == (0.0, 0.0)
    # 80x40 -> 64x32 (x0.8): (20, 10)-(60, 30) -> (16, 8)-(48, 24)
    np.testing.assert_allclose(frame.gt_instances.bboxes[0].numpy(), [16.0, 8.0, 48.0, 24.0])
