"""Build a det-db JSON (MOTRv2's proposals) from MOTChallenge det.txt or from an mmdet detector.

A det-db maps each frame's image path to the lines ``"x,y,w,h,score"`` (pixels, top-left) of
the detections kept for it (score > ``--score-thr``, 0.05 by default as in MOTRv2). Every frame
gets a key, with an empty list when nothing was kept, so a missing key always means a wrong
path. ``LoadDetDBProposals`` reads the file.

Two sources:

``det-txt``: the public detections of a MOTChallenge split (``SPLIT/SEQ/det/det.txt``); frame
``f`` of ``det.txt`` is the image whose file name is the number ``f`` (``000001.jpg`` is frame
1). Keys are image paths relative to ``--key-root`` (default: the split's parent, so keys look
like ``train/MOT17-02-FRCNN/img1/000001.jpg``)::

    python tools/dataset_converters/make_det_db.py det-txt data/MOT17/train data/MOT17/test \
        data/MOT17/det_db_frcnn.json

``detector``: any mmdet detector config + local checkpoint run over the images of a CocoVID
(or plain COCO) file, e.g. the YOLOX-X of ``configs/motrv2/yolox_x_proposals_mot17.py``. Keys
are the ``file_name`` fields of the annotation file (relative to ``--img-root``)::

    python tools/dataset_converters/make_det_db.py detector \
        configs/motrv2/yolox_x_proposals_mot17.py work_dirs/yolox_x_mot17/epoch_80.pth \
        data/MOT17/annotations/train_cocoformat.json data/MOT17/train \
        data/MOT17/det_db_yolox.json

The output is written to a temporary file and moved into place; an existing output is only
replaced with ``--overwrite``, and the output may not be one of the inputs.
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmdistillmot.datasets.mot_files import read_mot_file, read_seqinfo
from mmdistillmot.datasets.transforms.load_proposals import format_proposal_line
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status

__all__ = ["det_db_from_det_txt", "det_db_from_detector", "main", "write_det_db"]

DEFAULT_SCORE_THR = 0.05


def _frame_number(image: Path) -> int:
    """The MOTChallenge frame number of an image file (``000012.jpg`` -> 12)."""
    try:
        return int(image.stem)
    except ValueError as err:
        raise ValueError(f"{image}: image name is not a frame number") from err


def det_db_from_det_txt(
    split_root: str | Path,
    key_root: str | Path | None = None,
    score_thr: float = DEFAULT_SCORE_THR,
) -> dict[str, list[str]]:
    """Collect the detections of every sequence of a MOTChallenge split.

    Args:
        split_root (str | Path): Folder holding ``SEQ/{img1, det/det.txt[, seqinfo.ini]}``.
        key_root (str | Path, optional): Keys are image paths relative to this. Defaults to
            ``split_root``'s parent.
        score_thr (float): Keep detections with confidence strictly above this.

    Returns:
        dict[str, list[str]]: Image key -> det-db lines, one key per image of every sequence.

    Raises:
        FileNotFoundError: If the split has no sequence with ``det/det.txt``.
        ValueError: If a detection refers to a frame without an image (names file and line).
    """
    split_root = Path(split_root)
    key_root = Path(key_root) if key_root is not None else split_root.parent
    seq_dirs = sorted(p.parent.parent for p in split_root.glob("*/det/det.txt"))
    if not seq_dirs:
        raise FileNotFoundError(f"no SEQ/det/det.txt under {split_root}")
    db: dict[str, list[str]] = {}
    for seq_dir in seq_dirs:
        im_dir, im_ext = "img1", ".jpg"
        if (seq_dir / "seqinfo.ini").is_file():
            info = read_seqinfo(seq_dir / "seqinfo.ini")
            im_dir, im_ext = info.im_dir, info.im_ext
        images = {_frame_number(p): p for p in sorted((seq_dir / im_dir).glob(f"*{im_ext}"))}
        keys = {frame: path.relative_to(key_root).as_posix() for frame, path in images.items()}
        for frame in sorted(keys):
            db[keys[frame]] = []
        det_path = seq_dir / "det" / "det.txt"
        rows = read_mot_file(det_path, kind="det").rows
        for row in rows:
            frame = int(row["frame"])
            if frame not in keys:
                raise ValueError(
                    f"{det_path}:{int(row['line'])}: frame {frame} has no image in "
                    f"{seq_dir / im_dir}"
                )
            if row["conf"] > score_thr:
                db[keys[frame]].append(
                    format_proposal_line(row["x"], row["y"], row["w"], row["h"], row["conf"])
                )
    return db


def det_db_from_detector(
    config: str,
    checkpoint: str,
    ann_file: str | Path,
    img_root: str | Path,
    score_thr: float = DEFAULT_SCORE_THR,
    labels: Sequence[int] | None = None,
    device: str = "cpu",
    cfg_options: dict | None = None,
) -> dict[str, list[str]]:
    """Run an mmdet detector over the images of a COCO/CocoVID file.

    Args:
        config (str): Detector config file.
        checkpoint (str): Local checkpoint file of that detector.
        ann_file (str | Path): COCO/CocoVID json; its ``images[*].file_name`` are the keys.
        img_root (str | Path): Folder the ``file_name`` paths are relative to.
        score_thr (float): Keep detections with score strictly above this.
        labels (Sequence[int], optional): Keep only these predicted labels (e.g. ``[0]``, the
            person class of a COCO detector). Defaults to all.
        device (str): Torch device. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        dict[str, list[str]]: Image key -> det-db lines.

    Raises:
        FileNotFoundError: If the checkpoint or an image is missing.
        ValueError: If the annotation file has no ``images`` list, or the detector returns
            non-finite boxes.
    """
    from mmdet.apis import inference_detector, init_detector
    from mmengine.utils import ProgressBar

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint} (a local file is required)")
    with open(ann_file) as handle:
        images = json.load(handle).get("images")
    if not isinstance(images, list):
        raise ValueError(f"{ann_file}: no 'images' list")
    model = init_detector(config, checkpoint, device=device, cfg_options=cfg_options)
    db: dict[str, list[str]] = {}
    progress = ProgressBar(len(images))
    for index, image in enumerate(images):
        try:
            key = image["file_name"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"{ann_file}: images[{index}] has no file_name") from err
        path = Path(img_root) / key
        if not path.is_file():
            raise FileNotFoundError(f"{ann_file}: images[{index}] file not found: {path}")
        pred = inference_detector(model, str(path)).pred_instances
        boxes = pred.bboxes.cpu().numpy()
        scores = pred.scores.cpu().numpy()
        keep = scores > score_thr
        if not np.isfinite(boxes[keep]).all():
            raise ValueError(f"{config}: the detector gave non-finite boxes for {path}")
        if labels is not None:
            keep &= np.isin(pred.labels.cpu().numpy(), list(labels))
        db[key] = [
            format_proposal_line(x1, y1, x2 - x1, y2 - y1, score)
            for (x1, y1, x2, y2), score in zip(boxes[keep].tolist(), scores[keep].tolist())
        ]
        progress.update()
    return db


def write_det_db(
    db: dict[str, list[str]], out: str | Path, inputs: Sequence[str | Path], overwrite: bool
) -> None:
    """Write a det-db atomically, never over an input or (without ``overwrite``) a file.

    Args:
        db (dict[str, list[str]]): Key -> lines.
        out (str | Path): Output JSON path.
        inputs (Sequence[str | Path]): Files the det-db was made from (must not be ``out``).
        overwrite (bool): Replace an existing output.

    Raises:
        FileExistsError: If ``out`` exists and ``overwrite`` is False.
        ValueError: If ``out`` is one of ``inputs``.
    """
    out = Path(out)
    if any(out.resolve() == Path(p).resolve() for p in inputs):
        raise ValueError(f"refusing to write the det-db over its input {out}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(db, handle)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="source", required=True)
    txt = sub.add_parser("det-txt", help="MOTChallenge det/det.txt of every sequence")
    txt.add_argument("split_roots", nargs="+", help="e.g. data/MOT17/train [data/MOT17/test]")
    txt.add_argument("out", help="output det-db JSON")
    txt.add_argument("--key-root", help="keys relative to this (default: each split's parent)")
    det = sub.add_parser("detector", help="an mmdet detector over a COCO/CocoVID file")
    det.add_argument("config")
    det.add_argument("checkpoint")
    det.add_argument("ann_file")
    det.add_argument("img_root", help="folder the file_name paths are relative to")
    det.add_argument("out", help="output det-db JSON")
    det.add_argument("--labels", type=int, nargs="+", help="keep only these predicted labels")
    det.add_argument("--device", default="cpu")
    for sub_parser in (txt, det):
        sub_parser.add_argument("--score-thr", type=float, default=DEFAULT_SCORE_THR)
        sub_parser.add_argument("--overwrite", action="store_true")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on bad input, with a message)."""
    args = _parse_args(argv)
    try:
        return _run(args)
    except CLI_ERRORS as err:  # FileNotFoundError, FileExistsError, ValueError ...
        return cli_error_status(err, args.debug, status=2)


def _run(args: argparse.Namespace) -> int:
    if args.source == "det-txt":
        db, inputs = {}, []
        for split_root in args.split_roots:
            db.update(det_db_from_det_txt(split_root, args.key_root, args.score_thr))
            inputs += [str(p) for p in Path(split_root).glob("*/det/det.txt")]
    else:
        db = det_db_from_detector(
            args.config,
            args.checkpoint,
            args.ann_file,
            args.img_root,
            args.score_thr,
            args.labels,
            args.device,
        )
        inputs = [args.config, args.checkpoint, args.ann_file]
    write_det_db(db, args.out, inputs, args.overwrite)
    kept = sum(len(lines) for lines in db.values())
    print(f"wrote {args.out}: {len(db)} frames, {kept} proposals (score > {args.score_thr})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
