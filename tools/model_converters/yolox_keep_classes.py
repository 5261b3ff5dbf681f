"""Write a copy of an mmdet YOLOX checkpoint that keeps only some classes (e.g. COCO's person).

Each level's class predictor keeps the rows of the named classes (looked up in the checkpoint's
``meta['dataset_meta']['classes']``); nothing else changes, so the kept classes score exactly as
in the source model. For TDT on YOLOX-Nano (configs/tdt/tdt_yolox-nano_embed_synthetic.py), after
tools/model_converters/yolox_nano_onnx_to_mmdet.py; see
:mod:`mmdistillmot.models.model_converters.yolox_classes`.

Example:
    python tools/model_converters/yolox_keep_classes.py \
        checkpoints/yolox/yolox_nano_coco_onnx.pth checkpoints/yolox/yolox_nano_person_onnx.pth \
        --classes person
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys

import mmdistillmot  # noqa: F401  (safe checkpoint loading)
from mmdistillmot.models.model_converters.yolox_classes import keep_yolox_classes_file
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status


def main(argv: list[str] | None = None) -> int:
    """Run the tool; return the exit status (0 on success, 1 on a bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="the mmdet YOLOX checkpoint (e.g. the converted COCO one)")
    parser.add_argument("out", help="the checkpoint to write (e.g. OUT.pth)")
    parser.add_argument(
        "--classes",
        nargs="+",
        default=["person"],
        metavar="NAME",
        help="class names to keep, in the new order (default: person)",
    )
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    try:
        result = keep_yolox_classes_file(args.src, args.out, args.classes)
    except CLI_ERRORS as err:  # each names the file or the class; one line
        return cli_error_status(err, args.debug)
    rows = ", ".join(f"{n} (row {i})" for n, i in zip(result.classes, result.indices, strict=True))
    print(f"source: {result.source} (sha256 {result.source_sha256})")
    print(f"kept {rows} in {len(result.sliced_keys)} class-predictor tensors")
    print(f"{result.path}")
    print(f"sha256 {result.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
