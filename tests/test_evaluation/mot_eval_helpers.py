"""Helpers that build tiny MOTChallenge sequences for the evaluation tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import motmetrics
import numpy as np

from mmdistillmot.datasets.mot_files import (
    SeqInfo,
    make_mot_rows,
    write_mot_gt,
    write_mot_results,
    write_seqinfo,
)

#: Ground truth and the CEM tracker's output for two MOT15 training sequences, as shipped in the
#: motmetrics 1.4.0 wheel (SEQ/gt.txt + SEQ/test.txt, MOT15 layout, no seqinfo.ini).
TUD_DATA = Path(os.path.dirname(motmetrics.__file__)) / "data"
TUD_SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")


def copy_tud(dst: Path, layout: str = "flat") -> tuple[Path, Path]:
    """Copies the TUD data into ``dst``; returns (gt_root, results_dir).

    Ground truth goes to ``dst/gt`` (``flat``: SEQ/gt.txt, ``mot``: SEQ/gt/gt.txt), the tracker
    output to ``dst/results/SEQ.txt``.
    """
    gt_root, results = dst / "gt", dst / "results"
    results.mkdir(parents=True)
    for seq in TUD_SEQUENCES:
        gt_file = gt_root / seq / ("gt.txt" if layout == "flat" else "gt/gt.txt")
        gt_file.parent.mkdir(parents=True)
        shutil.copy(TUD_DATA / seq / "gt.txt", gt_file)
        shutil.copy(TUD_DATA / seq / "test.txt", results / f"{seq}.txt")
    return gt_root, results


def write_sequence(
    root: Path,
    name: str,
    rows: np.ndarray,
    num_frames: int,
    style: str = "mot16",
) -> Path:
    """Writes ``root/name/gt/gt.txt`` and ``seqinfo.ini``; returns the sequence folder."""
    seq = root / name
    write_mot_gt(seq / "gt" / "gt.txt", rows, style=style)  # type: ignore[arg-type]
    write_seqinfo(seq / "seqinfo.ini", SeqInfo(name, "img1", 30, num_frames, 640, 480, ".jpg"))
    return seq


def two_walkers(num_frames: int = 10) -> np.ndarray:
    """Two pedestrians, ids 1 and 2, walking apart (never overlapping), in every frame.

    Returns:
        MOT16-style rows, shape (2 * num_frames,), active, class 1, visibility 1.
    """
    frames = np.repeat(np.arange(1, num_frames + 1), 2)
    ids = np.tile([1, 2], num_frames)
    boxes = [
        [10 + 3 * f, 50, 40, 100] if i == 1 else [300 + 2 * f, 60, 40, 100]
        for f, i in zip(frames, ids)
    ]
    return make_mot_rows(frames, ids, boxes, conf=1.0, class_id=1, visibility=1.0)


def as_results(rows: np.ndarray, path: Path) -> None:
    """Writes ground-truth rows as a tracker's output (score 1)."""
    results = rows.copy()
    results["conf"] = 1.0
    write_mot_results(path, results)
