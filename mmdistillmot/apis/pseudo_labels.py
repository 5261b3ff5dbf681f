"""Pseudo boxes on unlabelled footage: a detector's people as a MOTChallenge-layout CocoVID set.

Step (a) of adapting a tracker to a user's own footage (``tools/distill/adapt_to_footage.py``):
every frame of every input (a video file or a folder of frames, see
:class:`~mmdistillmot.apis.video_tracking.FrameSource`) goes through an mmdet detector; its
people become the training boxes of the one-stage student, and the boxes the Re-ID teacher
embeds (step b, ``extract_teacher_embeddings.py``). No identity exists: each box gets an id of
its own, so nothing downstream can mistake two boxes for one person.

Output, under ``out_dir``::

    footage/<name>/img1/000001.jpg ...   the frames (a folder's files copied byte for byte when
                                         they share one extension, a video's frames as JPEG q95)
    footage/<name>/seqinfo.ini           name, frame rate (the input's, else ``default_fps``),
                                         length, size
    footage/<name>/det/det.txt           the kept boxes with their scores (MOT det layout)
    footage/<name>/gt/gt.txt             the same boxes as MOT16 ground truth, one id per box
    annotations/footage_cocoformat.json  CocoVID over all sequences (:mod:`..datasets.mot_cocovid`)
    pseudo_labels.json                   settings, detector and checkpoint hash, counts

Which boxes are kept: the detector's own test-time post-processing (its ``test_cfg``: score
threshold, NMS, ``max_per_img``; YOLOX-Nano's: NMS IoU 0.65), then only the classes named in
``class_names`` (COCO's ``person``), ``score >= score_thr`` (0.3 by default: YOLOX-Nano's person
precision on the MOT17 frames is 0.78 at 0.25, SOURCES.md; a training target should rather be
missed than wrong) and at least ``min_height`` pixels tall after clipping to the frame.

Resumable: a sequence is written to ``<name>.partial`` and renamed when whole, so a re-run
keeps finished sequences and redoes the others; a re-run with other settings is refused unless
``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mmdistillmot.apis.video_tracking import FrameSource
from mmdistillmot.datasets.mot_cocovid import sequences_to_cocovid
from mmdistillmot.datasets.mot_files import SeqInfo, make_mot_rows, write_mot_gt, write_seqinfo

__all__ = [
    "ANN_FILE",
    "MANIFEST_FILE",
    "PseudoLabelSettings",
    "detect_people",
    "keep_people",
    "pseudo_label_footage",
    "sequence_names",
]

#: The CocoVID file of all pseudo-labelled sequences, relative to ``out_dir``.
ANN_FILE = "annotations/footage_cocoformat.json"
#: Settings and counts of a pseudo-labelling run, relative to ``out_dir``.
MANIFEST_FILE = "pseudo_labels.json"
#: Folder of the sequences, relative to ``out_dir`` (the CocoVID ``file_name`` prefix).
FOOTAGE_DIR = "footage"

#: One detector call: a BGR uint8 frame [H, W, 3] -> ([N, 4] x1, y1, x2, y2 boxes, [N] scores,
#: [N] labels), after the detector's own post-processing.
DetectFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PseudoLabelSettings:
    """What decides the pseudo boxes (recorded in the manifest; a resume must match it).

    Attributes:
        score_thr: Least detector score of a kept box.
        min_height: Least box height in pixels, after clipping to the frame.
        class_names: Detector classes that count as people (case-insensitive).
        default_fps: Frame rate written when the input gives none (frame folders without a
            ``seqinfo.ini``); the tracker's lost-track buffer scales with it.
        detector: ``{'config': path, 'checkpoint': path, 'checkpoint_sha256': hex}``.
    """

    score_thr: float = 0.3
    min_height: float = 8.0
    class_names: tuple[str, ...] = ("person", "pedestrian")
    default_fps: int = 30
    detector: dict[str, str] = field(default_factory=dict)


def sequence_names(inputs: Sequence[str]) -> list[str]:
    """One unique sequence name per input.

    A video's stem, a folder's name (its parent's for a MOTChallenge ``img1``), with ``-2``,
    ``-3`` ... appended to repeats.

    Args:
        inputs: Video files or frame folders.

    Returns:
        The names, in input order.
    """
    names: list[str] = []
    for entry in inputs:
        path = Path(os.path.abspath(entry))
        if path.is_dir():
            base = path.parent.name if path.name == "img1" else path.name
        else:
            base = path.stem
        base = base or "footage"
        name, count = base, 1
        while name in names:
            count += 1
            name = f"{base}-{count}"
        names.append(name)
    return names


def keep_people(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    person_labels: Sequence[int],
    image_size: tuple[int, int],
    score_thr: float,
    min_height: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The people among a frame's detections, clipped to the frame.

    Args:
        boxes: [N, 4] ``x1, y1, x2, y2`` in pixels.
        scores: [N] detector scores.
        labels: [N] class indices.
        person_labels: Class indices that count as people.
        image_size: ``(width, height)`` of the frame.
        score_thr: Least score kept.
        min_height: Least clipped height kept (pixels); boxes of zero width go too.

    Returns:
        ``([K, 4] boxes, [K] scores)``, float64, in decreasing score order.
    """
    width, height = image_size
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    keep = (
        np.isin(labels, list(person_labels))
        & np.isfinite(scores)
        & (scores >= score_thr)
        & (clipped[:, 3] - clipped[:, 1] >= min_height)
        & (clipped[:, 2] - clipped[:, 0] > 0)
    )
    order = np.argsort(-scores[keep], kind="stable")
    return clipped[keep][order], scores[keep][order]


def detect_people(model: Any, class_names: Sequence[str]) -> tuple[DetectFn, list[int]]:
    """Wrap an mmdet detector (from ``mmdet.apis.init_detector``) as a :data:`DetectFn`.

    Args:
        model: The detector, with ``dataset_meta['classes']``.
        class_names: Class names that count as people.

    Returns:
        The per-frame call and the detector's class indices that count as people (all of its
        classes when it has one only).

    Raises:
        ValueError: The detector has several classes and none of ``class_names``.
    """
    from mmdet.apis import inference_detector  # mmdet's import registers every module

    classes = [str(c) for c in (model.dataset_meta or {}).get("classes", ())]
    wanted = {name.lower() for name in class_names}
    person_labels = [i for i, name in enumerate(classes) if name.lower() in wanted]
    if not person_labels:
        if len(classes) == 1:
            person_labels = [0]
        else:
            raise ValueError(
                f"the detector's classes ({', '.join(classes[:6])}, ...) include none of "
                f"{', '.join(class_names)}; name its people class with --class-names"
            )

    def detect(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        result = inference_detector(model, frame).pred_instances
        return (
            result.bboxes.cpu().numpy(),
            result.scores.cpu().numpy(),
            result.labels.cpu().numpy(),
        )

    return detect, person_labels


def _frame_writer(source: FrameSource) -> tuple[str, Callable[[int, np.ndarray, str], None]]:
    """The image extension of a pseudo sequence and how a frame is written there."""
    if source.is_folder:
        extensions = {os.path.splitext(name)[1].lower() for name in source.files}
        if len(extensions) == 1:
            (ext,) = extensions

            def copy(index: int, frame: np.ndarray, path: str) -> None:
                # the user's files unchanged: no second JPEG loss, same bytes the tracker reads
                shutil.copyfile(os.path.join(source.path, source.files[index]), path)

            return ext, copy

    def encode(index: int, frame: np.ndarray, path: str) -> None:
        if not cv2.imwrite(path, frame, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"could not write '{path}'")

    return ".jpg", encode


def _label_sequence(
    source: FrameSource,
    name: str,
    seq_dir: Path,
    detect: DetectFn,
    person_labels: Sequence[int],
    settings: PseudoLabelSettings,
    on_frame: Callable[[], None],
) -> dict[str, Any]:
    """Write one pseudo-labelled sequence into ``seq_dir`` (which must not exist)."""
    (seq_dir / "img1").mkdir(parents=True)
    ext, write_frame = _frame_writer(source)
    frames: list[int] = []
    ids: list[int] = []
    boxes_xywh: list[list[float]] = []
    scores: list[float] = []
    size: tuple[int, int] | None = None
    count = 0
    for index, frame in enumerate(source):
        height, width = frame.shape[:2]
        if size is None:
            size = (width, height)
        elif size != (width, height):
            raise ValueError(
                f"'{source.path}': frame {index + 1} is {width}x{height}, the first was "
                f"{size[0]}x{size[1]}; a sequence has one frame size"
            )
        write_frame(index, frame, str(seq_dir / "img1" / f"{index + 1:06d}{ext}"))
        boxes, kept_scores = keep_people(
            *detect(frame),
            person_labels=person_labels,
            image_size=(width, height),
            score_thr=settings.score_thr,
            min_height=settings.min_height,
        )
        for box, score in zip(boxes, kept_scores):
            frames.append(index + 1)
            ids.append(len(ids) + 1)  # one id per box: pseudo boxes carry no identity
            boxes_xywh.append([box[0], box[1], box[2] - box[0], box[3] - box[1]])
            scores.append(score)
        count = index + 1
        on_frame()
    if size is None:
        raise ValueError(f"'{source.path}' has no frames")
    fps = source.fps if source.fps else settings.default_fps
    write_seqinfo(
        seq_dir / "seqinfo.ini",
        SeqInfo(name, "img1", int(round(fps)), count, size[0], size[1], ext),
    )
    (seq_dir / "det").mkdir()
    (seq_dir / "gt").mkdir()
    xywh = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    det_rows = make_mot_rows(frames, [-1] * len(frames), xywh, conf=scores)
    lines = [
        f"{r['frame']},-1,{r['x']:.2f},{r['y']:.2f},{r['w']:.2f},{r['h']:.2f},{r['conf']:.4f}"
        for r in det_rows
    ]
    (seq_dir / "det" / "det.txt").write_text("".join(line + "\n" for line in lines))
    gt_rows = make_mot_rows(frames, ids, xywh, conf=1.0, class_id=1, visibility=1.0)
    write_mot_gt(seq_dir / "gt" / "gt.txt", gt_rows)
    return dict(
        name=name,
        source=os.path.abspath(source.path),
        frames=count,
        boxes=len(frames),
        fps=fps,
        fps_source=source.fps_source if source.fps else f"default ({settings.default_fps})",
    )


def _check_manifest(out_dir: Path, settings: PseudoLabelSettings, overwrite: bool) -> dict:
    """The manifest of an earlier run with the same settings, or a fresh one."""
    manifest_path = out_dir / MANIFEST_FILE
    # through json, as the earlier manifest was: tuples come back as lists
    fresh: dict[str, Any] = dict(settings=json.loads(json.dumps(asdict(settings))), sequences={})
    if not manifest_path.is_file():
        return fresh
    earlier = json.loads(manifest_path.read_text())
    if earlier.get("settings") == fresh["settings"]:
        return earlier
    if not overwrite:
        changed = sorted(
            key
            for key in fresh["settings"]
            if earlier.get("settings", {}).get(key) != fresh["settings"][key]
        )
        raise FileExistsError(
            f"'{manifest_path}' was written with other settings ({', '.join(changed)}); "
            "give --overwrite to label again, or another output folder"
        )
    shutil.rmtree(out_dir / FOOTAGE_DIR, ignore_errors=True)
    return fresh


def pseudo_label_footage(
    inputs: Sequence[str],
    out_dir: str,
    detect: DetectFn,
    person_labels: Sequence[int],
    settings: PseudoLabelSettings,
    overwrite: bool = False,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Pseudo-label every input (see the module docstring) and write the CocoVID file.

    Args:
        inputs: Video files or frame folders (MOTChallenge sequence folders: their ``img1``
            only; their ``gt`` is never read).
        out_dir: Output folder.
        detect: The detector (:func:`detect_people`).
        person_labels: Its class indices that count as people.
        settings: Thresholds and provenance.
        overwrite: Re-label when ``out_dir`` holds a run with other settings.
        progress: Called with the total number of frames; returns a bar with ``update()``.

    Returns:
        The manifest: settings, and per sequence its source, frames, boxes and frame rate.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    manifest = _check_manifest(root, settings, overwrite)
    sources = [FrameSource(path) for path in inputs]
    names = sequence_names(inputs)
    todo = [
        (name, src)
        for name, src in zip(names, sources)
        if not (root / FOOTAGE_DIR / name / "gt" / "gt.txt").is_file()
        or name not in manifest["sequences"]
    ]
    bar = progress(sum(len(src) for _, src in todo)) if progress else None
    for name, source in todo:
        final = root / FOOTAGE_DIR / name
        partial = root / FOOTAGE_DIR / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        summary = _label_sequence(
            source,
            name,
            partial,
            detect,
            person_labels,
            settings,
            on_frame=(bar.update if bar is not None else lambda: None),
        )
        # seqinfo's name is the folder's (mot_cocovid checks it): rename, then record it
        partial.rename(final)
        manifest["sequences"][name] = summary
        _write_json(root / MANIFEST_FILE, manifest)
    if bar is not None:
        bar.close()
    cocovid = sequences_to_cocovid([(root / FOOTAGE_DIR / n, f"{FOOTAGE_DIR}/{n}") for n in names])
    (root / ANN_FILE).parent.mkdir(parents=True, exist_ok=True)
    _write_json(root / ANN_FILE, cocovid)
    manifest["annotations"] = dict(
        file=ANN_FILE, images=len(cocovid["images"]), boxes=len(cocovid["annotations"])
    )
    manifest["order"] = names
    _write_json(root / MANIFEST_FILE, manifest)
    return manifest


def _write_json(path: Path, data: dict) -> None:
    """Write json through a temporary name: an interruption leaves the old file or the new."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
