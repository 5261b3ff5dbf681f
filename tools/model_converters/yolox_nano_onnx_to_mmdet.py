"""Write an mmdet YOLOX checkpoint from a YOLOX ONNX export whose BatchNorm is folded.

The source is Megvii's YOLOX-Nano exported to ONNX (``../shared/assets/weights/yolox_nano.onnx``:
opset 11, input ``images`` 1x3x416x416 BGR 0-255, output 1x3549x85). Its Conv nodes, in
execution order, fill the convolutions of the model ``--config`` builds (default:
configs/yolox/yolox_nano_416_coco-onnx.py, mmdet's YOLOX-Nano); every shape, group, stride and
pad is checked, each folded BN becomes a neutral BN, and the written checkpoint is loaded back
with strict=True. ``--check IMAGE ...`` then runs onnxruntime and the converted model on each
image (letterboxed to the ONNX input) and prints the max abs difference of the raw outputs; see
:mod:`mmdistillmot.models.model_converters.yolox_onnx` and configs/yolox/README.md.

Example:
    python tools/model_converters/yolox_nano_onnx_to_mmdet.py \
        ../shared/assets/weights/yolox_nano.onnx checkpoints/yolox/yolox_nano_coco_onnx.pth \
        --check ../shared/assets/mot17_mini/train/MOT17-04-FRCNN/img1/000001.jpg
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

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdistillmot  # noqa: F401  (safe checkpoint loading)
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs" / "yolox" / "yolox_nano_416_coco-onnx.py"


def main(argv: list[str] | None = None) -> int:
    """Run the converter; return the exit status (0 on success, 1 on a bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="the YOLOX ONNX file (BatchNorm folded)")
    parser.add_argument("out", help="the mmdet checkpoint to write (e.g. OUT.pth)")
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="the mmdet YOLOX config whose model the keys and shapes are checked against "
        "(default: configs/yolox/yolox_nano_416_coco-onnx.py)",
    )
    parser.add_argument(
        "--check",
        nargs="+",
        metavar="IMAGE",
        help="images to run through onnxruntime and the converted model; prints the max abs "
        "difference of the raw outputs",
    )
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    try:
        from mmdet.registry import MODELS
        from mmengine.runner import load_checkpoint

        from mmdistillmot.datasets.image_io import read_image
        from mmdistillmot.models.model_converters.yolox_onnx import (
            compare_with_onnxruntime,
            convert_yolox_onnx_file,
        )

        init_default_scope("mmdet")
        config = Path(args.config)
        model_cfg = Config.fromfile(str(config)).model
        try:
            config_name = str(config.resolve().relative_to(REPO))
        except ValueError:
            config_name = str(config.resolve())
        result = convert_yolox_onnx_file(
            args.src, args.out, MODELS.build(model_cfg), provenance={"config": config_name}
        )
        model = MODELS.build(model_cfg)
        load_checkpoint(model, str(result.path), map_location="cpu", strict=True)
        images = [read_image(path) for path in args.check or []]
        started = time.perf_counter()
        diffs = compare_with_onnxruntime(result.source, model, images) if images else []
        seconds = time.perf_counter() - started
    except CLI_ERRORS as err:  # each names the file or the tensor; one line
        return cli_error_status(err, args.debug)
    print(f"source: {result.source}; {result.meta['source_format']}; sha256 {result.source_sha256}")
    print(
        f"mapped {result.num_convs} Conv nodes onto {result.num_tensors} tensors of {config_name} "
        "(BN folded -> neutral BN); loads with strict=True"
    )
    if diffs:
        print(
            f"max abs difference to onnxruntime on {len(diffs)} images: {max(diffs):.3g} "
            f"(raw outputs; {seconds:.1f} s for both runtimes)"
        )
    print(f"{result.path}")
    print(f"sha256 {result.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
