"""The synthetic dataset on disk: layout, ground truth, detections, Re-ID split, CocoVID, reruns."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdistillmot.datasets.mot_files import read_mot_file, read_seqinfo
from mmdistillmot.datasets.synthetic import (
    MANIFEST_NAME,
    Appearance,
    ReIDConfig,
    SyntheticMOTConfig,
    generate_synthetic_mot,
)

REPO = Path(__file__).resolve().parents[2]
TINY = SyntheticMOTConfig(
    seed=3,
    num_train=1,
    num_val=1,
    frames=10,
    width=192,
    height=112,
    people=(8.0, 10.0),
    reid=ReIDConfig(train_ids=4, test_ids=3, images_per_id=5, cameras=3, width=192, height=112),
)
MARKET_NAME = re.compile(r"^(\d{4})_c(\d)s1_(\d{6})_00\.jpg$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "data"
    generate_synthetic_mot(out, TINY, progress=False)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_layout_and_seqinfo_match_the_images(dataset: Path) -> None:
    seqs = sorted(dataset.glob("*/SYN-*"))
    assert [(p.parent.name, p.name) for p in seqs] == [("train", "SYN-01"), ("val", "SYN-02")]
    for seq in seqs:
        info = read_seqinfo(seq / "seqinfo.ini")
        assert info.name == seq.name and info.im_dir == "img1" and info.im_ext == ".jpg"
        images = sorted((seq / "img1").iterdir())
        assert [p.name for p in images] == [f"{i:06d}.jpg" for i in range(1, TINY.frames + 1)]
        assert info.seq_length == len(images)
        for path in images[:: len(images) - 1]:
            assert cv2.imread(str(path)).shape == (info.im_height, info.im_width, 3)
        # mmdet's mot2coco reads seqinfo.ini by line position: keep MOT17's key order.
        lines = (seq / "seqinfo.ini").read_text().splitlines()
        assert [line.split("=")[0] for line in lines[1:7]] == [
            "name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight",
        ]  # fmt: skip


def test_ground_truth_boxes_and_visibility(dataset: Path) -> None:
    all_vis = []
    for seq in sorted(dataset.glob("*/SYN-*")):
        gt = read_mot_file(seq / "gt" / "gt.txt", "gt", image_size=(TINY.width, TINY.height))
        rows = gt.rows
        assert gt.style == "mot16" and len(rows) > 0
        assert set(rows["frame"]) <= set(range(1, TINY.frames + 1))
        assert (rows["conf"] == 1).all() and (rows["class_id"] == 1).all()
        for k in ("x", "y", "w", "h"):
            assert (rows[k] == np.round(rows[k])).all()  # whole pixels, exact under %d
        assert (rows["x"] >= 0).all() and (rows["y"] >= 0).all()
        assert (rows["x"] + rows["w"] <= TINY.width).all()
        assert (rows["y"] + rows["h"] <= TINY.height).all()
        assert (rows["w"] >= 3).all() and (rows["h"] >= 3).all()
        assert ((rows["visibility"] >= 0) & (rows["visibility"] <= 1)).all()
        # Ids are numbered by first appearance: 1..N with no gaps.
        ids = np.unique(rows["id"])
        assert ids.tolist() == list(range(1, len(ids) + 1))
        all_vis.append(rows["visibility"])
    vis = np.concatenate(all_vis)
    assert (vis < 1.0).any() and (vis == 1.0).any()  # some people are occluded, most are not


def test_public_detections_are_noisy_but_sane(dataset: Path) -> None:
    for seq in sorted(dataset.glob("*/SYN-*")):
        det = read_mot_file(seq / "det" / "det.txt", "det", image_size=(TINY.width, TINY.height))
        gt = read_mot_file(seq / "gt" / "gt.txt", "gt").rows
        rows = det.rows
        assert len(rows) > 0 and (rows["id"] == -1).all()
        assert ((rows["conf"] > 0) & (rows["conf"] < 1)).all()
        assert (rows["x"] >= 0).all() and (rows["x"] + rows["w"] <= TINY.width + 1e-6).all()
        assert (rows["w"] > 0).all() and (rows["h"] > 0).all()
        # Not a copy of the ground truth: box coordinates differ.
        gt_boxes = {tuple(r) for r in np.stack([gt[k] for k in "xywh"], 1).tolist()}
        det_boxes = {tuple(r) for r in np.stack([rows[k] for k in "xywh"], 1).tolist()}
        assert len(det_boxes - gt_boxes) > 0.8 * len(det_boxes)


def test_same_seed_same_bytes_other_seed_other_data(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_synthetic_mot(again, TINY, progress=False)
    first, second = _files(dataset), _files(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []

    other = tmp_path / "other"
    generate_synthetic_mot(other, replace(TINY, seed=4, reid=None), progress=False)
    third = _files(other)
    for name in ("train/SYN-01/gt/gt.txt", "train/SYN-01/img1/000001.jpg"):
        assert third[name] != first[name]


def test_reid_split_is_market_like_and_disjoint_from_tracking(dataset: Path) -> None:
    reid = dataset / "reid"
    pids: dict[str, set[int]] = {}
    cams: dict[str, dict[int, set[int]]] = {}
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        names = sorted(p.name for p in (reid / folder).iterdir())
        assert names, folder
        pids[folder], cams[folder] = set(), {}
        for name in names:
            match = MARKET_NAME.match(name)
            assert match, name
            pid, cam = int(match.group(1)), int(match.group(2))
            pids[folder].add(pid)
            cams[folder].setdefault(pid, set()).add(cam)
        image = cv2.imread(str(reid / folder / names[0]))
        assert image.shape == (128, 64, 3)
    assert len(pids["bounding_box_train"]) == 4 and len(pids["query"]) == 3
    assert not pids["bounding_box_train"] & pids["bounding_box_test"]
    assert pids["query"] == pids["bounding_box_test"]
    train_images = len(list((reid / "bounding_box_train").iterdir()))
    assert train_images == 4 * 5
    # Every query can be matched in the gallery from another camera (Market's protocol).
    for pid, query_cams in cams["query"].items():
        assert (
            cams["bounding_box_test"][pid] - query_cams or len(cams["bounding_box_test"][pid]) > 1
        )

    # Re-ID people are other people than those in the tracking sequences: their clothes
    # differ from every tracked person's (checked on the recorded appearances).
    manifest = json.loads((dataset / MANIFEST_NAME).read_text())

    def vector(d: dict) -> np.ndarray:
        fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        return Appearance(**fields).as_vector()

    tracked = [
        vector(p["appearance"])
        for s in manifest["sequences"].values()
        for p in s["people"].values()
    ]
    reid_people = [vector(a) for a in manifest["reid"]["identities"].values()]
    distances = np.linalg.norm(np.asarray(tracked)[:, None] - np.asarray(reid_people)[None], axis=2)
    assert distances.min() > 1.0


def test_cocovid_follows_the_mot_files(dataset: Path) -> None:
    for split, seq in (("train", "SYN-01"), ("val", "SYN-02")):
        data = json.loads((dataset / "annotations" / f"{split}_cocoformat.json").read_text())
        assert data["categories"] == [{"id": 1, "name": "pedestrian"}]
        assert [v["name"] for v in data["videos"]] == [seq]
        images = data["images"]
        assert [im["frame_id"] for im in images] == list(range(TINY.frames))
        assert [im["mot_frame_id"] for im in images] == list(range(1, TINY.frames + 1))
        for im in images:
            assert (dataset / im["file_name"]).is_file()
            assert im["file_name"].startswith(f"{split}/{seq}/img1/")
        gt = read_mot_file(dataset / split / seq / "gt" / "gt.txt", "gt").rows
        anns = data["annotations"]
        assert len(anns) == len(gt)
        assert len({a["id"] for a in anns}) == len(anns)
        frame_of = {im["id"]: im["mot_frame_id"] for im in images}
        # instance_id: 0.. in order of appearance, one per MOT id (mot2coco's numbering).
        mapping = {}
        for a in anns:
            mapping.setdefault(a["mot_instance_id"], a["instance_id"])
            assert mapping[a["mot_instance_id"]] == a["instance_id"]
            assert a["iscrowd"] == 0 and a["category_id"] == 1 and a["mot_conf"] == 1.0
            assert a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3])
        assert (
            sorted(mapping.values())
            == list(range(len(mapping)))
            == list(range(data["num_instances"]))
        )
        by_key = {(int(r["frame"]), int(r["id"])): r for r in gt}
        for a in anns:
            row = by_key[(frame_of[a["image_id"]], a["mot_instance_id"])]
            assert a["bbox"] == [row["x"], row["y"], row["w"], row["h"]]
            assert a["visibility"] == pytest.approx(row["visibility"])


def test_rerun_skips_and_foreign_files_are_safe(dataset: Path, tmp_path: Path) -> None:
    stamp = (dataset / "train" / "SYN-01" / "gt" / "gt.txt").stat().st_mtime_ns
    generate_synthetic_mot(dataset, TINY, progress=False)  # same settings: nothing to do
    assert (dataset / "train" / "SYN-01" / "gt" / "gt.txt").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_synthetic_mot(dataset, replace(TINY, frames=5), progress=False)

    out = tmp_path / "mixed"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    small = replace(TINY, frames=3, reid=None, num_val=0)
    generate_synthetic_mot(out, small, progress=False)
    generate_synthetic_mot(out, replace(small, seed=9), overwrite=True, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / MANIFEST_NAME).read_text())["config"]["seed"] == 9


def test_cli_writes_a_dataset_and_rejects_bad_sizes(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_synthetic_mot", REPO / "tools" / "dataset_converters" / "make_synthetic_mot.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "cli"
    args = [str(out), "--frames", "3", "--num-train", "1", "--num-val", "0", "--size", "128x80"]
    assert tool.main([*args, "--no-reid", "--quiet"]) == 0
    assert read_seqinfo(out / "train" / "SYN-01" / "seqinfo.ini").im_width == 128
    assert "train SYN-01: 3 frames" in capsys.readouterr().out
    assert tool.main([str(tmp_path / "bad"), "--size", "32x20", "--quiet"]) == 2
    assert "size must be at least" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / "bad"), "--size", "wide"])


@pytest.mark.parametrize("size", [(64, 48), (320, 96), (96, 160)])
def test_many_seeds_and_shapes_give_valid_files(size: tuple[int, int], tmp_path: Path) -> None:
    width, height = size
    for seed in range(6):
        out = tmp_path / f"s{seed}"
        cfg = SyntheticMOTConfig(
            seed=seed,
            num_train=1,
            num_val=0,
            frames=4,
            width=width,
            height=height,
            people=(2.0, 20.0),
            reid=ReIDConfig(
                train_ids=1, test_ids=1, images_per_id=4, cameras=2, width=width, height=height
            ),
        )
        generate_synthetic_mot(out, cfg, progress=False)
        seq = out / "train" / "SYN-01"
        gt = read_mot_file(seq / "gt" / "gt.txt", "gt", image_size=size).rows
        det = read_mot_file(seq / "det" / "det.txt", "det", image_size=size).rows
        for rows in (gt, det):
            assert (rows["x"] >= 0).all() and (rows["y"] >= 0).all()
            assert (rows["x"] + rows["w"] <= width + 1e-6).all()
            assert (rows["y"] + rows["h"] <= height + 1e-6).all()
        assert len(list((out / "reid" / "query").iterdir())) >= 2
