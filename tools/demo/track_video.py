"""Track your own footage: a video file or a folder of frames -> rendered video + MOT txt.

INPUT is a video file, a folder of frames (sorted by name) or a MOTChallenge sequence folder
(its ``img1``). The frames go through the config's own test pipeline, so give the sizes the model
was trained with in ``--cfg-options`` when they differ from the config's (as ``make demo`` does).

Examples:
    python tools/demo/track_video.py configs/tdt/tdt_r18_fpn_embed_synthetic.py \
        work_dirs/demo/student/epoch_5.pth data/synthetic_mot/val/SYN-05/img1 --out out/syn05.mp4
    # MOTChallenge public-detection protocol: associate the given boxes, embeddings from the model
    python tools/demo/track_video.py CONFIG CKPT MOT17-04/img1 --out out/ \
        --public-dets MOT17-04/det/det.txt

Writes ``--out`` (``.mp4``/``.avi``: a video; otherwise a folder of annotated JPEGs) and a
MOTChallenge result file (``--txt``, default: beside the output, same stem, ``.txt``). With
``--public-dets`` every box in the result file is one of the given detections (MOTChallenge's
public-detection protocol); see ``mmdistillmot.apis.video_tracking`` for how the model's
embeddings are attached to them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from mmengine.config import DictAction
from tqdm import tqdm

import mmdistillmot  # noqa: F401  (registers components)
from mmdistillmot.apis import FrameSource, VideoTracker, load_public_detections
from mmdistillmot.datasets.mot_files import make_mot_rows, write_mot_results
from mmdistillmot.visualization import VideoSink, draw_mot_rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="tracking config")
    parser.add_argument(
        "checkpoint", nargs="?", help="checkpoint (omit if the config loads its own)"
    )
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument("--out", required=True, help="output video (.mp4/.avi) or folder")
    parser.add_argument("--txt", help="MOTChallenge result file to write")
    parser.add_argument("--public-dets", help="MOTChallenge det.txt to track instead")
    parser.add_argument("--min-det-score", type=float, default=-np.inf, help="public dets filter")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fps", type=float, help="output video frame rate (default: input's)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_args(argv)


def check_outputs(out: str, txt: str, frames_path: str, public_dets: str | None) -> None:
    """Refuse outputs that would write over the input frames or detections.

    Args:
        out: The video file or JPEG folder to write.
        txt: The result file to write.
        frames_path: The input video file or frame folder.
        public_dets: The detection file, if any.

    Raises:
        ValueError: An output is (or lies in) an input.
    """
    source = Path(frames_path).resolve()
    out_path = Path(out).resolve()
    if out_path == source or (source.is_dir() and source in out_path.parents):
        raise ValueError(f"--out '{out}' would write into the input '{frames_path}'")
    for given in (frames_path, public_dets):
        if given and Path(txt).resolve() == Path(given).resolve():
            raise ValueError(f"--txt '{txt}' would write over the input '{given}'")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        frames = FrameSource(args.input)
        public = (
            load_public_detections(args.public_dets, args.min_det_score)
            if args.public_dets
            else None
        )
    except (OSError, ValueError) as err:
        sys.exit(f"error: {err}")
    txt = args.txt or os.path.splitext(args.out.rstrip("/"))[0] + ".txt"
    try:
        check_outputs(args.out, txt, frames.path, args.public_dets)
    except ValueError as err:
        sys.exit(f"error: {err}")
    tracker = VideoTracker(args.config, args.checkpoint, args.device, args.cfg_options)
    rows = []
    video_len = len(frames)
    with VideoSink(args.out, fps=args.fps or frames.fps) as sink:
        for frame_id, image in enumerate(tqdm(frames, total=video_len, desc="tracking")):
            if public is None:
                tracks = tracker.track(image, frame_id, video_len)
            else:
                dets = public.get(frame_id + 1, np.zeros((0, 5)))
                tracks = tracker.track_public(image, frame_id, video_len, dets)
            boxes = tracks.bboxes.cpu().numpy().reshape(-1, 4)
            ids = tracks.instances_id.cpu().numpy()
            scores = tracks.scores.cpu().numpy()
            xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            rows.append(make_mot_rows([frame_id + 1] * len(ids), ids, xywh, scores))
            sink.write(draw_mot_rows(image, xywh, ids))
    empty = make_mot_rows([], [], np.zeros((0, 4)))  # a video without frames
    write_mot_results(txt, np.concatenate(rows) if rows else empty)
    print(f"tracked {video_len} frames -> {args.out} and {txt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
