r"""Run a teacher over every ground-truth box of a COCO / CocoVID file and store the embeddings.

The result is a teacher embedding store (see ``mmdistillmot/datasets/teacher_embedding_store.py``)
that ``LoadTeacherEmbeddings`` attaches to ``gt_instances`` during training. The boxes are those
mmdet's ``CocoDataset`` yields for the file (``mmdistillmot/datasets/teacher_store_boxes.py``);
the work (chunks, sharding, resumption, merge) is ``mmdistillmot/apis/teacher_extraction.py``.

Examples:
    # CONFIG holds ``teacher = dict(type='OSNetTeacher', ...)`` (or a distillation config whose
    # ``model.teacher`` is one)
    python tools/distill/extract_teacher_embeddings.py configs/tdt/teachers/osnet_x1_0.py \
        data/MOT17/annotations/train_cocoformat.json data/MOT17/train data/stores/osnet_mot17
    # continue after an interruption (finished chunks are kept in OUT_DIR/partial)
    python tools/distill/extract_teacher_embeddings.py ... --resume
    # 8 processes (GPUs, or CPU processes on gloo); the same store as one process writes
    torchrun --nproc_per_node 8 tools/distill/extract_teacher_embeddings.py CONFIG ANN IMG OUT

Reproducibility: the store does not depend on the number of processes, but floating-point
results depend on the math libraries' thread count on CPU (reductions split differently) and on
cuDNN's algorithm choice on GPU. This tool turns off cuDNN's benchmark mode and asks for its
deterministic algorithms; on CPU, give every run the same ``--threads`` (torchrun sets
``OMP_NUM_THREADS=1`` per process, so ``--threads 1`` for a single process reproduces a torchrun
store byte for byte).
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys

from mmengine.config import DictAction

import mmdistillmot  # noqa: F401  (registers the teachers)
from mmdistillmot.apis.teacher_extraction import run_extraction
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("config", help="config with a teacher (teacher / model.teacher / model)")
    parser.add_argument("ann_file", help="COCO or CocoVID annotation file")
    parser.add_argument("img_root", help="directory the images' file_name are relative to")
    parser.add_argument("out_dir", help="store directory to write")
    parser.add_argument("--batch-size", type=int, default=8, help="images per teacher call")
    parser.add_argument(
        "--chunk-size", type=int, default=64, help="images per partial file (resume unit)"
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store")
    parser.add_argument("--include-crowd", action="store_true", help="embed crowd boxes too")
    parser.add_argument("--keep-partial", action="store_true", help="keep OUT_DIR/partial")
    parser.add_argument("--device", help="default: cuda:LOCAL_RANK if available, else cpu")
    parser.add_argument("--io-threads", type=int, default=2, help="image decoding threads")
    parser.add_argument("--seed", type=int, default=0, help="seed (random-init test teachers)")
    parser.add_argument(
        "--precision",
        choices=["fp32", "auto", "bf16", "fp16"],
        default="fp32",
        help="teacher precision, replacing the config's (default fp32: the same store on a "
        "CPU and a GPU; 'auto' = bf16/fp16 autocast on a GPU)",
    )
    parser.add_argument(
        "--threads", type=int, help="CPU math threads per process (default: torch's choice)"
    )
    parser.add_argument(
        "--timeout-min", type=int, default=24 * 60, help="distributed wait limit (minutes)"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, e.g. teacher.weights=path/to/osnet.pth",
    )
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        store = run_extraction(
            args.config,
            args.ann_file,
            args.img_root,
            args.out_dir,
            cfg_options=args.cfg_options,
            precision=args.precision,
            seed=args.seed,
            device=args.device,
            threads=args.threads,
            timeout_min=args.timeout_min,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            resume=args.resume,
            overwrite=args.overwrite,
            skip_crowd=not args.include_crowd,
            keep_partial=args.keep_partial,
            io_threads=args.io_threads,
        )
    except CLI_ERRORS as err:  # ExtractionError, a bad annotation file, a weight file ...
        return cli_error_status(err, args.debug)
    if store is not None:
        rows, dim = store["store"]["num_rows"], store["store"]["embed_dim"]
        skipped = store["extraction"]["skipped"]
        print(f"wrote {rows} embeddings of dim {dim} to {args.out_dir} (skipped: {skipped})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
