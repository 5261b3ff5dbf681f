r"""Build a low-quality (Real-ESRGAN-degraded) tracking dataset as VSD-MOT builds LQMOT.

The training split degrades a seeded random two-thirds of the videos (``--ratio``; 1 degrades
them all), the validation split all of them; the sources are never written. Writes degraded
frames under ``DST/lq/<split>``, links to the sources under ``DST/hq/<split>``, CocoVID
annotation files for the low:high mixes (2:1, 1:1, all-high, and all-low when every video is
degraded) under ``DST/annotations`` and a manifest (videos and frame counts of every list) under
``DST/manifests``; see :mod:`mmdistillmot.datasets.lq_builder`. Interrupted builds resume; a
finished build extends in place to a larger ``--ratio`` (the mixes stay byte-identical).

Examples::

    # LQDanceTrack / DanceTrack (--ratio 1: also the all-low-quality set of Table VI, on all
    # 40 training videos like the all-high one; without it 27 videos are degraded, enough for
    # the 2:1 and 1:1 mixes)
    python tools/dataset_converters/make_lq_dataset.py data/DanceTrack/train \
        data/lqdancetrack_dancetrack --split train --ratio 1 --workers 8
    python tools/dataset_converters/make_lq_dataset.py data/DanceTrack/val \
        data/lqdancetrack_dancetrack --split val --workers 8
    # LQMOT / MOT: the paper's split of the MOT17 and MOT20 training videos (7 + 4)
    python tools/dataset_converters/make_lq_dataset.py data/MOT17/train data/MOT20/train \
        data/lqmot_mot --split train --subset mot-paper --ratio 1 --workers 8
    python tools/dataset_converters/make_lq_dataset.py data/MOT17/train data/MOT20/train \
        data/lqmot_mot --split val --subset mot-paper --workers 8
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import logging
import sys

from mmdistillmot.datasets.lq_builder import (
    PAPER_TRAIN_RATIO,
    BuildConfig,
    build_lq_dataset,
    retain_freed_memory,
)
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="SRC ... DST",
        help="one or more MOTChallenge split folders (sequences with seqinfo.ini), then DST",
    )
    parser.add_argument("--split", choices=("train", "val"), default="train")
    parser.add_argument(
        "--ratio",
        type=float,
        default=None,
        help=f"fraction of training videos to degrade (default {PAPER_TRAIN_RATIO:.4f}, the "
        "paper's two-thirds, enough for the 2:1 and 1:1 mixes; 1 also writes the all-low "
        "set, every video degraded, for Table VI); val degrades all",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--severity", type=float, default=1.0, help="in [0, 1] (default 1)")
    parser.add_argument(
        "--consistency",
        choices=("per_frame", "per_sequence"),
        default="per_frame",
        help="per_frame (as the authors) or one parameter set per video",
    )
    parser.add_argument("--subset", choices=("mot-paper",), default=None)
    parser.add_argument("--sequences", nargs="+", default=None, help="only these sequences")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="of written JPEG frames")
    parser.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="stop after this many new frames (a trial run; run again to resume)",
    )
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("give at least one SRC and a DST")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.split == "val" and args.ratio not in (None, 1.0):
        print("error: the validation split is degraded entirely; drop --ratio", file=sys.stderr)
        return 2
    ratio = args.ratio
    if ratio is None:
        ratio = PAPER_TRAIN_RATIO if args.split == "train" else 1.0
    config = BuildConfig(
        split=args.split,
        ratio=ratio,
        seed=args.seed,
        severity=args.severity,
        consistency=args.consistency,
        jpeg_quality=args.jpeg_quality,
    )
    retain_freed_memory()  # inherited by the forked workers; ~15 % less CPU per frame
    try:
        manifest = build_lq_dataset(
            args.paths[:-1],
            args.paths[-1],
            config,
            sequences=args.sequences,
            subset=args.subset,
            workers=args.workers,
            max_frames=args.max_frames,
        )
    except CLI_ERRORS as err:  # LQBuildError, MOTFormatError, FileNotFoundError ...
        return cli_error_status(err, args.debug)
    total = len(manifest["permutation"])
    print(f"{manifest['status']}: {len(manifest['degraded'])} of {total} videos degraded")
    for entry in manifest.get("lists", {}).values():
        frames = entry["frames"]
        print(
            f"  {entry['file']}: {len(entry['lq'])} low + {len(entry['hq'])} high quality "
            f"videos, {frames['lq']} + {frames['hq']} frames"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
