"""The LQ dataset builder: safety of the sources, the paper's split rules, resuming."""

import hashlib
import importlib.util
import json
import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdistillmot.datasets.lq_builder import (
    MOT_PAPER_SPLIT,
    BuildConfig,
    LQBuildError,
    build_lq_dataset,
    discover_sequences,
    select_sequences,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_sequence(root: Path, name: str, frames: int = 3, size=(96, 64), seed: int = 0) -> Path:
    """A tiny MOTChallenge sequence: textured JPEG frames, a 2-object gt.txt, seqinfo.ini."""
    width, height = size
    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(128, 40, (height, width, 3)), (0, 0), 2.0)
    lines = []
    for f in range(1, frames + 1):
        img = np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), img)
        lines += [f"{f},1,{5 + f},10,20,30,1,1,1", f"{f},2,50,{20 + f},15,25,1,1,0.5"]
    (seq / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={frames}\n"
        f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n"
    )
    return seq


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src" / "train"
    for index in range(6):
        write_sequence(root, f"dance{index:04d}", seed=index)
    return root


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root`` (links followed), plus link targets."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def set_read_only(root: Path, read_only: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if read_only:
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        else:
            path.chmod(mode | stat.S_IWUSR)


def test_refuses_a_destination_inside_or_equal_to_the_source(source, tmp_path):
    before = tree_digest(source)
    for dst in (source, source / "dance0001" / "lq"):
        with pytest.raises(LQBuildError, match="refusing"):
            build_lq_dataset([source], dst, BuildConfig())
    assert tree_digest(source) == before
    assert not (source / "dance0001" / "lq").exists()
    # A source inside a folder the build writes (DST/hq/<split>) is refused as well.
    nested = tmp_path / "x" / "hq" / "train"
    write_sequence(nested, "seq0001", frames=1)
    with pytest.raises(LQBuildError, match="overlaps"):
        build_lq_dataset([nested], tmp_path / "x", BuildConfig())


def test_train_split_degrades_a_seeded_two_thirds_and_never_touches_the_source(source, tmp_path):
    before = tree_digest(source)
    set_read_only(source, True)  # any write into the source would raise
    try:
        manifest = build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=3))
    finally:
        set_read_only(source, False)
    assert tree_digest(source) == before
    assert manifest["status"] == "complete"
    assert len(manifest["degraded"]) == 4  # round(6 * 2 / 3)
    assert manifest["degraded"] == sorted(manifest["permutation"][:4])
    again = build_lq_dataset([source], tmp_path / "again", BuildConfig(seed=3))
    assert again["degraded"] == manifest["degraded"]
    other = [build_lq_dataset([source], tmp_path / f"o{s}", BuildConfig(seed=s)) for s in (4, 5)]
    assert any(o["permutation"] != manifest["permutation"] for o in other)

    out = tmp_path / "out"
    for name, entry in manifest["sequences"].items():
        assert entry["degraded"] == (name in manifest["degraded"])
        src_frames = sorted((source / name / "img1").iterdir())
        if entry["degraded"]:
            for src_frame in src_frames:
                lq = cv2.imread(str(out / "lq" / "train" / name / "img1" / src_frame.name))
                hq = cv2.imread(str(src_frame))
                assert lq.shape == hq.shape and not np.array_equal(lq, hq)
            assert (out / "lq" / "train" / name / "gt" / "gt.txt").read_bytes() == (
                source / name / "gt" / "gt.txt"
            ).read_bytes()
            params = json.loads((out / entry["degradation_file"]).read_text())
            assert sorted(params) == [p.name for p in src_frames]
        assert (out / "hq" / "train" / name).resolve() == (source / name).resolve()


