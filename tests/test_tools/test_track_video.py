"""tools/demo/track_video.py on a tiny synthetic sequence with a tiny random-init TDT.

The model is random (no checkpoint), so only properties that hold for any weights are checked:
frame counts and sizes of the rendered output, a result file that parses with frames in range,
and -- with ``--public-dets`` -- that every reported box is one of the given detections; with a
two-stage config and public detections, that the detector never runs (no checkpoint needed).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmengine.registry import init_default_scope

from mmdistillmot.datasets.mot_files import (
    make_mot_rows,
    read_mot_file,
    read_seqinfo,
    write_mot_results,
)
from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "track_video", REPO / "tools" / "demo" / "track_video.py"
)
assert SPEC is not None and SPEC.loader is not None
track_video = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = track_video
SPEC.loader.exec_module(track_video)

CONFIG = str(REPO / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py")
TWO_STAGE = str(REPO / "configs" / "tdt" / "two-stage_r18_fpn_osnet_synthetic.py")
# Random weights score every box near the focal-loss prior (0.01): take every detection and let
# every one start a track, so the outputs are not empty; the test pipeline keeps the 160x96 size.
TINY = [
    "--cfg-options",
    "test_dataloader.dataset.pipeline.0.transforms.1.scale=(160,96)",
    "model.detector.test_cfg.score_thr=0.0",
    "model.detector.test_cfg.max_per_img=5",
    "model.tracker.obj_score_thr=0.0",
    "model.tracker.init_track_thr=0.0",
    "model.tracker.min_box_area=0",
]


@pytest.fixture(scope="module")
def sequence(tiny_synthetic_mot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny validation sequence (6 frames of 160x96), so nothing touches the set."""
    (source,) = sorted((tiny_synthetic_mot / "val").iterdir())
    copy = tmp_path_factory.mktemp("seq") / source.name
    shutil.copytree(source, copy)
    return copy


def _frames(sequence: Path) -> list[Path]:
    return sorted((sequence / "img1").glob("*.jpg"))


def _video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def _record_trackers(monkeypatch: pytest.MonkeyPatch) -> list:
    """The VideoTracker objects the tool builds (to read their tracker's state afterwards)."""
    built = []

    class Recording(track_video.VideoTracker):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(track_video, "VideoTracker", Recording)
    return built


def test_folder_of_frames_to_video(sequence: Path, tmp_path: Path, capsys) -> None:
    # A script starts without mmdet's registry scope (the test session sets one): the tool must
    # set the config's own scope, whatever scope is current.
    init_default_scope("mmengine")
    try:
        out = tmp_path / "tracked.mp4"
        assert track_video.main([CONFIG, str(sequence / "img1"), "--out", str(out), *TINY]) == 0
    finally:
        init_default_scope("mmdet")
    frames = _video_frames(out)
    assert len(frames) == len(_frames(sequence)) == 6
    assert {frame.shape for frame in frames} == {(96, 160, 3)}
    result = read_mot_file(tmp_path / "tracked.txt", kind="result")
    assert len(result) > 0
    assert set(result.frames.tolist()) <= set(range(1, 7))
    printed = capsys.readouterr()
    # stderr is not a terminal here: the bar comes as whole lines (no carriage returns), the
    # last one with all frames and the rate
    assert "\r" not in printed.err
    bar = [line for line in printed.err.splitlines() if line.startswith("tracking:")]
    assert "| 6/6 [" in bar[-1] and "frame/s]" in bar[-1]
    # one summary line: frames, time, the tracks and boxes of the file written, where it is
    summary = printed.out.strip().splitlines()[-1]
    tracks, boxes = len(np.unique(result.rows["id"])), len(result)
    assert re.fullmatch(
        rf"tracked 6 frames in [0-9.]+ s \([0-9.]+ frames/s\): {tracks} tracks, {boxes} boxes "
        rf"-> {re.escape(str(out))} and {re.escape(str(tmp_path / 'tracked.txt'))}",
        summary,
    ), summary


