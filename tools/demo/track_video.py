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
MOTChallenge result file (``--txt``, default: beside the output, same stem, ``.txt``; track ids
from 1, as in MOTChallenge files, and the same ids on the rendered frames). Give only ``--txt``
to write the result file without rendering a video. With ``--public-dets`` every box in the
result file is one of the given detections (MOTChallenge's public-detection protocol); see
``mmdistillmot.apis.video_tracking`` for how the model's embeddings are attached to them. A
two-stage config (``TwoStageTracker``) embeds the given boxes with its Re-ID network and never
runs its detector: no detector checkpoint is needed (the tool prints a line saying so), only the
Re-ID weights (``model.reid.weights``, with ``model.reid.arch`` and ``model.reid.crop_size``
when they differ from the config's).

Frame rate: a video file's own rate, or a sequence folder's ``seqinfo.ini`` ``frameRate``, goes
to both the output video and the tracker (``JDETracker`` keeps a lost track
``int(fps / 30 * track_buffer)`` frames, as FairMOT); ``--fps`` overrides it. The rate and the
tracker's effective thresholds are printed once at start; a progress bar (frames/s) runs on
stderr (line by line when stderr is not a terminal), and one line at the end gives the frames,
the time, the number of tracks and where the files are.

``--onnx OUT.onnx`` (from ``tools/deployment/export_onnx.py``; a TDT or a FairMOT student)
runs that graph with onnxruntime on each frame instead of the PyTorch network (no checkpoint);
the config still gives the test pipeline, the preprocessor, the head's test_cfg (TDT: NMS in
numpy; FairMOT: the score threshold and the letterbox rescaling in numpy, peak NMS and top-k
in the graph) and the same tracker, so the result file is written the same way. A distillation
config (FeatureDistiller) gives its student's settings; its teacher is not built. Without
onnxruntime it ends with one line naming ``requirements/deploy.txt``.

Errors (a missing input or weight file, a weight file that does not fit, a malformed file) end
the tool with one line ``error: ...`` and exit status 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from mmengine.config import DictAction

import mmdistillmot  # noqa: F401  (registers components)
from mmdistillmot.apis import (
    FrameSource,
    VideoTracker,
    load_public_detections,
    public_detector_note,
    tracks_to_mot_rows,
)
from mmdistillmot.datasets.mot_files import make_mot_rows, write_mot_results
from mmdistillmot.deployment.onnx_runner import OnnxVideoTracker
from mmdistillmot.utils import add_debug_flag, cli_errors
from mmdistillmot.utils.progress import progress_bar
from mmdistillmot.visualization import VideoSink, draw_mot_rows

#: Frame rate of the rendered video when neither the input nor ``--fps`` gives one.
DEFAULT_VIDEO_FPS = 30.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="tracking config")
    parser.add_argument(
        "checkpoint", nargs="?", help="checkpoint (omit if the config loads its own)"
    )
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument(
        "--out",
        help="output video (.mp4/.avi) or folder of annotated JPEGs; optional when --txt is "
        "given (then nothing is rendered)",
    )
    parser.add_argument(
        "--txt",
        help="MOTChallenge result file to write, track ids from 1 (default: beside --out, same "
        "stem, .txt)",
    )
    parser.add_argument("--public-dets", help="MOTChallenge det.txt to track instead")
    parser.add_argument(
        "--min-det-score",
        type=float,
        default=-np.inf,
        help="with --public-dets only: detections of the file scoring below this are dropped "
        "when the file is read, before the tracker sees them (default: keep all). After it the "
        "tracker's own thresholds gate every detection, public or the model's: obj_score_thr "
        "(a detection must score above it to be associated) and init_track_thr (at least this "
        "to start a track); the effective values are printed at start",
    )
    parser.add_argument(
        "--onnx",
        help="run this ONNX export of the model (tools/deployment/export_onnx.py; TDT or "
        "FairMOT) with onnxruntime instead of the PyTorch network; the config (a distillation "
        "config: its student's) still gives the test pipeline, the preprocessor, the head's "
        "test_cfg (the post-processing in numpy) and the tracker; no checkpoint",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--fps",
        type=float,
        help="frame rate of the input, for the output video and the tracker's lost-track "
        "buffer (default: the video file's own rate, or the sequence's seqinfo.ini frameRate; "
        f"when neither is known, {DEFAULT_VIDEO_FPS:g} for the video and the config's "
        "frame_rate for the tracker)",
    )
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.out is None and args.txt is None:
        parser.error("give --out (a video or a folder to render), --txt (the result file), or both")
    if args.onnx is not None and args.checkpoint is not None:
        parser.error("--onnx replaces the network: give no checkpoint")
    if args.onnx is not None and args.public_dets is not None:
        parser.error("--onnx does not support --public-dets")
    if args.fps is not None and not args.fps > 0:
        parser.error(f"--fps must be positive, got {args.fps}")
    return args


