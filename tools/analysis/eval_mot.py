"""Score MOTChallenge result files against MOTChallenge ground truth (HOTA, CLEAR, Identity).

Example::

    python tools/analysis/eval_mot.py --gt-root data/MOT17/train \
        --results work_dirs/bytetrack/results --json work_dirs/bytetrack/mot_eval.json

``--gt-root`` holds one folder per sequence with ``gt/gt.txt`` (or ``gt.txt``) and, when
present, ``seqinfo.ini``; MOT15-style (10 columns) and MOT16/17/20-style (9 columns) ground truth
are told apart from the files. ``--results`` holds one ``SEQ.txt`` per sequence. The scores are
TrackEval's (see ``mmdistillmot/evaluation/mot_eval.py`` for the preprocessing).
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
from pathlib import Path

from mmdistillmot.datasets.mot_files import MOTFormatError
from mmdistillmot.evaluation.mot_eval import evaluate_mot_results, format_results_table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gt-root", required=True, type=Path, help="folder with SEQ/gt/gt.txt per sequence"
    )
    parser.add_argument(
        "--results", required=True, type=Path, help="folder with one SEQ.txt per sequence"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the scores here (with 'combined')"
    )
    parser.add_argument(
        "--seqs", nargs="+", default=None, help="score only these sequences (default: all)"
    )
    parser.add_argument(
        "--iou-threshold",
        type=float,
        default=0.5,
        help="match threshold of CLEAR and Identity (default 0.5, as MOTChallenge)",
    )
    return parser.parse_args(argv)


def _check_json_target(path: Path, gt_root: Path, results: Path) -> None:
    """Refuses a --json path that would write into the ground truth or look like a result."""
    target = path.resolve()
    if target.is_relative_to(gt_root.resolve()):
        raise ValueError(f"--json {path} lies inside --gt-root {gt_root}; refusing to write there")
    if target.suffix == ".txt" and target.parent == results.resolve():
        raise ValueError(f"--json {path} would be read as a result file of {results}")


def main(argv: list[str] | None = None) -> int:
    """Runs the evaluation, prints the table and optionally writes JSON; returns the exit code."""
    args = parse_args(argv)
    try:
        if args.json is not None:
            _check_json_target(args.json, args.gt_root, args.results)
        result = evaluate_mot_results(
            args.gt_root,
            args.results,
            seqs=args.seqs,
            iou_threshold=args.iou_threshold,
            progress=True,
        )
    except (MOTFormatError, FileNotFoundError, ValueError) as err:
        print(f"eval_mot: error: {err}", file=sys.stderr)
        return 2
    print(format_results_table(result))
    if args.json is not None:
        payload = {
            "gt_root": str(args.gt_root),
            "results": str(args.results),
            "iou_threshold": args.iou_threshold,
            **result.to_json_dict(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"scores written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
