"""Summarise the demo's trackers: one table, a plot and an annotated video.

Each ``--tracker NAME=RESULTS_DIR`` is a folder of MOTChallenge result files (one ``SEQ.txt``
per validation sequence, as ``tools/test.py`` writes with ``test_evaluator.outfile_prefix``);
it is scored against ``--gt-root`` with TrackEval's HOTA, CLEAR and Identity
(``mmdistillmot.evaluation``). Frames per second come from ``--fps-json`` (written by
``tools/analysis/benchmark_fps.py --json``) when given.

Writes to ``--out``: ``table.md`` (also printed), ``results.json``, ``metrics.png`` and
``<first tracker>_<SEQ>.mp4`` (the first tracker's tracks drawn on one validation sequence).

Example:
    python tools/demo/summarize_demo.py --gt-root data/synthetic_mot/val --out work_dirs/demo \
        --tracker one-stage=work_dirs/demo/track/one-stage/mot/default-tracker \
        --tracker iou-only=work_dirs/demo/track/iou-only/mot/default-tracker
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402

from mmdistillmot.datasets.mot_files import read_mot_file, read_seqinfo  # noqa: E402
from mmdistillmot.evaluation import evaluate_mot_results  # noqa: E402
from mmdistillmot.evaluation.mot_eval import find_gt_sequences  # noqa: E402
from mmdistillmot.visualization import VideoSink, draw_mot_rows  # noqa: E402

COLUMNS = ("HOTA", "MOTA", "IDF1", "IDs", "FPS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt-root", required=True, help="MOTChallenge-layout validation root")
    parser.add_argument(
        "--tracker", action="append", required=True, metavar="NAME=RESULTS_DIR",
        help="a tracker's result folder (repeat; the first one is drawn in the video)",
    )  # fmt: skip
    parser.add_argument("--fps-json", help="benchmark_fps.py --json output (name -> fps)")
    parser.add_argument("--out", required=True, help="folder for table, plot and video")
    parser.add_argument("--video-seq", help="sequence to draw (default: the first one)")
    parser.add_argument("--no-video", action="store_true")
    return parser.parse_args(argv)


def score_trackers(gt_root: str, trackers: dict[str, str]) -> dict[str, dict[str, float]]:
    """Combined HOTA/MOTA/IDF1/IDs (+ the rest) of each tracker's result folder.

    Only the ground-truth sequences are scored: mmdet's MOTChallengeMetric leaves TrackEval's
    ``pedestrian_summary.txt`` beside the result files.
    """
    seqs = sorted(find_gt_sequences(gt_root))
    return {
        name: dict(evaluate_mot_results(gt_root, results, seqs=seqs).combined)
        for name, results in trackers.items()
    }


def format_table(scores: dict[str, dict[str, float]]) -> str:
    """A markdown table, metrics in percent, FPS with one decimal ('-' when not measured)."""
    lines = ["| tracker | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in scores.items():
        cells = [
            f"{100 * row['HOTA']:.1f}",
            f"{100 * row['MOTA']:.1f}",
            f"{100 * row['IDF1']:.1f}",
            f"{int(row['IDs'])}",
            f"{row['FPS']:.1f}" if "FPS" in row else "-",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_scores(scores: dict[str, dict[str, float]], path: str) -> None:
    """Grouped bars of HOTA, MOTA and IDF1 per tracker, and FPS on a second panel."""
    names = list(scores)
    has_fps = all("FPS" in row for row in scores.values())
    fig, axes = plt.subplots(1, 2 if has_fps else 1, figsize=(10 if has_fps else 6, 3.6))
    ax = axes[0] if has_fps else axes
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [100 * scores[name][m] for m in ("HOTA", "MOTA", "IDF1")]
        positions = [j + i * width for j in range(3)]
        bars = ax.bar(positions, values, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(3)], ["HOTA", "MOTA", "IDF1"])
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title("Tracking on the synthetic validation set")
    ax.legend(fontsize=8)
    if has_fps:
        bars = axes[1].bar(names, [scores[n]["FPS"] for n in names], color="gray")
        axes[1].bar_label(bars, fmt="%.1f", fontsize=8)
        axes[1].set_ylabel("frames / s")
        axes[1].set_title("Speed (this machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_video(gt_root: str, seq: str, results_dir: str, path: str) -> int:
    """Draw one tracker's results on a sequence's frames; return the number of frames."""
    info = read_seqinfo(os.path.join(gt_root, seq, "seqinfo.ini"))
    rows = read_mot_file(os.path.join(results_dir, f"{seq}.txt"), kind="result").rows
    with VideoSink(path, fps=float(info.frame_rate)) as sink:
        for frame in range(1, info.seq_length + 1):
            image_path = os.path.join(gt_root, seq, info.im_dir, f"{frame:06d}{info.im_ext}")
            image = cv2.imread(image_path)
            if image is None:
                raise FileNotFoundError(f"cannot read frame '{image_path}'")
            here = rows[rows["frame"] == frame]
            boxes = np.stack([here[k] for k in ("x", "y", "w", "h")], axis=1)
            sink.write(draw_mot_rows(image, boxes, here["id"]))
        return sink.count


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trackers: dict[str, str] = {}
    for spec in args.tracker:
        name, sep, results = spec.partition("=")
        if not sep or not name or not results:
            sys.exit(f"error: --tracker must be NAME=RESULTS_DIR, got '{spec}'")
        trackers[name] = results
    scores = score_trackers(args.gt_root, trackers)
    if args.fps_json:
        with open(args.fps_json) as f:
            fps = json.load(f)
        for name in scores:
            if name in fps:
                scores[name]["FPS"] = float(fps[name])
    os.makedirs(args.out, exist_ok=True)
    table = format_table(scores)
    print(table)
    Path(args.out, "table.md").write_text(table + "\n")
    Path(args.out, "results.json").write_text(json.dumps(scores, indent=2) + "\n")
    plot_scores(scores, os.path.join(args.out, "metrics.png"))
    if not args.no_video:
        first = next(iter(trackers))
        seqs = sorted(p.name for p in Path(args.gt_root).iterdir() if p.is_dir())
        seq = args.video_seq or seqs[0]
        video = os.path.join(args.out, f"{first}_{seq}.mp4")
        count = draw_video(args.gt_root, seq, trackers[first], video)
        print(f"wrote {video} ({count} frames)")
    print(f"wrote {args.out}/table.md, results.json, metrics.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