def check_outputs(out: str | None, txt: str, frames_path: str, public_dets: str | None) -> None:
    """Refuse outputs that would write over the input frames or detections.

    Args:
        out: The video file or JPEG folder to write (None: nothing is rendered).
        txt: The result file to write.
        frames_path: The input video file or frame folder.
        public_dets: The detection file, if any.

    Raises:
        ValueError: An output is (or lies in) an input.
    """
    source = Path(frames_path).resolve()
    if out is not None:
        out_path = Path(out).resolve()
        if out_path == source or (source.is_dir() and source in out_path.parents):
            raise ValueError(f"--out '{out}' would write into the input '{frames_path}'")
    for given in (frames_path, public_dets):
        if given and Path(txt).resolve() == Path(given).resolve():
            raise ValueError(f"--txt '{txt}' would write over the input '{given}'")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors(args.debug):
        return track(args)


def track(args: argparse.Namespace) -> int:
    """Track the input of ``args`` (see :func:`parse_args`) and write the outputs.

    Args:
        args: The parsed command line.

    Returns:
        0.
    """
    frames = FrameSource(args.input)
    public = (
        load_public_detections(args.public_dets, args.min_det_score) if args.public_dets else None
    )
    txt = args.txt or os.path.splitext(args.out.rstrip("/"))[0] + ".txt"
    check_outputs(args.out, txt, frames.path, args.public_dets)
    tracker: VideoTracker | OnnxVideoTracker
    if args.onnx is not None:
        tracker = OnnxVideoTracker(args.config, args.onnx, args.cfg_options)
        print(f"network: {args.onnx} (onnxruntime, CPU): {tracker.detector.info.describe()}")
    else:
        tracker = VideoTracker(args.config, args.checkpoint, args.device, args.cfg_options)
    fps = args.fps or frames.fps  # None: the tracker keeps its config's frame_rate
    source = "--fps" if args.fps else frames.fps_source
    if fps is None:
        print(
            f"frame rate: unknown ({args.input} gives none; --fps sets it): "
            f"{DEFAULT_VIDEO_FPS:g} fps for the video, the config's frame_rate for the tracker"
        )
    else:
        print(f"frame rate: {fps:g} fps ({source}), for the video and the tracker")
    print(f"thresholds: {tracker.describe_thresholds(fps, public_dets=public is not None)}")
    note = public_detector_note(tracker.model) if public is not None else None
    if note is not None:
        print(note)
    rows = []
    video_len = len(frames)
    sink = VideoSink(args.out, fps=fps or DEFAULT_VIDEO_FPS) if args.out is not None else None
    start = time.perf_counter()
    try:
        bar = progress_bar(frames, total=video_len, desc="tracking", unit="frame")
        for frame_id, image in enumerate(bar):
            if public is None:
                tracks = tracker.track(image, frame_id, video_len, fps=fps)
            else:
                dets = public.get(frame_id + 1, np.zeros((0, 5)))
                assert isinstance(tracker, VideoTracker)  # --onnx refuses --public-dets
                tracks = tracker.track_public(image, frame_id, video_len, dets, fps=fps)
            frame_rows = tracks_to_mot_rows(frame_id, tracks)  # ids from 1, as written
            rows.append(frame_rows)
            if sink is not None:
                xywh = np.stack([frame_rows[k] for k in ("x", "y", "w", "h")], axis=1)
                sink.write(draw_mot_rows(image, xywh, frame_rows["id"]))
    finally:
        if sink is not None:
            sink.close()
    seconds = time.perf_counter() - start
    empty = make_mot_rows([], [], np.zeros((0, 4)))  # a video without frames
    table = np.concatenate(rows) if rows else empty
    write_mot_results(txt, table)
    written = f"{args.out} and {txt}" if args.out is not None else txt
    print(
        f"tracked {len(rows)} frames in {seconds:.1f} s ({len(rows) / max(seconds, 1e-9):.2f} "
        f"frames/s): {len(np.unique(table['id']))} tracks, {len(table)} boxes -> {written}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