def test_video_file_to_frame_folder(sequence: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 96))
    for path in _frames(sequence):
        writer.write(cv2.imread(str(path)))
    writer.release()
    out = tmp_path / "rendered"
    txt = tmp_path / "clip_tracks.txt"
    argv = [CONFIG, str(clip), "--out", str(out), "--txt", str(txt), *TINY]
    assert track_video.main(argv) == 0
    written = sorted(out.glob("*.jpg"))
    assert [p.name for p in written] == [f"{i:06d}.jpg" for i in range(1, 7)]
    assert cv2.imread(str(written[0])).shape == (96, 160, 3)
    result = read_mot_file(txt, kind="result")
    assert set(result.frames.tolist()) <= set(range(1, 7))


def test_public_detections_are_the_only_boxes(sequence: Path, tmp_path: Path, monkeypatch) -> None:
    # Detections: the ground-truth boxes shifted by a fraction of a pixel (so they are not the
    # model's boxes by accident) and every third one left out; scores vary.
    gt = read_mot_file(sequence / "gt" / "gt.txt", kind="gt").rows
    gt = gt[np.arange(len(gt)) % 3 != 0]
    boxes = np.stack([gt["x"] + 0.25, gt["y"] + 0.5, gt["w"], gt["h"]], axis=1)
    scores = np.linspace(0.6, 0.95, len(gt))
    det = tmp_path / "det.txt"
    write_mot_results(det, make_mot_rows(gt["frame"], [-1] * len(gt), boxes, scores))
    out = tmp_path / "public.mp4"
    argv = [CONFIG, str(sequence), "--out", str(out), "--public-dets", str(det), *TINY]
    built = _record_trackers(monkeypatch)
    assert track_video.main(argv) == 0
    # the public path hands the sequence's rate to the tracker too: int(fps / 30 * 30)
    rate = read_seqinfo(sequence / "seqinfo.ini").frame_rate
    assert built[0].model.tracker.max_time_lost == int(rate / 30 * 30) != 30
    result = read_mot_file(tmp_path / "public.txt", kind="result").rows
    assert len(result) > 0, "no public detection got an embedding and a track"
    given = read_mot_file(det, kind="det").rows
    for row in result:
        same_frame = given[given["frame"] == row["frame"]]
        table = np.stack([same_frame[k] for k in ("x", "y", "w", "h")], axis=1)
        box = np.array([row["x"], row["y"], row["w"], row["h"]])
        # written with 3 decimals from float32: equal to a given box up to that rounding
        assert np.abs(table - box).max(axis=1).min() < 2e-3, (row, table)
    assert len(_video_frames(out)) == 6


def test_missing_input_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    with pytest.raises(SystemExit, match="no_such_folder"):
        track_video.main([CONFIG, str(missing), "--out", str(tmp_path / "o.mp4")])


def test_malformed_detections_name_file_and_line(sequence: Path, tmp_path: Path) -> None:
    det = tmp_path / "bad_det.txt"
    det.write_text("1,-1,10,20,30,40,0.9\n2,-1,10,20,30\n")
    argv = [CONFIG, str(sequence), "--out", str(tmp_path / "o.mp4"), "--public-dets", str(det)]
    with pytest.raises(SystemExit, match=r"bad_det\.txt:2"):
        track_video.main(argv)
    with pytest.raises(SystemExit, match="absent_det.txt"):
        track_video.main([*argv[:-1], str(tmp_path / "absent_det.txt")])


def test_refuses_to_write_into_the_input(sequence: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in (sequence / "img1").iterdir())
    with pytest.raises(SystemExit, match="would write into the input"):
        track_video.main([CONFIG, str(sequence / "img1"), "--out", str(sequence / "img1")])
    det = sequence / "det" / "det.txt"
    with pytest.raises(SystemExit, match="would write over the input"):
        track_video.main(
            [CONFIG, str(sequence), "--out", str(tmp_path / "o.mp4"), "--txt", str(det),
             "--public-dets", str(det)]
        )  # fmt: skip
    assert sorted(p.name for p in (sequence / "img1").iterdir()) == before


def _at_rate(sequence: Path, tmp_path: Path, rate: int) -> Path:
    """A copy of the sequence whose seqinfo.ini says ``frameRate=rate``."""
    copy = tmp_path / sequence.name
    shutil.copytree(sequence, copy)
    info = (copy / "seqinfo.ini").read_text()
    assert "frameRate=" in info and f"frameRate={rate}\n" not in info
    (copy / "seqinfo.ini").write_text(re.sub(r"(?m)^frameRate=.*$", f"frameRate={rate}", info))
    return copy


