"""Render the embedded synthetic MOT dataset (MOTChallenge layout, Re-ID split, CocoVID json).

Example::

    python tools/dataset_converters/make_synthetic_mot.py data/synthetic_mot --seed 0

writes ``train/`` and ``val/`` sequences (``img1/``, ``gt/gt.txt``, ``det/det.txt``,
``seqinfo.ini``), ``reid/`` (Market-1501 folders) and ``annotations/{train,val}_cocoformat.json``.
The same arguments always give the same bytes; re-running on a finished dataset with the same
arguments returns at once.
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
import time

from mmdistillmot.datasets.synthetic import (
    ReIDConfig,
    SyntheticMOTConfig,
    generate_synthetic_mot,
)
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status


def _size(text: str) -> tuple[int, int]:
    """Parses ``WxH`` such as ``480x272``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 480x272, got {text!r}") from None
    return width, height


def _range(text: str) -> tuple[float, float]:
    """Parses ``LOW,HIGH`` such as ``6,16``."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH such as 6,16, got {text!r}") from None
    return low, high


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; defaults are those of ``SyntheticMOTConfig`` and ``ReIDConfig``."""
    defaults, reid = SyntheticMOTConfig(), ReIDConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="dataset root to write")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--num-train", type=int, default=defaults.num_train)
    parser.add_argument("--num-val", type=int, default=defaults.num_val)
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per sequence")
    parser.add_argument(
        "--size", type=_size, default=(defaults.width, defaults.height), help="WxH of the frames"
    )
    parser.add_argument("--fps", type=int, default=defaults.fps)
    parser.add_argument(
        "--people",
        type=_range,
        default=defaults.people,
        help="LOW,HIGH range of the mean number of people in view (one draw per sequence)",
    )
    parser.add_argument("--reid-train-ids", type=int, default=reid.train_ids)
    parser.add_argument("--reid-test-ids", type=int, default=reid.test_ids)
    parser.add_argument("--reid-images-per-id", type=int, default=reid.images_per_id)
    parser.add_argument("--no-reid", action="store_true", help="skip the Re-ID split")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier output with other settings"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        reid = None
        if not args.no_reid:
            reid = ReIDConfig(
                train_ids=args.reid_train_ids,
                test_ids=args.reid_test_ids,
                images_per_id=args.reid_images_per_id,
            )
        cfg = SyntheticMOTConfig(
            seed=args.seed,
            num_train=args.num_train,
            num_val=args.num_val,
            frames=args.frames,
            width=args.size[0],
            height=args.size[1],
            fps=args.fps,
            people=args.people,
            reid=reid,
        )
    except ValueError as err:  # a setting out of range
        return cli_error_status(err, args.debug, status=2)
    start = time.perf_counter()
    try:
        manifest = generate_synthetic_mot(
            args.out_dir, cfg, overwrite=args.overwrite, progress=not args.quiet
        )
    except CLI_ERRORS as err:  # FileExistsError, NotADirectoryError ...
        return cli_error_status(err, args.debug)
    seconds = time.perf_counter() - start
    for name, seq in manifest["sequences"].items():
        print(
            f"{seq['split']:5s} {name}: {seq['frames']} frames, {seq['tracks']} tracks, "
            f"{seq['boxes']} boxes ({seq['mean_people_per_frame']} per frame, "
            f"max {seq['max_people_per_frame']}), {seq['occluded_boxes']} under 75 % visible, "
            f"{seq['lookalikes']} look-alikes, {seq['detections']} detections, {seq['style']}"
        )
    if manifest["reid"]:
        counts = manifest["reid"]["images"]
        print("reid  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    print(f"done in {seconds:.1f} s -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