def test_mixed_annotation_lists_cover_every_video_once(source, tmp_path):
    manifest = build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=1, ratio=1.0))
    lists = manifest["lists"]
    expected = {"train_lq2-hq1": (4, 2), "train_lq1-hq1": (3, 3), "train_lq": (6, 0)}
    expected["train_hq"] = (0, 6)
    assert {k: (len(v["lq"]), len(v["hq"])) for k, v in lists.items()} == expected
    # frame counts in the manifest: 3 frames per video
    assert {k: v["frames"] for k, v in lists.items()} == {
        k: {"lq": 3 * lq, "hq": 3 * hq} for k, (lq, hq) in expected.items()
    }
    # The low-quality videos of the mixes are prefixes of one permutation, so they nest.
    assert set(lists["train_lq1-hq1"]["lq"]) <= set(lists["train_lq2-hq1"]["lq"])
    for entry in lists.values():
        coco = json.loads((tmp_path / "out" / entry["file"]).read_text())
        videos = [v["name"] for v in coco["videos"]]
        assert sorted(videos) == sorted(entry["lq"] + entry["hq"])
        assert len(coco["images"]) == 3 * len(videos)
        assert len(coco["annotations"]) == 2 * len(coco["images"])  # two objects per frame
        ids = {(a["video_id"], a["mot_instance_id"]): a["instance_id"] for a in coco["annotations"]}
        assert len(set(ids.values())) == len(ids) == 2 * len(videos)
        for image in coco["images"]:
            path = tmp_path / "out" / image["file_name"]
            assert path.is_file()
            quality, split, seq = image["file_name"].split("/")[:3]
            assert split == "train" and (seq in entry[quality])


def test_all_low_quality_set_holds_every_video_like_the_all_high_one(source, tmp_path, caplog):
    """Table VI: the all-LQ row trains on as many videos and frames as the all-HQ row."""
    for length, name in zip((3, 5), ("dance0100", "dance0101")):  # unequal lengths
        write_sequence(source, name, frames=length, seed=7)
    partial = build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=1))
    assert len(partial["degraded"]) == 5  # round(8 * 2 / 3)
    # a two-thirds build cannot give the all-low set: it does not write one
    assert "train_lq" not in partial["lists"] and "not writing train_lq" in caplog.text
    assert not (tmp_path / "out" / "annotations" / "train_lq_cocoformat.json").exists()
    mix = (tmp_path / "out" / "annotations" / "train_lq2-hq1_cocoformat.json").read_bytes()
    frames_before = tree_digest(tmp_path / "out" / "lq")

    # --ratio 1 on the same destination extends it: only the rest is degraded
    full = build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=1, ratio=1.0))
    lists = full["lists"]
    assert (
        sorted(lists["train_lq"]["lq"])
        == sorted(lists["train_hq"]["hq"])
        == sorted(full["permutation"])
    )
    assert lists["train_lq"]["frames"] == {"lq": 6 * 3 + 3 + 5, "hq": 0}
    assert lists["train_hq"]["frames"] == {"lq": 0, "hq": 26}
    lq2 = lists["train_lq2-hq1"]
    assert lq2["frames"]["lq"] + lq2["frames"]["hq"] == 26
    coco = json.loads((tmp_path / "out" / lists["train_lq"]["file"]).read_text())
    assert len(coco["images"]) == 26 and all(
        i["file_name"].startswith("lq/") for i in coco["images"]
    )
    # the mixes and the frames degraded before are unchanged, byte for byte
    assert (tmp_path / "out" / "annotations" / "train_lq2-hq1_cocoformat.json").read_bytes() == mix
    after = tree_digest(tmp_path / "out" / "lq")
    assert {k: after[k] for k in frames_before if k.endswith(".jpg")} == {
        k: v for k, v in frames_before.items() if k.endswith(".jpg")
    }
    # and equal to a build at ratio 1 from scratch
    fresh = build_lq_dataset([source], tmp_path / "fresh", BuildConfig(seed=1, ratio=1.0))
    assert tree_digest(tmp_path / "fresh" / "lq") == after
    assert fresh["lists"] == lists
    # lowering the ratio again is a different configuration, refused
    with pytest.raises(LQBuildError, match="different configuration"):
        build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=1, ratio=0.5))


def test_validation_split_degrades_every_video(source, tmp_path):
    manifest = build_lq_dataset([source], tmp_path / "out", BuildConfig(split="val", ratio=1.0))
    assert sorted(manifest["degraded"]) == sorted(manifest["permutation"])
    assert set(manifest["lists"]) == {"val_lq", "val_hq"}
    with pytest.raises(LQBuildError, match="validation"):
        build_lq_dataset([source], tmp_path / "bad", BuildConfig(split="val"))


