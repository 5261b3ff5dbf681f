"""mmdistillmot.apis.video_tracking: frame sources and public detections (no model needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdistillmot.apis import (
    FrameSource,
    load_public_detections,
    read_seqinfo_frame_rate,
    tracks_to_mot_rows,
)
from mmdistillmot.datasets.mot_files import MOTFormatError, read_mot_file, write_mot_results


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


def _write_seqinfo(seq: Path, frame_rate: str, im_dir: str = "img1") -> None:
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={seq.name}\nimDir={im_dir}\nframeRate={frame_rate}\nseqLength=3\n"
        "imWidth=32\nimHeight=24\nimExt=.png\n"
    )


def test_sequence_frame_rate_from_seqinfo(tmp_path: Path) -> None:
    _write_frames(tmp_path / "SEQ" / "img1", 3)
    _write_seqinfo(tmp_path / "SEQ", "10")
    for given in (tmp_path / "SEQ", tmp_path / "SEQ" / "img1"):  # the sequence or its imDir
        source = FrameSource(str(given))
        assert source.fps == 10.0
        assert source.fps_source == str(tmp_path / "SEQ" / "seqinfo.ini")
    # a folder beside the sequence's imDir is not that sequence: its rate is unknown
    _write_frames(tmp_path / "SEQ" / "other", 2)
    assert FrameSource(str(tmp_path / "SEQ" / "other")).fps is None
    # a plain folder of frames: unknown (the tool then says so and renders at 30 fps)
    _write_frames(tmp_path / "plain", 2)
    plain = FrameSource(str(tmp_path / "plain"))
    assert plain.fps is None and plain.fps_source == "unknown"


def test_bad_seqinfo_frame_rate_names_the_file(tmp_path: Path) -> None:
    _write_frames(tmp_path / "SEQ" / "img1", 3)
    _write_seqinfo(tmp_path / "SEQ", "fast")
    with pytest.raises(ValueError, match=r"seqinfo\.ini: frameRate='fast'"):
        FrameSource(str(tmp_path / "SEQ"))
    assert read_seqinfo_frame_rate(_no_rate(tmp_path / "norate.ini")) is None


def _no_rate(path: Path) -> Path:
    path.write_text("[Sequence]\nname=X\n")
    return path


def test_tracks_become_rows_with_one_based_ids(tmp_path: Path) -> None:
    tracks = InstanceData(
        bboxes=torch.tensor([[10.0, 20.0, 40.0, 80.0], [100.0, 0.0, 150.0, 90.0]]),
        scores=torch.tensor([0.9, 0.5]),
        instances_id=torch.tensor([0, 7]),  # a tracker's ids count from 0
    )
    rows = tracks_to_mot_rows(4, tracks)
    path = tmp_path / "SEQ.txt"
    write_mot_results(path, rows)
    back = read_mot_file(path, kind="result").rows
    assert back["frame"].tolist() == [5, 5]  # frame index 4 -> MOTChallenge frame 5
    assert back["id"].tolist() == [1, 8]  # ids from 1, each shifted once
    boxes = np.stack([back[k] for k in ("x", "y", "w", "h")], axis=1)
    np.testing.assert_allclose(boxes, [[10, 20, 30, 60], [100, 0, 50, 90]])
    no_id = torch.zeros(0, dtype=torch.long)
    empty = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0), instances_id=no_id)
    assert len(tracks_to_mot_rows(0, empty)) == 0
