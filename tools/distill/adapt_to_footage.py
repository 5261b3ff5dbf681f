r"""Teach a one-stage tracker your own footage, with no labels at all (boxes or identities).

INPUT are video files or frame folders without annotations. Four steps, each a normal tool
with a normal config, its whole output in ``WORK_DIR/logs/`` and a progress bar on the console:

1. pseudo boxes: the detector's people on every frame (``pseudo_label_footage.py``; score
   threshold ``--score-thr``, the detector's own NMS) -> ``WORK_DIR/pseudo`` (CocoVID);
2. pseudo embeddings: the Re-ID teacher on those boxes (``extract_teacher_embeddings.py``,
   fingerprinted store) -> ``WORK_DIR/teacher_store``;
3. the one-stage student (``--student``: detector + embedding head, TDT) trained on 1 + 2
   (``tools/train.py`` with ``WORK_DIR/configs/student_footage.py``, written from the student
   config by ``mmdistillmot.apis.footage_adaptation``), initialised as the student config says
   (``configs/tdt/tdt_yolox-nano_embed_footage.py``: the person row of the COCO YOLOX-Nano that
   made the pseudo boxes) or from ``--load-from``, the detector fine-tuned on its own boxes or, with
   ``--freeze-detector``, frozen (only the embedding branch learns);
4. the adapted student tracks every input (``track_video.py``) -> ``WORK_DIR/tracks/NAME.mp4``
   and ``NAME.txt`` (MOTChallenge rows).

Resumable: a step whose output exists is skipped ("done already"); an interrupted step 2 or 3
continues where it stopped (``--resume``). Change a setting of step 1 and it refuses, naming
it (``--overwrite`` to start over).

Example (TUD-Campus from ../shared/assets, its ground truth left out; docs/adapt_to_footage.md):
    python tools/distill/adapt_to_footage.py footage/TUD-Campus/img1 \
        --detector configs/yolox/yolox_nano_416_coco-onnx.py \
        checkpoints/yolox/yolox_nano_coco_onnx.pth \
        --teacher configs/tdt/teachers/osnet_x0_25_msmt17.py \
        --teacher-options teacher.weights=../shared/assets/weights/osnet_x0_25_msmt17.pth \
        --student configs/tdt/tdt_yolox-nano_embed_footage.py --work-dir work_dirs/adapt_tud
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: sleeping OpenMP threads

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mmengine.config import Config, DictAction

from mmdistillmot.utils.cli_errors import add_debug_flag, cli_errors

REPO = Path(__file__).resolve().parents[2]
RUN_STEP = REPO / "tools" / "demo" / "run_step.py"
DEFAULT_STUDENT = "configs/tdt/tdt_yolox-nano_embed_footage.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files / frame folders")
    parser.add_argument(
        "--detector",
        nargs=2,
        required=True,
        metavar=("CONFIG", "CHECKPOINT"),
        help="mmdet detector for the pseudo boxes",
    )
    parser.add_argument("--teacher", required=True, help="Re-ID teacher config (teacher=...)")
    parser.add_argument(
        "--teacher-options",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="teacher config overrides, e.g. teacher.weights=PATH",
    )
    parser.add_argument(
        "--student", default=DEFAULT_STUDENT, help=f"one-stage TDT config ({DEFAULT_STUDENT})"
    )
    parser.add_argument(
        "--load-from",
        help="student's initial weights (default: the student config's own initialisation, "
        "e.g. the detector's weights through its init_cfg)",
    )
    parser.add_argument("--work-dir", required=True, help="folder of every step's output")
    parser.add_argument("--epochs", type=int, default=8, help="student epochs (default 8)")
    parser.add_argument(
        "--freeze-detector",
        action="store_true",
        help="train only the embedding branch (default: fine-tune the detector on its boxes)",
    )
    parser.add_argument("--score-thr", type=float, help="pseudo-box score threshold")
    parser.add_argument("--fps", type=int, help="frame rate of inputs that give none")
    parser.add_argument(
        "--student-options",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="student config overrides, written into WORK_DIR/configs/student_footage.py",
    )
    parser.add_argument("--no-video", action="store_true", help="step 4 writes the txt only")
    parser.add_argument("--overwrite", action="store_true", help="redo step 1 with new settings")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def _options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings parsed as mmengine's ``--cfg-options`` parses them."""
    parser = argparse.ArgumentParser(prog="--student-options")
    parser.add_argument("options", nargs="*", action=DictAction)
    return parser.parse_args(pairs).options or {}


def _step(number: str, text: str) -> None:
    print(f"\n\033[1m[adapt {number}] {text}\033[0m", flush=True)


def _run(log: Path, command: list[str], *options: str) -> None:
    """One tool through run_step.py (progress bar, result line, whole output in ``log``)."""
    step = [sys.executable, str(RUN_STEP), "--log", str(log), *options, "--", *command]
    # in the caller's folder: relative paths in the options mean what they meant to the user
    status = subprocess.run(step).returncode
    if status != 0:
        raise SystemExit(status)


