r"""Do a tracker's embeddings tell identities apart? Scores on a sequence's ground-truth boxes.

For each ``--model LABEL CONFIG CHECKPOINT`` the ground-truth boxes of SEQ (a MOTChallenge
sequence folder: ``img1``, ``gt/gt.txt``) are embedded frame by frame as the tracker would embed
them (one-stage: the embedding of the most-overlapping detector candidate, IoU >= 0.5, boxes
without one left out; two-stage: the Re-ID network on the crop), then scored
(``mmdistillmot/evaluation/embedding_identity.py``): cross-frame nearest-neighbour identity rate,
mean same-id and different-id cosine. CHECKPOINT ``init`` builds the model from the config
alone and initialises it as training would: the config's ``load_from``, else its ``init_cfg``
(e.g. a student before its training: the detector's weights and a freshly initialised embedding
head, seed ``--seed``).

Example (before / after adapting to TUD-Campus, and the teacher on crops; docs/adapt_to_footage.md):
    python tools/analysis/embedding_identity.py ../shared/assets/tud_campus/TUD-Campus \
        --model before work_dirs/adapt_tud/configs/student_footage.py init \
        --model after work_dirs/adapt_tud/configs/student_footage.py \
            work_dirs/adapt_tud/student/epoch_8.pth \
        --json work_dirs/adapt_tud/embedding_identity.json

Ground-truth rows with ``active = 0`` or a class other than pedestrian (MOT16+) are left out.
Errors end the tool with one line ``error: ...`` and exit status 1; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: sleeping OpenMP threads

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config, DictAction

import mmdistillmot  # noqa: F401  (registers components)
from mmdistillmot.apis import FrameSource, VideoTracker, public_detection_embeddings
from mmdistillmot.datasets.mot_files import read_mot_file
from mmdistillmot.evaluation.embedding_identity import identity_scores
from mmdistillmot.utils import add_debug_flag, cli_errors
from mmdistillmot.utils.progress import progress_bar


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("sequence", help="MOTChallenge sequence folder (img1, gt/gt.txt)")
    parser.add_argument(
        "--model", nargs="+", action="append", required=True,
        metavar="LABEL CONFIG CHECKPOINT [KEY=VALUE ...]", help="a tracker to score (repeat); "
        "CHECKPOINT 'init': the config's load_from; KEY=VALUE: that config's overrides",
    )  # fmt: skip
    parser.add_argument("--json", help="write the scores here")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of freshly built weights")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    for entry in args.model:
        if len(entry) < 3:
            parser.error(f"--model {' '.join(entry)}: give LABEL CONFIG CHECKPOINT")
    return args


def _overrides(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings as mmengine's ``--cfg-options`` parses them."""
    parser = argparse.ArgumentParser(prog="--model ... KEY=VALUE")
    parser.add_argument("options", nargs="*", action=DictAction)
    return parser.parse_args(pairs).options or {}


def _ground_truth(sequence: Path) -> np.ndarray:
    gt_path = sequence / "gt" / "gt.txt"
    if not gt_path.is_file():
        raise FileNotFoundError(f"'{gt_path}' does not exist (the sequence's ground truth)")
    rows = read_mot_file(gt_path, "gt").rows
    keep = rows["conf"] != 0
    if (rows["class_id"] >= 0).any():  # MOT16+: pedestrians only
        keep &= rows["class_id"] == 1
    return rows[keep]


def embed_ground_truth(
    tracker: VideoTracker, source: FrameSource, gt: np.ndarray, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings [M, D], ids [M] and frames [M] of the ground-truth boxes the model embeds."""
    model = tracker.model
    embeddings, ids, frames = [], [], []
    for index, image in enumerate(progress_bar(source, desc=label, unit="frame")):
        rows = gt[gt["frame"] == index + 1]
        if len(rows) == 0:
            continue
        boxes = np.stack(
            [
                rows["x"],
                rows["y"],
                rows["x"] + rows["w"],
                rows["y"] + rows["h"],
                np.ones(len(rows)),
            ],
            axis=1,
        )
        data = model.data_preprocessor(tracker._prepare(image, index, len(source)), False)
        with torch.no_grad():
            kept_boxes, _, kept_embeddings = public_detection_embeddings(
                model, data["inputs"][:, 0].contiguous(), data["data_samples"][0][0], boxes
            )
        # which rows were kept: a one-stage model drops boxes no candidate overlaps
        kept = kept_boxes.cpu().numpy()
        order = [int(np.abs(boxes[:, :4] - box).sum(axis=1).argmin()) for box in kept]
        embeddings.append(kept_embeddings.cpu().numpy())
        ids.append(rows["id"][order])
        frames.append(np.full(len(order), index + 1))
    if not embeddings:
        raise ValueError(f"{label}: no ground-truth box of '{source.path}' got an embedding")
    return np.concatenate(embeddings), np.concatenate(ids), np.concatenate(frames)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors(args.debug):
        sequence = Path(args.sequence)
        source = FrameSource(str(sequence))
        gt = _ground_truth(sequence)
        results = {}
        for label, config, checkpoint, *pairs in args.model:
            torch.manual_seed(args.seed)
            fresh = checkpoint == "init"
            if fresh:  # the config's load_from, else its init_cfg (e.g. Pretrained detector)
                checkpoint = Config.fromfile(config).get("load_from")
            tracker = VideoTracker(config, checkpoint, args.device, _overrides(pairs))
            if fresh and checkpoint is None:
                tracker.model.init_weights()
                tracker.model.eval()
            scores = identity_scores(*embed_ground_truth(tracker, source, gt, label))
            results[label] = dict(config=config, checkpoint=checkpoint, **scores.as_dict())
        print("| model | NN identity rate | same-id cos | diff-id cos | gap | boxes (of gt) |")
        print("|---|---|---|---|---|---|")
        for label, r in results.items():
            print(
                f"| {label} | {r['nn_rate']:.3f} | {r['same_cos']:.3f} | {r['diff_cos']:.3f} | "
                f"{r['gap']:.3f} | {r['boxes']} ({len(gt)}) |"
            )
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
