"""Grid search over tracker parameters on a config's test set, with one network pass.

Every ``--param KEY=V1,V2,...`` (keys under ``model.tracker.``) adds a grid axis; every
combination is scored with the config's own ``test_evaluator`` (TrackEval's HOTA, CLEAR,
Identity, as ``tools/test.py`` scores). The detector (with its embeddings, or with the Re-ID
network of a two-stage config) runs once per frame; each setting only replays the association
(``JDETracker``) on the cached detections, so a grid of 20 settings costs one network pass plus
20 associations and TrackEval runs (see ``mmdistillmot/apis/tracker_param_search.py``).

Examples:
    python tools/analysis/mot_param_search.py configs/tdt/tdt_mnetv2-fpn_embed_synthetic.py \
        work_dirs/demo/student/epoch_8.pth \
        --param model.tracker.obj_score_thr=0.3,0.4,0.5 \
        --param model.tracker.appearance_match_thr=0.3,0.4 \
        --cfg-options "test_dataloader.dataset.pipeline.0.transforms.1.scale=(384,224)"
    # MOTChallenge public detections (DIR/SEQ/det/det.txt, or DIR/SEQ.txt), appearance from the
    # model, as tools/demo/track_video.py --public-dets tracks them:
    python tools/analysis/mot_param_search.py CONFIG CKPT --public-dets-dir data/MOT17/train \
        --param model.tracker.obj_score_thr=0.2,0.4,0.6

Prints a table sorted by HOTA (then IDF1, MOTA) with MOTA, IDF1 and IDs, and the best setting
as a ``--cfg-options`` line. Writes to ``--work-dir`` (default
``work_dirs/mot_param_search/CONFIG_NAME``): ``param_search.json`` (every row, all metrics),
``best_cfg_options.txt`` (the line) and ``best_results/SEQ.txt`` (the best setting's
MOTChallenge result files, track ids from 1). Only tracker parameters can be searched: a setting
that changes the network's outputs (the detector's ``score_thr``, the input size, the Re-ID
weights) goes in ``--cfg-options`` and holds for the whole grid.

Errors (a missing file, a bad ``--param``, a parameter ``JDETracker`` does not take) end the
tool with one line ``error: ...`` and exit status 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import os.path as osp
import sys
from typing import Any

from mmengine.config import Config, DictAction

import mmdistillmot  # noqa: F401  (registers components, safe checkpoint loading)
from mmdistillmot.apis.tracker_param_search import (
    cfg_options_line,
    format_table,
    grid_settings,
    parse_param,
    run_search,
    tracker_config,
    write_setting_results,
)
from mmdistillmot.utils import add_debug_flag, check_config_types, cli_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="tracking config (its test_dataloader is searched on)")
    parser.add_argument(
        "checkpoint", nargs="?", help="checkpoint (omit if the config's parts load their own)"
    )
    parser.add_argument(
        "--param",
        action="append",
        required=True,
        metavar="KEY=V1,V2,...",
        help="a grid axis: a model.tracker.* key and its values (repeat for more axes)",
    )
    parser.add_argument(
        "--public-dets-dir",
        help="track public detections instead of the detector's: DIR/SEQ/det/det.txt (a "
        "MOTChallenge split) or DIR/SEQ.txt per sequence",
    )
    parser.add_argument(
        "--work-dir", help="output folder (default: work_dirs/mot_param_search/CONFIG_NAME)"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="config overrides for the whole grid (key=value pairs), as in tools/test.py",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show mmengine's log (config, checkpoint loading)"
    )
    add_debug_flag(parser)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """The config with the overrides, work_dir and log level set (as tools/test.py builds it)."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f"Config file '{args.config}' does not exist.")
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"Checkpoint file '{args.checkpoint}' does not exist.")
    if args.public_dets_dir is not None and not osp.isdir(args.public_dets_dir):
        raise FileNotFoundError(f"--public-dets-dir '{args.public_dets_dir}' is not a folder")
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join("work_dirs", "mot_param_search", name)
    if not args.verbose:
        cfg.log_level = "WARNING"  # the table is the output; mmengine's INFO log is --verbose
    check_config_types(cfg, args.config)
    return cfg


def _plain(value: Any) -> Any:
    """A metric value as a JSON number (numpy scalars to Python)."""
    return value.item() if hasattr(value, "item") else value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors(args.debug):
        return search(args)


def search(args: argparse.Namespace) -> int:
    """Run the search of ``args`` (see :func:`parse_args`), print and write the results.

    Args:
        args: The parsed command line.

    Returns:
        0.
    """
    settings = grid_settings([parse_param(text) for text in args.param])
    cfg = build_config(args)
    print(f"{len(settings)} settings; network pass once over {args.config}'s test set")
    result = run_search(
        cfg,
        args.checkpoint,
        settings,
        public_dets_dir=args.public_dets_dir,
        quiet=not args.verbose,
    )
    rate = result.num_frames / max(result.network_seconds, 1e-9)
    print(
        f"network pass: {result.num_frames} frames in {result.network_seconds:.1f} s "
        f"({rate:.2f} frames/s), once for {len(settings)} settings; replay + scoring "
        f"{result.replay_seconds:.1f} s ({result.replay_seconds / len(settings):.2f} s a setting)"
    )
    print(format_table(result.rows))
    best_line = cfg_options_line(result.best.setting)
    print(f"best: --cfg-options {best_line}")

    os.makedirs(cfg.work_dir, exist_ok=True)
    best_txt = osp.join(cfg.work_dir, "best_cfg_options.txt")
    with open(best_txt, "w", encoding="utf-8") as f:
        f.write(best_line + "\n")
    results_dir = osp.join(cfg.work_dir, "best_results")
    written = write_setting_results(
        result.cache, tracker_config(cfg, result.best.setting), results_dir
    )
    payload = {
        "config": args.config,
        "checkpoint": args.checkpoint,
        "public_dets_dir": args.public_dets_dir,
        "cfg_options": args.cfg_options,
        "params": [parse_param(text) for text in args.param],
        "network_frames": result.num_frames,
        "network_seconds": result.network_seconds,
        "replay_seconds": result.replay_seconds,
        "best": {"setting": result.best.setting, "cfg_options": best_line},
        "rows": [
            {
                "rank": rank,
                "setting": row.setting,
                **row.scores,
                "seconds": row.seconds,
                "metrics": {k: _plain(v) for k, v in row.metrics.items()},
            }
            for rank, row in enumerate(result.rows, start=1)
        ],
    }
    json_path = osp.join(cfg.work_dir, "param_search.json")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, default=str)
        f.write("\n")
    print(
        f"scored {len(settings)} settings on {result.num_frames} frames -> {json_path}, "
        f"{best_txt}, {results_dir}/ ({len(written)} result files of the best setting)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
