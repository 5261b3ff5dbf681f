"""mmdistillmot.apis.video_tracking: frame sources and public detections (no model needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdistillmot.apis import FrameSource, load_public_detections
from mmdistillmot.datasets.mot_files import MOTFormatError


def _write_frames(folder: Path, count: int, size: tuple[int, int] = (32, 24)) -> list[np.ndarray]:
    """Write ``count`` frames whose pixel value is 10 * index (so their order can be checked)."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    frames = [np.full((height, width, 3), 10 * i, np.uint8) for i in range(count)]
    # written out of order: the source must sort by name
    for i in reversed(range(count)):
        cv2.imwrite(str(folder / f"{i + 1:06d}.png"), frames[i])
    return frames


def test_folder_of_frames_in_name_order(tmp_path: Path) -> None:
    frames = _write_frames(tmp_path / "img", 4)
    (tmp_path / "img" / "notes.txt").write_text("not an image")
    source = FrameSource(str(tmp_path / "img"))
    assert len(source) == 4
    read = list(source)
    assert [int(image[0, 0, 0]) for image in read] == [0, 10, 20, 30]
    assert read[0].shape == frames[0].shape


def test_sequence_folder_reads_img1(tmp_path: Path) -> None:
    _write_frames(tmp_path / "SEQ" / "img1", 3)
    source = FrameSource(str(tmp_path / "SEQ"))
    assert source.path.endswith("img1")
    assert len(list(source)) == 3


def test_video_file_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 12.0, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    source = FrameSource(str(path))
    assert source.fps == pytest.approx(12.0)
    read = list(source)
    assert len(read) == len(source) == 5
    # MJPG is lossy: the flat grey levels survive to within a few values
    assert [int(round(image.mean())) for image in read] == pytest.approx(
        [0, 40, 80, 120, 160], abs=3
    )


def test_bad_inputs_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FrameSource(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        FrameSource(str(tmp_path / "empty"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(OSError, match="broken.mp4"):
        FrameSource(str(broken))


def test_public_detections_xywh_to_xyxy_by_frame(tmp_path: Path) -> None:
    det = tmp_path / "det.txt"
    det.write_text(
        "1,-1,10,20,30,40,0.9,-1,-1,-1\n"
        "1,-1,0,0,5,5,0.2,-1,-1,-1\n"
        "3,-1,1.5,2.5,10,20,0.7,-1,-1,-1\n"
    )
    dets = load_public_detections(str(det))
    assert sorted(dets) == [1, 3]
    # x2 = x + w, y2 = y + h, worked by hand
    np.testing.assert_allclose(dets[1], [[10, 20, 40, 60, 0.9], [0, 0, 5, 5, 0.2]])
    np.testing.assert_allclose(dets[3], [[1.5, 2.5, 11.5, 22.5, 0.7]])
    kept = load_public_detections(str(det), min_score=0.5)
    assert [len(kept[f]) for f in sorted(kept)] == [1, 1]


def test_malformed_detections_name_file_and_line(tmp_path: Path) -> None:
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,20,30,40,0.9\n2,-1,10,twenty,30,40,0.9\n")
    with pytest.raises(MOTFormatError, match=r"det\.txt:2"):
        load_public_detections(str(det))
    with pytest.raises(FileNotFoundError, match="missing_det.txt"):
        load_public_detections(str(tmp_path / "missing_det.txt"))
