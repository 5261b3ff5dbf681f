"""adapt_to_footage.py end to end on a few synthetic frames whose labels are removed.

The tool sees a folder holding only the frames (no gt, no seqinfo) and runs its four steps with
the real COCO YOLOX-Nano (converted from ../shared/assets) for the pseudo boxes, the real OSNet
x0.25 MSMT17 teacher for the pseudo embeddings, one epoch of a tiny RetinaNet TDT student, and
its tracking. Checked against what the tool never saw: the hidden ground truth of the frames
(the pseudo boxes find the rendered people), and the teacher store has one row per pseudo box.
A second run finds every step done and only says so.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmdistillmot.datasets.mot_files import read_mot_file

REPO = Path(__file__).resolve().parents[2]
STUDENT = REPO / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py"
TEACHER = REPO / "configs" / "tdt" / "teachers" / "osnet_x0_25_msmt17.py"
YOLOX = REPO / "configs" / "yolox" / "yolox_nano_416_coco-onnx.py"


def _load(path: Path):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(f"_adapt_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recall(gt: np.ndarray, found: np.ndarray, iou_thr: float = 0.5) -> float:
    """Fraction of ground-truth boxes with a found box of IoU >= iou_thr in the same frame."""
    hits = 0
    for row in gt:
        same = found[found["frame"] == row["frame"]]
        x1, y1 = np.maximum(same["x"], row["x"]), np.maximum(same["y"], row["y"])
        x2 = np.minimum(same["x"] + same["w"], row["x"] + row["w"])
        y2 = np.minimum(same["y"] + same["h"], row["y"] + row["h"])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = same["w"] * same["h"] + row["w"] * row["h"] - inter
        hits += bool((inter / union >= iou_thr).any())
    return hits / len(gt)


@pytest.mark.slow
@pytest.mark.assets
def test_adaptation_runs_end_to_end_on_unlabelled_frames(
    tmp_path: Path, tiny_synthetic_mot: Path, assets_root: Path, capfd: pytest.CaptureFixture
) -> None:
    (sequence,) = sorted((tiny_synthetic_mot / "val").iterdir())
    frames = tmp_path / "footage" / "cam"
    shutil.copytree(sequence / "img1", frames)  # the frames alone: labels removed
    detector = tmp_path / "yolox_nano.pth"
    convert = _load(REPO / "tools" / "model_converters" / "yolox_nano_onnx_to_mmdet.py")
    assert convert.main([str(assets_root / "weights" / "yolox_nano.onnx"), str(detector)]) == 0

    adapt = _load(REPO / "tools" / "distill" / "adapt_to_footage.py")
    work = tmp_path / "adapt"
    osnet = assets_root / "weights" / "osnet_x0_25_msmt17.pth"
    argv = [
        str(frames), "--detector", str(YOLOX), str(detector),
        "--teacher", str(TEACHER),
        "--teacher-options", f"teacher.weights={osnet}",
        "--student", str(STUDENT), "--epochs", "1",
        "--work-dir", str(work), "--no-video",
        "--student-options", "model.detector.backbone.init_cfg=None",
        "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
    ]  # fmt: skip
    capfd.readouterr()
    assert adapt.main(argv) == 0
    first = capfd.readouterr().out

    # 1: the detector's people, against the labels the tool never saw
    pseudo = read_mot_file(work / "pseudo" / "footage" / "cam" / "gt" / "gt.txt", "gt").rows
    hidden = read_mot_file(sequence / "gt" / "gt.txt", "gt").rows
    assert len(pseudo) > 0.5 * len(hidden)
    assert _recall(hidden, pseudo) > 0.5
    # 2: one teacher embedding per pseudo box, from the real weights (not random init)
    fingerprint = json.loads((work / "teacher_store" / "fingerprint.json").read_text())
    assert fingerprint["store"]["num_rows"] == len(pseudo)
    assert fingerprint["teacher"]["random_init"] is False
    # 3: the student trained on them: its log has a finite, positive embedding loss
    log = (work / "logs" / "3_student.log").read_text()
    loss_embed = float(log.rsplit("loss_embed: ", 1)[1].split()[0])
    assert 0 < loss_embed < float("inf")
    assert (work / "student" / "epoch_1.pth").is_file()
    # 4: a MOTChallenge result file for the footage (its rows parse; one epoch may find none)
    read_mot_file(work / "tracks" / "cam.txt", "result")
    assert "tracked 6 frames" in first

    # a second run: every step is found done
    assert adapt.main(argv) == 0
    again = capfd.readouterr().out
    assert again.count("done already") == 4, again
