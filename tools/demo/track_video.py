"""Track your own footage: a video file or a folder of frames -> rendered video + MOT txt.

Examples:
    python tools/demo/track_video.py configs/tdt/tdt_r18_fpn_embed_synthetic.py \
        work_dirs/demo/student/epoch_4.pth data/synthetic_mot/val/SYN-05/img1 --out out/syn05.mp4
    # MOTChallenge public-detection protocol: associate the given boxes, embeddings from the model
    python tools/demo/track_video.py CONFIG CKPT MOT17-04/img1 --out out/ \
        --public-dets MOT17-04/det/det.txt

Writes ``--out`` (``.mp4``/``.avi``: a video; otherwise a folder of annotated JPEGs) and a
MOTChallenge result file (``--txt``, default: beside the output, same stem, ``.txt``).
"""

from __future__ import annotations

import argparse
import os
import sys

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
    tracker = VideoTracker(args.config, args.checkpoint, args.device, args.cfg_options)
    txt = args.txt or os.path.splitext(args.out.rstrip("/"))[0] + ".txt"
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
    write_mot_results(txt, np.concatenate(rows) if rows else make_mot_rows(1, [], [], []))
    print(f"tracked {video_len} frames -> {args.out} and {txt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
