r"""ONNX Runtime vs PyTorch frames per second of one student, side by side in one process.

The student (TDT or FairMOT; a distillation config gives its student) and its ONNX export run
the same pre-decoded frames, alternating within every frame, at the same thread count: four
rows, detect only and detect + track for each engine, each with the median and mean ms per
frame (pipeline, preprocessor, network, post-processing, and the tracker for detect + track;
image decoding excluded) and FPS. See ``mmdistillmot.deployment.benchmark`` for exactly what
each row times. The two trackers' outputs are compared too (same ids, largest box difference).

Without ``--onnx`` the loaded weights are exported first to a temporary file (both engines then
run the same weights), at the input shape of the first frame after the test pipeline and the
preprocessor (as ``export_onnx.py --shape-from`` would), so frames of its size give exactly the
PyTorch numbers; with ``--onnx``, give the checkpoint it was exported from. Without a checkpoint
the student keeps its random initialisation (speed only; printed): random detectors score near
their prior, so fix the work with e.g. ``--cfg-options model.tracker.obj_score_thr=0``.

Examples:
    python tools/deployment/benchmark_onnx.py configs/tdt/tdt_mnetv2-fpn_embed_synthetic.py \
        work_dirs/demo/student/epoch_8.pth --frames data/synthetic_mot/val/SYN-04 \
        --threads 2 --out fps_onnx.json
    python tools/deployment/benchmark_onnx.py configs/fairmot/fairmot_hrnetv2-w18_synthetic.py \
        --frames data/synthetic_mot/val/SYN-04 --num-frames 30 --threads 2

Errors end the tool with one line ``error: ...`` and exit status 1 (``--debug``: traceback).
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import itertools
import json
import sys

from mmengine.config import DictAction

import mmdistillmot  # noqa: F401  (registers components)
from mmdistillmot.apis import FrameSource
from mmdistillmot.deployment.benchmark import format_table, run_benchmark
from mmdistillmot.deployment.onnx_runner import import_onnxruntime
from mmdistillmot.utils import add_debug_flag, cli_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="TDT or FairMOT config (or a distillation config)")
    parser.add_argument("checkpoint", nargs="?", help="student checkpoint (default: random init)")
    parser.add_argument(
        "--frames", required=True, help="video file, folder of frames or MOTChallenge sequence"
    )
    parser.add_argument(
        "--onnx",
        help="the student's ONNX export (tools/deployment/export_onnx.py, from the same "
        "checkpoint); default: export the loaded weights to a temporary file, at the first "
        "frame's preprocessed shape",
    )
    parser.add_argument("--num-frames", type=int, help="use the first N frames (default all)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames first (default 2)")
    parser.add_argument(
        "--threads", type=int, help="CPU threads of both engines (default: torch's choice)"
    )
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    parser.add_argument("--out", help="also write the results to this JSON file")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.num_frames is not None and args.num_frames < 1:
        parser.error(f"--num-frames must be >= 1, got {args.num_frames}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors(args.debug):
        import_onnxruntime()
        source = FrameSource(args.frames)
        frames = list(itertools.islice(source, args.num_frames))
        if args.checkpoint is None:
            print("no checkpoint: random initialisation (speed only)")
        results = run_benchmark(
            args.config,
            args.checkpoint,
            frames,
            args.onnx,
            args.cfg_options,
            args.threads,
            args.warmup,
        )
        results["frames_path"] = source.path
        print(format_table(results))
        if args.out:
            with open(args.out, "w") as file:
                json.dump(results, file, indent=2)
            print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
