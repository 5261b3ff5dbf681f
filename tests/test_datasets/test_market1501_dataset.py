"""Market1501Dataset reads Market-1501 folders: ids from names, junk skipped, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdistillmot.datasets.market1501_dataset import Market1501Dataset, parse_market_name


def _write(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.zeros((16, 8, 3), np.uint8))


def test_parse_market_name() -> None:
    assert parse_market_name("0002_c1s1_000451_03.jpg") == (2, 1)
    assert parse_market_name("-1_c3s2_000101_00.jpg") == (-1, 3)
    with pytest.raises(ValueError, match="not a Market-1501 file name"):
        parse_market_name("person2.jpg")


def test_labels_are_contiguous_and_junk_is_skipped(tmp_path: Path) -> None:
    _write(
        tmp_path / "bounding_box_train",
        ["0007_c1s1_000001_00.jpg", "0007_c2s1_000002_00.jpg", "0042_c1s1_000003_00.jpg",
         "0000_c1s1_000004_00.jpg", "-1_c1s1_000005_00.jpg"],
    )  # fmt: skip
    dataset = Market1501Dataset(data_root=str(tmp_path), pipeline=[], lazy_init=False)
    labels = [int(dataset.get_data_info(i)["gt_label"]) for i in range(len(dataset))]
    assert labels == [0, 0, 1]  # ids 7 and 42 -> 0 and 1; distractor 0 and junk -1 skipped
    assert dataset.num_identities == 2
    assert [dataset.get_data_info(i)["camera_id"] for i in range(3)] == [1, 2, 1]


def test_bad_file_name_names_the_folder(tmp_path: Path) -> None:
    _write(tmp_path / "bounding_box_train", ["0001_c1s1_000001_00.jpg", "oops.jpg"])
    with pytest.raises(ValueError, match="oops.jpg"):
        Market1501Dataset(data_root=str(tmp_path), pipeline=[])


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bounding_box_train"):
        Market1501Dataset(data_root=str(tmp_path), pipeline=[])
