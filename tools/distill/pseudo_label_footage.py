r"""Pseudo boxes on unlabelled footage: a detector's people written as a CocoVID training set.

INPUT are video files or frame folders (a MOTChallenge sequence folder: its ``img1`` only, its
``gt`` is never read). Every frame goes through the detector; its people (``--class-names``,
``--score-thr``, ``--min-height``, after the detector's own NMS) become one MOTChallenge-layout
sequence per input under ``OUT/footage`` and one CocoVID file ``OUT/annotations/
footage_cocoformat.json``, the input of ``extract_teacher_embeddings.py`` and of a student's
training. See ``mmdistillmot/apis/pseudo_labels.py`` for the layout and the defaults' reasons.

Example (the COCO YOLOX-Nano converted from ONNX, configs/yolox/README.md):
    python tools/distill/pseudo_label_footage.py my_video.mp4 frames/cam2 \
        --detector configs/yolox/yolox_nano_416_coco-onnx.py \
        checkpoints/yolox/yolox_nano_coco_onnx.pth --out work_dirs/adapt/pseudo

A re-run keeps the sequences already written (same settings) and labels the rest. Errors end
the tool with one line ``error: ...`` and exit status 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys

from mmengine.config import DictAction

import mmdistillmot  # noqa: F401  (registers components)
from mmdistillmot.apis.pseudo_labels import (
    ANN_FILE,
    PseudoLabelSettings,
    detect_people,
    pseudo_label_footage,
)
from mmdistillmot.models.teachers.weights import file_sha256
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status
from mmdistillmot.utils.progress import progress_bar

DEFAULTS = PseudoLabelSettings()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files / frame folders")
    parser.add_argument(
        "--detector",
        nargs=2,
        required=True,
        metavar=("CONFIG", "CHECKPOINT"),
        help="an mmdet detector config and its weights",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--score-thr",
        type=float,
        default=DEFAULTS.score_thr,
        help=f"least score of a kept box (default {DEFAULTS.score_thr})",
    )
    parser.add_argument(
        "--min-height",
        type=float,
        default=DEFAULTS.min_height,
        help=f"least box height in pixels (default {DEFAULTS.min_height:g})",
    )
    parser.add_argument(
        "--class-names",
        nargs="+",
        default=list(DEFAULTS.class_names),
        help="detector classes that are people (default: person pedestrian)",
    )
    parser.add_argument(
        "--fps",
        type=int,
        default=DEFAULTS.default_fps,
        help="frame rate of inputs that give none (default 30)",
    )
    parser.add_argument("--device", default="cpu", help="detector device (default cpu)")
    parser.add_argument("--overwrite", action="store_true", help="re-label with new settings")
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, help="override detector config settings"
    )
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, checkpoint = args.detector
    try:
        from mmdet.apis import init_detector

        for path, what in ((config, "detector config"), (checkpoint, "detector checkpoint")):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{what} '{path}' does not exist")
        settings = PseudoLabelSettings(
            score_thr=args.score_thr,
            min_height=args.min_height,
            class_names=tuple(args.class_names),
            default_fps=args.fps,
            detector=dict(
                config=os.path.abspath(config),
                checkpoint=os.path.abspath(checkpoint),
                checkpoint_sha256=file_sha256(checkpoint),
            ),
        )
        model = init_detector(config, checkpoint, device=args.device, cfg_options=args.cfg_options)
        detect, person_labels = detect_people(model, settings.class_names)
        manifest = pseudo_label_footage(
            args.inputs,
            args.out,
            detect,
            person_labels,
            settings,
            overwrite=args.overwrite,
            progress=lambda total: progress_bar(total=total, desc="pseudo boxes", unit="frame"),
        )
    except CLI_ERRORS as err:
        return cli_error_status(err, args.debug)
    counts = manifest["annotations"]
    print(
        f"pseudo boxes: {counts['boxes']} on {counts['images']} frames of "
        f"{len(manifest['order'])} sequence(s) -> {os.path.join(args.out, ANN_FILE)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
