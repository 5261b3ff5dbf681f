"""Pseudo boxes on unlabelled footage: which boxes are kept, the layout written, resumption."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdistillmot.apis.pseudo_labels import (
    ANN_FILE,
    MANIFEST_FILE,
    PseudoLabelSettings,
    keep_people,
    pseudo_label_footage,
    sequence_names,
)
from mmdistillmot.datasets.mot_files import read_mot_file, read_seqinfo


def test_keep_people_by_hand() -> None:
    boxes = np.array(
        [
            [10, 10, 30, 60],  # person 0.9: kept
            [10, 10, 30, 60],  # a car 0.95: not a person
            [50, 5, 70, 40],  # person 0.2: below 0.3
            [80, 90, 95, 140],  # person 0.5, image 100 high: clipped to 90..100, 10 px < 12
            [-5, 20, 20, 80],  # person 0.6: clipped to x 0..20, kept
        ],
        dtype=float,
    )
    scores = np.array([0.9, 0.95, 0.2, 0.5, 0.6])
    labels = np.array([0, 2, 0, 0, 0])
    kept, kept_scores = keep_people(boxes, scores, labels, [0], (120, 100), 0.3, 12.0)
    np.testing.assert_array_equal(kept, [[10, 10, 30, 60], [0, 20, 20, 80]])
    np.testing.assert_array_equal(kept_scores, [0.9, 0.6])
    # a NaN score never becomes a training box
    none, _ = keep_people(boxes[:1], np.array([np.nan]), labels[:1], [0], (120, 100), 0.3, 1.0)
    assert len(none) == 0


def test_sequence_names_are_unique_and_readable(tmp_path: Path) -> None:
    (tmp_path / "cam1" / "img1").mkdir(parents=True)
    (tmp_path / "other" / "cam1").mkdir(parents=True)
    names = sequence_names(
        [str(tmp_path / "cam1" / "img1"), str(tmp_path / "other" / "cam1"), "x/walk.mp4"]
    )
    assert names == ["cam1", "cam1-2", "walk"]


class FakeDetector:
    """Per frame: one person box that moves 4 px a frame, one low-score person, one car."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = 4.0 * self.calls
        self.calls += 1
        boxes = np.array([[x, 10, x + 20, 60], [40, 10, 60, 50], [5, 5, 30, 30]], dtype=float)
        return boxes, np.array([0.8, 0.1, 0.9]), np.array([0, 0, 2])


def _frames(folder: Path, count: int, size: tuple[int, int] = (96, 72)) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"f{index:03d}.png"), image)
    return folder


def test_footage_becomes_a_cocovid_set_of_kept_boxes(tmp_path: Path) -> None:
    frames = _frames(tmp_path / "cam1", 3)
    video = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (96, 72))
    for index in range(2):
        writer.write(np.full((72, 96, 3), 40 * index, np.uint8))
    writer.release()
    detect = FakeDetector()
    settings = PseudoLabelSettings(score_thr=0.3, min_height=8.0)
    out = tmp_path / "pseudo"
    manifest = pseudo_label_footage([str(frames), str(video)], str(out), detect, [0], settings)

    assert detect.calls == 5 and manifest["order"] == ["cam1", "walk"]
    seq = out / "footage" / "cam1"
    # a folder's frames copied byte for byte, in name order, renamed as MOTChallenge frames
    for index in range(3):
        copied = (seq / "img1" / f"{index + 1:06d}.png").read_bytes()
        assert copied == (frames / f"f{index:03d}.png").read_bytes()
    info = read_seqinfo(seq / "seqinfo.ini")
    assert (info.frame_rate, info.seq_length, info.im_width, info.im_height) == (30, 3, 96, 72)
    assert read_seqinfo(out / "footage" / "walk" / "seqinfo.ini").frame_rate == 12  # the video's
    assert len(list((out / "footage" / "walk" / "img1").glob("*.jpg"))) == 2

    gt = read_mot_file(seq / "gt" / "gt.txt", "gt").rows
    # only the 0.8 person of each frame; one id per box: pseudo boxes carry no identity
    assert gt["frame"].tolist() == [1, 2, 3] and gt["id"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(gt["x"], [0, 4, 8])
    np.testing.assert_allclose(np.stack([gt["w"], gt["h"]], 1), [[20, 50]] * 3)
    det = read_mot_file(seq / "det" / "det.txt", "det").rows
    np.testing.assert_allclose(det["conf"], [0.8] * 3)

    cocovid = json.loads((out / ANN_FILE).read_text())
    assert [v["name"] for v in cocovid["videos"]] == ["cam1", "walk"]
    assert len(cocovid["images"]) == 5 and len(cocovid["annotations"]) == 5
    first = cocovid["annotations"][0]
    assert first["bbox"] == [0.0, 10.0, 20.0, 50.0] and first["category_id"] == 1
    assert len({a["instance_id"] for a in cocovid["annotations"]}) == 5
    assert cocovid["images"][0]["file_name"] == "footage/cam1/img1/000001.png"
    assert json.loads((out / MANIFEST_FILE).read_text())["sequences"]["cam1"]["boxes"] == 3


def test_a_rerun_keeps_finished_sequences_and_refuses_other_settings(tmp_path: Path) -> None:
    one = _frames(tmp_path / "one", 2)
    two = _frames(tmp_path / "two", 2)
    out = tmp_path / "pseudo"
    settings = PseudoLabelSettings()
    pseudo_label_footage([str(one)], str(out), FakeDetector(), [0], settings)
    # an interrupted run leaves a partial folder; it is redone, the finished sequence kept
    (out / "footage" / "two.partial" / "img1").mkdir(parents=True)
    before = (out / "footage" / "one" / "gt" / "gt.txt").stat().st_mtime_ns
    detect = FakeDetector()
    pseudo_label_footage([str(one), str(two)], str(out), detect, [0], settings)
    assert detect.calls == 2  # the frames of 'two' only
    assert (out / "footage" / "one" / "gt" / "gt.txt").stat().st_mtime_ns == before
    assert not (out / "footage" / "two.partial").exists()

    other = PseudoLabelSettings(score_thr=0.5)
    with pytest.raises(FileExistsError, match=r"pseudo_labels\.json.*\(score_thr\).*--overwrite"):
        pseudo_label_footage([str(one)], str(out), FakeDetector(), [0], other)
    manifest = pseudo_label_footage([str(one)], str(out), FakeDetector(), [0], other, True)
    assert manifest["settings"]["score_thr"] == 0.5 and manifest["order"] == ["one"]
    assert not (out / "footage" / "two").exists()


def test_frames_of_different_sizes_are_refused_naming_the_frame(tmp_path: Path) -> None:
    frames = _frames(tmp_path / "cam", 2)
    cv2.imwrite(str(frames / "f001.png"), np.zeros((50, 40, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frame 2 is 40x50, the first was 96x72"):
        pseudo_label_footage([str(frames)], str(tmp_path / "p"), FakeDetector(), [0],
                             PseudoLabelSettings())  # fmt: skip