def _pseudo_boxes_done(
    layout: Any, names: list[str], config: str, checkpoint: str, args: argparse.Namespace
) -> bool:
    """Whether step 1's output exists for these inputs, this detector and these thresholds.

    Anything else (another input, detector, threshold) runs the tool, which labels what is
    missing or refuses settings that differ from the folder's, naming them.
    """
    from mmdistillmot.apis.pseudo_labels import MANIFEST_FILE

    manifest_path = layout.pseudo / MANIFEST_FILE
    if args.overwrite or not layout.ann_file.is_file() or not manifest_path.is_file():
        return False
    manifest = json.loads(manifest_path.read_text())
    settings = manifest.get("settings", {})
    detector = settings.get("detector", {})
    return (
        manifest.get("order") == names
        and (detector.get("config"), detector.get("checkpoint")) == (config, checkpoint)
        and (args.score_thr is None or settings.get("score_thr") == args.score_thr)
        and (args.fps is None or settings.get("default_fps") == args.fps)
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_errors(args.debug):  # a missing file, a config that is no one-stage TDT: one line
        return adapt(args)


def adapt(args: argparse.Namespace) -> int:
    """Run (or resume) the four steps; a failed step ends the tool with its exit status."""
    from mmdistillmot.apis.footage_adaptation import AdaptationLayout, footage_student_config
    from mmdistillmot.apis.pseudo_labels import sequence_names

    layout = AdaptationLayout(Path(args.work_dir).resolve())
    python = sys.executable
    tool = lambda *parts: str(REPO.joinpath(*parts))  # noqa: E731
    detector_config, detector_ckpt = (os.path.abspath(p) for p in args.detector)
    for path in (detector_config, detector_ckpt, args.teacher, args.student, *args.inputs):
        if not os.path.exists(path):
            raise FileNotFoundError(f"'{path}' does not exist")
    inputs = [os.path.abspath(p) for p in args.inputs]
    names = sequence_names(inputs)
    layout.logs.mkdir(parents=True, exist_ok=True)
    print(f"each step's whole output goes to {layout.logs}/")

    _step("1/4", f"pseudo boxes on {len(inputs)} input(s) -> {layout.pseudo}")
    if _pseudo_boxes_done(layout, names, detector_config, detector_ckpt, args):
        print(f"  done already ({layout.ann_file}); skipping")
    else:
        # the tool keeps the sequences it finished and refuses other settings, naming them
        command = [
            python, tool("tools", "distill", "pseudo_label_footage.py"), *inputs,
            "--detector", detector_config, detector_ckpt, "--out", str(layout.pseudo),
        ]  # fmt: skip
        command += ["--score-thr", str(args.score_thr)] if args.score_thr is not None else []
        command += ["--fps", str(args.fps)] if args.fps is not None else []
        command += ["--overwrite"] if args.overwrite else []
        _run(layout.logs / "1_pseudo_boxes.log", command, "--desc", "frames",
             "--result", "", r"(pseudo boxes: \d+ on \d+ frames)")  # fmt: skip

    _step("2/4", f"pseudo embeddings from the teacher -> {layout.store}")
    if (layout.store / "fingerprint.json").is_file() and not args.overwrite:
        print(f"  done already ({layout.store}); skipping")
    else:
        command = [
            python, tool("tools", "distill", "extract_teacher_embeddings.py"), args.teacher,
            str(layout.ann_file), str(layout.pseudo), str(layout.store), "--resume",
        ]  # fmt: skip
        command += ["--cfg-options", *args.teacher_options] if args.teacher_options else []
        _run(layout.logs / "2_pseudo_embeddings.log", command, "--desc", "boxes",
             "--result", "", r"(wrote \d+ embeddings of dim \d+)")  # fmt: skip

    _step("3/4", f"one-stage student ({args.epochs} epochs) -> {layout.student}")
    base = Config.fromfile(args.student)
    cfg = footage_student_config(
        base,
        layout.pseudo,
        layout.store,
        args.epochs,
        load_from=args.load_from,
        freeze_detector=args.freeze_detector,
    )
    if args.student_options:
        # into the written config, so that every later tool (train, test, track, analysis)
        # builds the same student from it
        cfg.merge_from_dict(_options(args.student_options))
    layout.config.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(layout.config))
    print(f"  config: {layout.config}")
    checkpoint = layout.checkpoint(args.epochs)
    if checkpoint.is_file():
        print(f"  done already ({checkpoint}); skipping")
    else:
        command = [
            python, tool("tools", "train.py"), str(layout.config),
            "--work-dir", str(layout.student), "--resume",
        ]  # fmt: skip
        _run(layout.logs / "3_student.log", command, "--desc", "iterations",
             "--epochs", str(args.epochs),
             "--result", "loss_embed", r"loss_embed: ([0-9.]+)")  # fmt: skip

    _step("4/4", f"track the footage -> {layout.tracks}")
    layout.tracks.mkdir(parents=True, exist_ok=True)
    for name, source in zip(names, inputs):
        txt = layout.tracks / f"{name}.txt"
        if txt.is_file():
            print(f"  done already ({txt}); skipping")
            continue
        video = layout.tracks / f"{name}.mp4"
        out = ["--txt", str(txt)] if args.no_video else ["--out", str(video)]
        command = [
            python, tool("tools", "demo", "track_video.py"), str(layout.config), str(checkpoint),
            source, *out,
        ]  # fmt: skip
        _run(layout.logs / f"4_track_{name}.log", command, "--desc", f"{name} frames",
             "--result", "", r"(tracked \d+ frames in .*)")  # fmt: skip
    print(f"\nadapted student: {checkpoint}\ntracks: {layout.tracks}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
