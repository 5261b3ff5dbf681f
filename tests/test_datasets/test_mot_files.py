"""Tests for the MOTChallenge text-file readers and writers."""

from pathlib import Path

import numpy as np
import pytest

from mmdistillmot.datasets.mot_files import (
    MOT_ROW_DTYPE,
    MOTFormatError,
    SeqInfo,
    make_mot_rows,
    read_mot_file,
    read_seqinfo,
    write_mot_gt,
    write_mot_results,
    write_seqinfo,
)

MOT16_GT = """1,1,912,484,97,109,0,7,1
1,2,1338,418,167,379,1,1,0.86014
2,2,1342,417,168,380,1,1,0.5
"""
MOT15_GT = """1,1,399,182,121,229,1,-1,-1,-1
1,2,282,201,92,184,1,12.5,3.25,0
2,1,401,183,119,229,1,-1,-1,-1
"""


def _write(tmp_path: Path, text: str, name: str = "gt.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_mot16_gt_is_recognised_and_parsed(tmp_path):
    gt = read_mot_file(_write(tmp_path, MOT16_GT), "gt")
    assert gt.style == "mot16"
    assert len(gt) == 3
    assert gt.rows.dtype == MOT_ROW_DTYPE
    first = gt.rows[0]
    assert (first["frame"], first["id"], first["class_id"]) == (1, 1, 7)
    assert first["conf"] == 0  # the "active" flag of MOT16+ gt
    assert gt.rows["visibility"][1] == pytest.approx(0.86014)
    assert (gt.rows["wx"] == -1).all()  # not carried by MOT16+ gt
    np.testing.assert_array_equal(gt.rows["line"], [1, 2, 3])
    np.testing.assert_array_equal(gt.frames, [1, 2])
    np.testing.assert_array_equal(gt.boxes_xywh[1], [1338, 418, 167, 379])
    assert len(gt.rows_of_frame(2)) == 1


def test_mot15_gt_is_recognised_with_world_coordinates(tmp_path):
    gt = read_mot_file(_write(tmp_path, MOT15_GT), "gt")
    assert gt.style == "mot15"
    np.testing.assert_array_equal(gt.rows["conf"], [1, 1, 1])
    assert (gt.rows[1]["wx"], gt.rows[1]["wy"], gt.rows[1]["wz"]) == (12.5, 3.25, 0.0)
    # MOT15 has no class or visibility column: both stay "not given".
    assert (gt.rows["class_id"] == -1).all()
    assert (gt.rows["visibility"] == -1).all()


def test_whitespace_separators_and_blank_lines_are_accepted(tmp_path):
    text = "\n1 1 10 20 30 40 1 1 1.0\n\n2, 1 ,11,21,30,40,1,1,0.5  \n"
    gt = read_mot_file(_write(tmp_path, text), "gt")
    assert len(gt) == 2
    np.testing.assert_array_equal(gt.rows["line"], [2, 4])
    np.testing.assert_array_equal(gt.rows["x"], [10, 11])


def test_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_bytes(b"\xef\xbb\xbf1,1,10,20,30,40,1,1,1\r\n2,1,11,20,30,40,1,1,1\r\n")
    gt = read_mot_file(path, "gt")
    np.testing.assert_array_equal(gt.rows["frame"], [1, 2])


def test_empty_file_is_valid_and_has_no_rows(tmp_path):
    for kind in ("gt", "result", "det"):
        parsed = read_mot_file(_write(tmp_path, "", f"{kind}.txt"), kind)
        assert len(parsed) == 0
        assert parsed.boxes_xywh.shape == (0, 4)


def test_results_accept_seven_to_ten_columns(tmp_path):
    text = "1,3,1,2,3,4,0.9\n1,4,1,2,3,4,0.8,-1,-1\n2,3,1,2,3,4,0.7,-1,-1,-1\n"
    result = read_mot_file(_write(tmp_path, text, "res.txt"), "result")
    assert result.style == "result"
    np.testing.assert_allclose(result.rows["conf"], [0.9, 0.8, 0.7])
    assert (result.rows["wz"] == -1).all()


@pytest.mark.parametrize(
    ("text", "kind", "line", "fragment"),
    [
        ("1,1,1,1,5,5,1,1,1\n1,2,1,1,5,5,1,1\n", "gt", 2, "expected 9 columns"),
        ("1,1,1,1,5,5,1,1,1\n1,2,1,1,5,5,1,-1,-1,-1\n", "gt", 2, "one layout"),
        ("1,1,1,1,5,5,1,1,1\n2,1,1,abc,5,5,1,1,1\n", "gt", 2, "column 4 (y) is not a number"),
        ("1,1,1,1,5,nan,1,1,1\n", "gt", 1, "not finite"),
        ("1,1,1,1,0,5,1,1,1\n", "gt", 1, "must be > 0"),
        ("1,1,1,1,5,-2,1,1,1\n", "gt", 1, "must be > 0"),
        ("0,1,1,1,5,5,1,1,1\n", "gt", 1, "frame must be >= 1"),
        ("1.5,1,1,1,5,5,1,1,1\n", "gt", 1, "whole number"),
        ("1,1,1,1,5,5,1,1,1.5\n", "gt", 1, "visibility"),
        ("1,1,1,1,5,5,1,1,1\n1,1,2,2,5,5,1,1,1\n", "gt", 2, "appears twice in frame 1"),
        ("1,1,1,1,5,5\n", "result", 1, "expected 7 to 10 columns"),
        ("1,1,1,1,-5,5,0.5\n", "result", 1, "must be >= 0"),
        ("\n\n-3,1,1,1,5,5,0.5\n", "det", 3, "frame must be >= 1"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, kind, line, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(MOTFormatError) as info:
        read_mot_file(path, kind)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)
    assert info.value.line == line


def test_zero_sized_boxes_are_allowed_in_results_but_not_in_gt(tmp_path):
    path = _write(tmp_path, "1,1,1,1,0,5,0.5\n")
    assert len(read_mot_file(path, "result")) == 1
    with pytest.raises(MOTFormatError, match="must be > 0"):
        read_mot_file(_write(tmp_path, "1,1,1,1,0,5,1,-1,-1,-1\n"), "gt")


def test_detections_may_repeat_id_minus_one(tmp_path):
    det = read_mot_file(_write(tmp_path, "1,-1,1,1,5,5,0.9\n1,-1,9,9,5,5,0.8\n"), "det")
    assert len(det) == 2


def test_box_wholly_outside_the_image_is_refused_when_size_is_given(tmp_path):
    # Partly outside (x < 0) is normal in MOTChallenge gt; wholly outside is not.
    path = _write(tmp_path, "1,1,-10,5,20,20,1,1,1\n1,2,700,5,20,20,1,1,1\n")
    with pytest.raises(MOTFormatError) as info:
        read_mot_file(path, "gt", image_size=(640, 480))
    assert str(info.value).startswith(f"{path}:2: ")
    assert "outside the 640x480 image" in str(info.value)
    assert len(read_mot_file(path, "gt")) == 2


def test_missing_file_and_bad_kind(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_mot_file(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="kind"):
        read_mot_file(_write(tmp_path, ""), "tracks")  # type: ignore[arg-type]


def test_results_round_trip_sorted(tmp_path):
    rows = make_mot_rows(
        frame=[2, 1, 1],
        track_id=[5, 7, 5],
        boxes_xywh=[[1.25, 2, 3, 4], [10, 20, 30.5, 40], [0.5, 1, 2, 3]],
        conf=[0.9, 0.8, 1.0],
    )
    path = tmp_path / "out" / "SEQ.txt"
    write_mot_results(path, rows)
    assert path.read_text().splitlines() == [
        "1,5,0.5,1,2,3,1,-1,-1,-1",
        "1,7,10,20,30.5,40,0.8,-1,-1,-1",
        "2,5,1.25,2,3,4,0.9,-1,-1,-1",
    ]
    back = read_mot_file(path, "result")
    np.testing.assert_array_equal(back.rows["frame"], [1, 1, 2])
    np.testing.assert_allclose(back.rows["w"], [2, 30.5, 3])


def test_results_from_plain_table_and_refusals(tmp_path):
    path = tmp_path / "SEQ.txt"
    write_mot_results(path, [[1, 3, 1, 2, 3, 4, 0.5]])
    assert path.read_text() == "1,3,1,2,3,4,0.5,-1,-1,-1\n"
    write_mot_results(path, [])
    assert path.read_text() == ""
    with pytest.raises(ValueError, match="frame must be >= 1"):
        write_mot_results(tmp_path / "bad.txt", [[0, 3, 1, 2, 3, 4, 0.5]])
    with pytest.raises(ValueError, match="N, >=7"):
        write_mot_results(tmp_path / "bad.txt", [[1, 3, 1, 2]])
    assert not (tmp_path / "bad.txt").exists()


@pytest.mark.parametrize("style", ["mot16", "mot15"])
def test_gt_round_trip(tmp_path, style):
    rows = make_mot_rows(
        frame=[1, 1, 2],
        track_id=[1, 2, 1],
        boxes_xywh=[[1, 2, 3, 4], [5, 6, 7, 8], [2, 3, 3, 4]],
        conf=[1, 0, 1],
        class_id=[1, 7, 1],
        visibility=[1.0, 0.25, 0.125],
    )
    path = tmp_path / "gt" / "gt.txt"
    write_mot_gt(path, rows, style=style)
    back = read_mot_file(path, "gt")
    assert back.style == style
    np.testing.assert_array_equal(back.rows["conf"], [1, 0, 1])
    if style == "mot16":
        assert path.read_text().splitlines()[1] == "1,2,5,6,7,8,0,7,0.25"
        np.testing.assert_array_equal(back.rows["class_id"], [1, 7, 1])
        np.testing.assert_allclose(back.rows["visibility"], [1.0, 0.25, 0.125])
    else:
        assert path.read_text().splitlines()[1] == "1,2,5,6,7,8,0,-1,-1,-1"


def test_gt_writer_refuses_bad_visibility_and_empty_boxes(tmp_path):
    rows = make_mot_rows([1], [1], [[1, 2, 3, 4]], visibility=-1.0)
    with pytest.raises(ValueError, match="visibility"):
        write_mot_gt(tmp_path / "gt.txt", rows)
    rows = make_mot_rows([1], [1], [[1, 2, 0, 4]], visibility=1.0)
    with pytest.raises(ValueError, match="invalid box size"):
        write_mot_gt(tmp_path / "gt.txt", rows)
    assert not (tmp_path / "gt.txt").exists()


SEQINFO = """[Sequence]
name=MOT17-05-FRCNN
imDir=img1
frameRate=14
seqLength=6
imWidth=640
imHeight=480
imExt=.jpg
"""


def test_seqinfo_read_and_round_trip(tmp_path):
    info = read_seqinfo(_write(tmp_path, SEQINFO, "seqinfo.ini"))
    assert info == SeqInfo("MOT17-05-FRCNN", "img1", 14, 6, 640, 480, ".jpg")
    write_seqinfo(tmp_path / "copy" / "seqinfo.ini", info)
    assert read_seqinfo(tmp_path / "copy" / "seqinfo.ini") == info


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (SEQINFO.replace("seqLength=6\n", ""), "lacks the key 'seqLength'"),
        (SEQINFO.replace("imWidth=640", "imWidth=wide"), "imWidth must be a whole number"),
        (SEQINFO.replace("frameRate=14", "frameRate=0"), "frameRate must be > 0"),
        (SEQINFO.replace("[Sequence]", "[Other]"), "no [Sequence] section"),
        ("name=x\n", "not a valid ini file"),
    ],
)
def test_seqinfo_errors_name_file_and_field(tmp_path, text, fragment):
    path = _write(tmp_path, text, "seqinfo.ini")
    with pytest.raises(MOTFormatError) as info:
        read_seqinfo(path)
    assert str(info.value).startswith(str(path))
    assert fragment in str(info.value)


@pytest.mark.assets
def test_real_mot17_files(assets_root):
    # Row counts from ../shared/assets/SOURCES.md.
    expected = {"MOT17-02-FRCNN": 156, "MOT17-04-FRCNN": 792, "MOT17-05-FRCNN": 73}
    for name, count in expected.items():
        seq = assets_root / "mot17_mini" / "train" / name
        info = read_seqinfo(seq / "seqinfo.ini")
        gt = read_mot_file(seq / "gt" / "gt.txt", "gt", image_size=(info.im_width, info.im_height))
        assert (gt.style, len(gt), info.name) == ("mot16", count, name)
        assert gt.frames.max() <= info.seq_length
        det = read_mot_file(seq / "det" / "det.txt", "det")
        assert (det.rows["id"] == -1).all()