def test_resumed_build_is_byte_identical_to_an_uninterrupted_one(source, tmp_path):
    full = tmp_path / "full"
    build_lq_dataset([source], full, BuildConfig(seed=2))
    reference = tree_digest(full)

    # Interrupted after 5 frames, with a half-written temporary file left behind.
    part = tmp_path / "part"
    status = build_lq_dataset([source], part, BuildConfig(seed=2), max_frames=5)["status"]
    assert status == "in_progress"
    written = sorted((part / "lq").rglob("*.jpg"))
    assert len(written) == 5
    (written[0].parent / ".000003.jpg.tmp").write_bytes(b"partial")
    build_lq_dataset([source], part, BuildConfig(seed=2), workers=2)
    assert tree_digest(part) == reference

    # Outputs lost after a finished run are rebuilt identically.
    for lost in sorted((full / "lq").rglob("*.jpg"))[::3]:
        lost.unlink()
    next(iter((full / "lq").rglob("degradation.json"))).unlink()
    build_lq_dataset([source], full, BuildConfig(seed=2))
    assert tree_digest(full) == reference


def test_resuming_with_another_configuration_is_refused(source, tmp_path):
    build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=2), max_frames=1)
    with pytest.raises(LQBuildError, match="different configuration"):
        build_lq_dataset([source], tmp_path / "out", BuildConfig(seed=9))


def test_per_sequence_builds_record_one_parameter_set_per_video(source, tmp_path):
    config = BuildConfig(consistency="per_sequence", severity=0.5)
    manifest = build_lq_dataset([source], tmp_path / "out", config)
    for name in manifest["degraded"]:
        entry = manifest["sequences"][name]
        records = json.loads((tmp_path / "out" / entry["degradation_file"]).read_text())
        structural = [
            {k: v for k, v in r.items() if k not in ("noise_seed", "frame")}
            for r in records.values()
        ]
        assert all(s == entry["parameters"] for s in structural)
        assert entry["parameters"]["severity"] == 0.5


def test_paper_mot_split_has_5_plus_2_training_videos_and_picks_one_detector_copy(tmp_path):
    train, val = MOT_PAPER_SPLIT["train"], MOT_PAPER_SPLIT["val"]
    assert sum(n.startswith("MOT17") for n in train) == 5
    assert sum(n.startswith("MOT20") for n in train) == 2
    mot17 = {f"MOT17-{i:02d}" for i in (2, 4, 5, 9, 10, 11, 13)}
    mot20 = {f"MOT20-{i:02d}" for i in (1, 2, 3, 5)}
    assert set(train) | set(val) == mot17 | mot20 and not set(train) & set(val)

    root17, root20 = tmp_path / "MOT17" / "train", tmp_path / "MOT20" / "train"
    for base in sorted(mot17):
        for det in ("DPM", "FRCNN", "SDP"):
            write_sequence(root17, f"{base}-{det}", frames=1, size=(16, 16))
    for base in sorted(mot20):
        write_sequence(root20, base, frames=1, size=(16, 16))
    available = discover_sequences([root17, root20])
    chosen = [s.name for s in select_sequences(available, subset="mot-paper", split="train")]
    assert chosen == [
        "MOT17-02-FRCNN",
        "MOT17-04-FRCNN",
        "MOT17-05-FRCNN",
        "MOT17-09-FRCNN",
        "MOT17-10-FRCNN",
        "MOT20-01",
        "MOT20-02",
    ]
    with pytest.raises(LQBuildError, match="MOT20"):
        select_sequences(discover_sequences([root17]), subset="mot-paper", split="val")


def load_tool():
    path = REPO_ROOT / "tools" / "dataset_converters" / "make_lq_dataset.py"
    spec = importlib.util.spec_from_file_location("make_lq_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line_tool(source, tmp_path, capsys):
    tool = load_tool()
    assert tool.main([str(source), str(source / "inside")]) == 1
    assert "refusing" in capsys.readouterr().err
    argv = [str(source), str(tmp_path / "out"), "--split", "val", "--workers", "2"]
    assert tool.main(argv + ["--sequences", "dance0001", "dance0003"]) == 0
    out = capsys.readouterr().out
    assert "complete: 2 of 2 videos degraded" in out
    assert "val_lq_cocoformat.json: 2 low + 0 high quality videos, 6 + 0 frames" in out
    assert tool.main(argv + ["--ratio", "0.5"]) == 2
