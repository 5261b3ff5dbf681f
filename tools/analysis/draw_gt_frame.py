"""Draw the ground-truth boxes and ids (or any MOTChallenge txt) on one frame of a sequence.

Example::

    python tools/analysis/draw_gt_frame.py data/synthetic_mot/train/SYN-01 --frame 40 \
        --out docs/images/synthetic_frame.jpg

Boxes are coloured by identity; the label is ``id`` followed by the visibility when the file
has one (``7 45%``), or the score for detections. ``--boxes FILE`` draws another MOTChallenge
file (tracker results, ``det/det.txt``).
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import colorsys
import sys
from pathlib import Path

import cv2
import numpy as np

from mmdistillmot.datasets.mot_files import MOTFormatError, read_mot_file, read_seqinfo


def id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per identity (golden-ratio hue steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_boxes(image: np.ndarray, rows: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Draws MOTChallenge rows on a copy of ``image``.

    Args:
        image: BGR frame, shape (H, W, 3), uint8.
        rows: Rows of dtype ``MOT_ROW_DTYPE`` for this frame.
        scale: Factor the image was resized by before drawing (boxes are scaled alike).

    Returns:
        The annotated BGR image.
    """
    out = image.copy()
    thickness = max(1, round(out.shape[0] / 300))
    font = max(0.3, out.shape[0] / 900)
    for row in rows:
        x0, y0 = row["x"] * scale, row["y"] * scale
        x1, y1 = (row["x"] + row["w"]) * scale, (row["y"] + row["h"]) * scale
        tid = int(row["id"])
        color = id_color(tid) if tid >= 0 else (0, 255, 255)
        cv2.rectangle(out, (round(x0), round(y0)), (round(x1), round(y1)), color, thickness)
        label = str(tid) if tid >= 0 else f"{row['conf']:.2f}"
        if row["visibility"] >= 0:
            label += f" {100 * row['visibility']:.0f}%"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        ty = max(th + 2, round(y0) - 2)
        cv2.rectangle(out, (round(x0), ty - th - 2), (round(x0) + tw + 2, ty + 1), color, -1)
        cv2.putText(
            out, label, (round(x0) + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 1,
            cv2.LINE_AA,
        )  # fmt: skip
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("seq_dir", type=Path, help="MOTChallenge sequence folder (has seqinfo.ini)")
    parser.add_argument("--frame", type=int, default=1, help="1-based frame number")
    parser.add_argument("--boxes", type=Path, help="MOTChallenge txt to draw (default gt/gt.txt)")
    parser.add_argument("--out", type=Path, required=True, help="output image (.jpg or .png)")
    parser.add_argument("--scale", type=float, default=1.0, help="resize factor of the output")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        info = read_seqinfo(args.seq_dir / "seqinfo.ini")
        if not 1 <= args.frame <= info.seq_length:
            raise ValueError(f"--frame must be 1..{info.seq_length}, got {args.frame}")
        img_path = args.seq_dir / info.im_dir / f"{args.frame:06d}{info.im_ext}"
        image = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {img_path}")
        box_file = args.boxes or args.seq_dir / "gt" / "gt.txt"
        kind = "gt" if args.boxes is None else ("det" if "det" in box_file.name else "result")
        rows = read_mot_file(box_file, kind).rows_of_frame(args.frame)
    except (FileNotFoundError, MOTFormatError, ValueError) as err:
        print(f"draw_gt_frame.py: error: {err}", file=sys.stderr)
        return 1
    if args.scale != 1.0:
        size = (round(image.shape[1] * args.scale), round(image.shape[0] * args.scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    out = draw_boxes(image, rows, args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, args.quality] if args.out.suffix.lower() == ".jpg" else []
    if not cv2.imwrite(str(args.out), out, params):
        print(f"draw_gt_frame.py: error: cannot write {args.out}", file=sys.stderr)
        return 1
    print(f"{len(rows)} boxes of frame {args.frame} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
