"""Export a one-stage student (TDT on RetinaNet or YOLOX, or FairMOT) to ONNX.

The graph's input is one frame *after* the config's data preprocessor (BGR->RGB, mean/std,
padding), of fixed shape [1, 3, H, W]. TDT: its outputs are every anchor's decoded box
(``boxes`` [1, N, 4], input pixels), sigmoid ``scores`` [1, N, C] and unit-norm ``embeddings``
[1, N, D]; NMS is not in the graph: the runner (``mmdistillmot.deployment.onnx_runner``) does
the head's per-level top-k, score threshold, NMS and max_per_img in numpy. TDT on YOLOX
(YOLOXEmbedHead): every prior's decoded ``boxes`` [1, N, 4], YOLOX's ``scores`` [1, N] (max
class x objectness), their ``labels`` [1, N] and ``embeddings`` [1, N, D]; the runner does the
score threshold, rescaling, NMS and max_per_img in numpy. FairMOT: the
heatmap's 3x3 max-pool peak suppression and top-k are in the graph, which outputs the top-k
peaks' ``boxes`` [1, K, 4], ``scores`` [1, K], ``labels`` [1, K] and ``embeddings`` [1, K, D];
the runner does the score threshold and the letterbox rescaling in numpy. The head's test_cfg
is stored in the file's metadata. Only the student is exported, never a teacher: a
distillation config (FeatureDistiller, e.g. FairMOT from DINOv2) builds its student only, and
the DINOv2 teacher and the transform layer stay out of the graph.

Example:
    python tools/deployment/export_onnx.py configs/tdt/tdt_mnetv2-fpn_embed_synthetic.py \
        work_dirs/demo/student/epoch_8.pth work_dirs/demo/student.onnx
    python tools/demo/track_video.py configs/tdt/tdt_mnetv2-fpn_embed_synthetic.py \
        data/synthetic_mot/val/SYN-04 --onnx work_dirs/demo/student.onnx --txt out/syn04.txt
    python tools/deployment/export_onnx.py \
        configs/fairmot_dinov2/fairmot_dinov2-small_synthetic.py \
        work_dirs/fairmot_dinov2_small/epoch_12.pth work_dirs/fairmot_student.onnx
    python tools/deployment/export_onnx.py work_dirs/adapt/configs/student_footage.py \
        work_dirs/adapt/student/epoch_8.pth work_dirs/adapt/student.onnx

Errors end the tool with one line ``error: ...`` and exit status 1 (``--debug``: traceback).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
from pathlib import Path

import numpy as np
from mmengine.config import Config, DictAction

import mmdistillmot  # noqa: F401  (registers components)
from mmdistillmot.deployment.onnx_export import (
    default_input_shape,
    export_onnx,
    load_student,
    student_config,
)
from mmdistillmot.deployment.onnx_postprocess import OnnxGraphInfo
from mmdistillmot.deployment.onnx_runner import preprocessed_shape
from mmdistillmot.utils import add_debug_flag, cli_errors

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def read_example_frame(path: str) -> np.ndarray:
    """The BGR image at ``path``, or the first image (by name) of the folder ``path``.

    Raises:
        FileNotFoundError: No such file, or a folder without images.
        ValueError: The file is not a readable image.
    """
    import mmcv

    source = Path(path)
    if source.is_dir():
        frames = sorted(f for f in source.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not frames:
            raise FileNotFoundError(f"--shape-from {path}: no images in the folder")
        source = frames[0]
    if not source.is_file():
        raise FileNotFoundError(f"--shape-from {path}: no such file or folder")
    try:
        image = mmcv.imread(str(source))
    except Exception as error:  # mmcv raises several types for unreadable files
        raise ValueError(f"--shape-from {source}: not a readable image ({error})") from None
    if image is None:
        raise ValueError(f"--shape-from {source}: not a readable image")
    return image


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "config",
        help="TDT config (detector with RetinaEmbedHead or YOLOXEmbedHead), FairMOT config, "
        "or a distillation "
        "config around one (its student is exported)",
    )
    parser.add_argument("checkpoint", help="student checkpoint")
    parser.add_argument("out", help="ONNX file to write")
    parser.add_argument(
        "--shape",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="fixed input height and width after resize and padding (default: the test "
        "pipeline's Resize or Letterbox scale rounded up to the preprocessor's "
        "pad_size_divisor); frames padded to less are padded up to it (with the "
        "preprocessor's pad_value), larger ones are refused",
    )
    parser.add_argument(
        "--shape-from",
        metavar="FRAME",
        help="instead of --shape: an example frame (image file, or a folder of frames: its "
        "first) whose shape after the test pipeline and the preprocessor becomes the input, "
        "so that frames of its size give exactly the PyTorch numbers",
    )
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors(args.debug):
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "onnx is not installed: pip install -r requirements/deploy.txt"
            ) from None
        cfg = Config.fromfile(args.config)
        if student_config(cfg) is not cfg:
            print(
                f"{args.config}: {cfg.model.type} config, exporting its student "
                f"({cfg.model.student.type}); the teacher is not built"
            )
        model = load_student(cfg, args.checkpoint, args.cfg_options)
        if args.shape and args.shape_from:
            raise ValueError("give --shape or --shape-from, not both")
        if args.shape_from:
            shape = preprocessed_shape(
                model.cfg, model.data_preprocessor, read_example_frame(args.shape_from)
            )
            print(f"input shape from {args.shape_from}: {shape[0]}x{shape[1]}")
        else:
            shape = tuple(args.shape) if args.shape else default_input_shape(model.cfg)
        meta = export_onnx(model, args.out, (int(shape[0]), int(shape[1])), args.opset)
        info = OnnxGraphInfo.from_metadata(meta)
        print(f"exported {args.out} ({meta['exported']}): {info.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