def test_sequence_rate_reaches_video_and_tracker(
    sequence: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    seq = _at_rate(sequence, tmp_path, 10)
    out = tmp_path / "tracked.mp4"
    built = _record_trackers(monkeypatch)
    assert track_video.main([CONFIG, str(seq), "--out", str(out), *TINY]) == 0
    (video_tracker,) = built
    # the tracker itself ran with FairMOT's buffer int(10 / 30 * 30) = 10 (config: 30 fps)
    assert video_tracker.model.tracker.frame_rate == 30
    assert video_tracker.model.tracker.max_time_lost == 10
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)  # not the writer's old 30
    capture.release()
    printed = capsys.readouterr().out
    assert f"frame rate: 10 fps ({seq / 'seqinfo.ini'})" in printed
    # FairMOT's buffer int(10 / 30 * 30) = 10 frames; the effective thresholds, once
    assert "lost tracks kept 10 frames (10 fps)" in printed
    assert printed.count("thresholds:") == 1 and "obj_score_thr=0.0" in printed


def test_txt_alone_renders_nothing_and_ids_count_from_one(
    sequence: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    seq = _at_rate(sequence, tmp_path / "in", 10)
    txt = tmp_path / "out" / "tracks.txt"
    built = _record_trackers(monkeypatch)
    # every box is reported (no area or aspect-ratio filter): frame 1 shows every new track
    argv = [CONFIG, str(seq), "--txt", str(txt), "--fps", "5", *TINY]
    assert track_video.main([*argv, "model.tracker.max_aspect_ratio=None"]) == 0
    assert built[0].model.tracker.max_time_lost == 5  # --fps wins over seqinfo.ini's 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tracks.txt"]
    printed = capsys.readouterr().out
    assert "frame rate: 5 fps (--fps)" in printed and "lost tracks kept 5 frames" in printed
    rows = read_mot_file(txt, kind="result").rows
    # max_per_img=5 detections, each starting a track (ids 0..4 inside the tracker) confirmed
    # at once in the first frame: written as 1..5
    assert sorted(rows["id"][rows["frame"] == 1].tolist()) == [1, 2, 3, 4, 5]
    assert rows["id"].min() == 1
    with pytest.raises(SystemExit):  # neither output: refused before any work
        track_video.main([CONFIG, str(seq), *TINY])
    assert "--out" in capsys.readouterr().err


def test_public_two_stage_needs_no_detector_checkpoint(
    sequence: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    # TwoStageTracker embeds the given boxes with its Re-ID network: without a checkpoint its
    # detector has random weights, and it must never run (the tool says so in one line)
    torch.manual_seed(0)
    weights = tmp_path / "osnet_x0_25_random.pth"
    torch.save(OSNetTeacher(arch="osnet_x0_25", allow_random_init=True).model.state_dict(), weights)
    detector_calls = []
    original = SingleStageDetector.forward

    def counting(self, *args, **kwargs):
        detector_calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SingleStageDetector, "forward", counting)
    monkeypatch.setattr(SingleStageDetector, "predict", counting)
    det = sequence / "det" / "det.txt"
    txt = tmp_path / "two_stage.txt"
    argv = [TWO_STAGE, str(sequence), "--txt", str(txt), "--public-dets", str(det),
            "--cfg-options", f"model.reid.weights={weights}", "model.tracker.obj_score_thr=0.0",
            "model.tracker.min_box_area=0"]  # fmt: skip
    assert track_video.main(argv) == 0
    assert detector_calls == []
    printed = capsys.readouterr().out
    assert printed.count("detector: RetinaNet not run") == 1
    assert "no detector checkpoint is needed" in printed
    result = read_mot_file(txt, kind="result").rows
    given = read_mot_file(det, kind="det").rows
    assert len(result) > 0
    for row in result:
        same_frame = given[given["frame"] == row["frame"]]
        table = np.stack([same_frame[k] for k in ("x", "y", "w", "h")], axis=1)
        box = np.array([row["x"], row["y"], row["w"], row["h"]])
        assert np.abs(table - box).max(axis=1).min() < 2e-3, (row, table)
    # a one-stage model does run its detector on public boxes (their embeddings): no such line
    assert track_video.public_detector_note(track_video.VideoTracker(CONFIG, None).model) is None
