"""Test (evaluate) a detector or a tracker from a config and a checkpoint (mmdet's flags).

Works for detection configs (COCO-style metrics) and tracking configs (MOTChallengeMetric:
HOTA, CLEAR, Identity) alike; the config's ``test_evaluator`` decides.

Examples:
    python tools/test.py configs/tdt/retinanet_r34_embed.py work_dirs/x/epoch_12.pth
    python tools/test.py CONFIG CKPT --out results.pkl --cfg-options test_dataloader.batch_size=1
    python tools/test.py CONFIG                          # tracker whose parts load their weights
    bash tools/dist_test.sh CONFIG CKPT 8
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# tools/ is this script's folder, hence first on sys.path: the CPU set-up of train.py is shared
from train import setup_cpu_distributed, shutdown_distributed

import mmdistillmot  # noqa: F401  (registers components, safe checkpoint loading)
from mmdistillmot.utils import add_debug_flag, check_config_types, cli_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Test (and evaluate) a model")
    parser.add_argument("config", help="test config file path")
    parser.add_argument(
        "checkpoint",
        nargs="?",
        help="checkpoint file; may be omitted for trackers whose parts load their own weights",
    )
    parser.add_argument("--work-dir", help="the dir to save the evaluation metrics")
    parser.add_argument("--out", help="dump the raw predictions to this pickle file")
    parser.add_argument("--show-dir", help="save drawn predictions under work_dir/timestamp/DIR")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, e.g. test_dataloader.batch_size=1 (key=value pairs)",
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides, as mmdet's test.py does."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f"Config file '{args.config}' does not exist.")
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"Checkpoint file '{args.checkpoint}' does not exist.")
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show_dir is not None:
        visualization = cfg.default_hooks.get("visualization", None)
        if visualization is None:
            raise KeyError(f"{args.config}: --show-dir needs default_hooks.visualization")
        visualization.draw = True
        visualization.test_out_dir = args.show_dir
    check_config_types(cfg, args.config)
    return cfg


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.out is not None and not args.out.endswith((".pkl", ".pickle")):
        sys.exit(f"error: --out must be a .pkl or .pickle file, got '{args.out}'")
    # a bad input (missing or mismatched weight file, unknown config type ...): one line, exit 1
    with cli_errors(args.debug):
        cfg = build_config(args)
        notice = setup_cpu_distributed(cfg)
        runner = RUNNERS.build(cfg) if "runner_type" in cfg else Runner.from_cfg(cfg)
        if notice is not None:
            runner.logger.warning(notice)
        if args.out is not None:
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
        runner.test()
    shutdown_distributed()


if __name__ == "__main__":
    main()
