"""Summarise the demo's trackers: one table, a plot and an annotated video.

Each ``--tracker NAME=RESULTS_DIR`` is a folder of MOTChallenge result files (one ``SEQ.txt``
per validation sequence, as ``tools/test.py`` writes with ``test_evaluator.outfile_prefix``);
it is scored against ``--gt-root`` with TrackEval's HOTA, CLEAR and Identity
(``mmdistillmot.evaluation``). Frames per second come from ``--fps-json`` when given: either
the ``--out`` file of ``tools/analysis/benchmark_fps.py`` run on the same trackers *in the order
of the* ``--tracker`` *options* (its models are matched to the trackers by position), or a plain
``{"tracker name": fps}`` mapping. With FPS, the table is followed by the FPS ratio of the first
tracker to each other one and by how the speed was measured (frames, size, device, threads,
``--fps-note``).

Writes to ``--out``: ``table.md`` (also printed), ``results.json``, ``metrics.png`` and
``<first tracker>_<SEQ>.mp4`` (the first tracker's tracks drawn on one validation sequence) and
``<first tracker>_<SEQ>_frames.jpg`` (three of those frames stacked, for a README).

Example:
    python tools/demo/summarize_demo.py --gt-root data/synthetic_mot/val --out work_dirs/demo \
        --tracker one-stage=work_dirs/demo/track/one-stage/mot/default-tracker \
        --tracker iou-only=work_dirs/demo/track/iou-only/mot/default-tracker
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
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
    parser.add_argument(
        "--fps-json",
        help="benchmark_fps.py --out file (models in --tracker order) or a {name: fps} mapping",
    )
    parser.add_argument(
        "--fps-note", action="append", default=[], help="a line on the speed run (repeat)"
    )
    parser.add_argument("--out", required=True, help="folder for table, plot and video")
    parser.add_argument("--video-seq", help="sequence to draw (default: the first one)")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument(
        "--snapshot-frames", type=int, nargs="+",
        help="frames of the video stacked into one picture (default: at 1/4, 1/2, 3/4)",
    )  # fmt: skip
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


def read_fps(path: str, names: list[str]) -> tuple[dict[str, float], list[str]]:
    """Frames per second per tracker, and lines saying how they were measured.

    Args:
        path: A ``benchmark_fps.py --out`` JSON (``models`` in the order of ``names``) or a
            ``{"name": fps}`` mapping.
        names: The tracker names, in ``--tracker`` order.

    Returns:
        ``name -> fps`` and the notes to print under the table.

    Raises:
        ValueError: The file has neither layout, its model count differs from the trackers',
            or an FPS is not a positive number.
    """
    with open(path) as file:
        data = json.load(file)
    notes: list[str] = []
    if isinstance(data, dict) and isinstance(data.get("models"), list):
        models = data["models"]
        if len(models) != len(names):
            raise ValueError(
                f"'{path}': {len(models)} benchmarked models, but {len(names)} trackers "
                f"({', '.join(names)}); benchmark them in the same order"
            )
        fps = {name: model.get("fps") for name, model in zip(names, models, strict=True)}
        width, height = data.get("frame_size", ("?", "?"))
        notes.append(
            f"FPS: `tools/analysis/benchmark_fps.py`, {data.get('frames', '?')} frames of "
            f"{width}x{height} from `{data.get('frames_dir', '?')}`, device "
            f"{data.get('device', '?')}, {data.get('torch_threads', '?')} torch threads; the "
            "trackers take turns on every frame (image decoding not timed)."
        )
        notes += [
            f"{name} = `{osp.basename(model['config'])}`" for name, model in zip(names, models)
        ]
    elif isinstance(data, dict) and all(isinstance(v, int | float) for v in data.values()):
        fps = {name: data[name] for name in names if name in data}
    else:
        raise ValueError(
            f"'{path}': expected benchmark_fps.py output (a 'models' list) or a name -> fps map"
        )
    for name, value in fps.items():
        if not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"'{path}': FPS of '{name}' is {value!r}, not a positive number")
    return {name: float(value) for name, value in fps.items()}, notes


def fps_ratios(scores: dict[str, dict[str, float]]) -> list[str]:
    """``FPS first / other`` for every other tracker with an FPS (empty without FPS)."""
    names = [name for name, row in scores.items() if "FPS" in row]
    if len(names) < 2 or names[0] != next(iter(scores)):
        return []
    first = names[0]
    return [
        f"FPS {first} / {name}: {scores[first]['FPS'] / scores[name]['FPS']:.2f}x"
        for name in names[1:]
    ]


def format_fps(fps: float) -> str:
    """One decimal from 10 FPS up, two below (a loaded CPU can run at a fraction of a frame)."""
    return f"{fps:.1f}" if fps >= 10 else f"{fps:.2f}"


def format_table(scores: dict[str, dict[str, float]]) -> str:
    """A markdown table, metrics in percent, FPS as :func:`format_fps` ('-' when not measured)."""
    lines = ["| tracker | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in scores.items():
        cells = [
            f"{100 * row['HOTA']:.1f}",
            f"{100 * row['MOTA']:.1f}",
            f"{100 * row['IDF1']:.1f}",
            f"{int(row['IDs'])}",
            format_fps(row["FPS"]) if "FPS" in row else "-",
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
    lowest = 0.0  # MOTA goes below zero when false positives outnumber true positives
    for i, name in enumerate(names):
        values = [100 * scores[name][m] for m in ("HOTA", "MOTA", "IDF1")]
        positions = [j + i * width for j in range(3)]
        bars = ax.bar(positions, values, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
        lowest = min(lowest, *values)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(3)], ["HOTA", "MOTA", "IDF1"])
    ax.set_ylabel("%")
    ax.set_ylim(min(0.0, 10.0 * (lowest // 10)), 100)
    ax.axhline(0.0, color="black", linewidth=0.6)
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


def draw_video(
    gt_root: str,
    seq: str,
    results_dir: str,
    path: str,
    snapshot_path: str | None = None,
    snapshot_frames: list[int] | None = None,
) -> int:
    """Draw one tracker's results on a sequence's frames; return the number of frames.

    With ``snapshot_path``, the drawn ``snapshot_frames`` (default: at 1/4, 1/2 and 3/4 of the
    sequence) are also stacked top to bottom into one JPEG, each labelled with its number.
    """
    info = read_seqinfo(os.path.join(gt_root, seq, "seqinfo.ini"))
    rows = read_mot_file(os.path.join(results_dir, f"{seq}.txt"), kind="result").rows
    wanted = snapshot_frames or [max(1, info.seq_length * k // 4) for k in (1, 2, 3)]
    snapshots: list[np.ndarray] = []
    with VideoSink(path, fps=float(info.frame_rate)) as sink:
        for frame in range(1, info.seq_length + 1):
            image_path = os.path.join(gt_root, seq, info.im_dir, f"{frame:06d}{info.im_ext}")
            image = cv2.imread(image_path)
            if image is None:
                raise FileNotFoundError(f"cannot read frame '{image_path}'")
            here = rows[rows["frame"] == frame]
            boxes = np.stack([here[k] for k in ("x", "y", "w", "h")], axis=1)
            drawn = draw_mot_rows(image, boxes, here["id"])
            sink.write(drawn)
            if snapshot_path and frame in wanted:
                label = f"{seq} frame {frame}: {len(here)} tracks"
                (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)
                cv2.rectangle(drawn, (0, 0), (tw + 12, th + 12), (0, 0, 0), -1)
                cv2.putText(
                    drawn, label, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255)
                )
                snapshots.append(drawn)
        if snapshot_path and snapshots:
            cv2.imwrite(snapshot_path, np.concatenate(snapshots, axis=0))
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
    notes: list[str] = []
    if args.fps_json:
        try:
            fps, notes = read_fps(args.fps_json, list(trackers))
        except (OSError, ValueError) as err:
            sys.exit(f"error: --fps-json: {err}")
        for name, value in fps.items():
            scores[name]["FPS"] = value
    os.makedirs(args.out, exist_ok=True)
    lines = fps_ratios(scores) + notes + list(args.fps_note)
    table = format_table(scores)
    if lines:
        table += "\n\n" + "\n".join(f"- {line}" for line in lines)
    print(table)
    Path(args.out, "table.md").write_text(table + "\n")
    Path(args.out, "results.json").write_text(json.dumps(scores, indent=2) + "\n")
    plot_scores(scores, os.path.join(args.out, "metrics.png"))
    if not args.no_video:
        first = next(iter(trackers))
        seqs = sorted(p.name for p in Path(args.gt_root).iterdir() if p.is_dir())
        seq = args.video_seq or seqs[0]
        video = os.path.join(args.out, f"{first}_{seq}.mp4")
        snapshot = os.path.join(args.out, f"{first}_{seq}_frames.jpg")
        count = draw_video(
            args.gt_root, seq, trackers[first], video, snapshot, args.snapshot_frames
        )
        print(f"wrote {video} ({count} frames) and {snapshot}")
    print(f"wrote {args.out}/table.md, results.json, metrics.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
