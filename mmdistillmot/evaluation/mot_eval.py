"""Score MOTChallenge result files against MOTChallenge ground truth with TrackEval's metrics.

The files are read and checked by :mod:`mmdistillmot.datasets.mot_files` (so a malformed line is
reported as ``path:line: what``); the MOTChallenge preprocessing is done here; the scores come
from TrackEval 1.3.0's own metric classes (``HOTA``, ``CLEAR``, ``Identity``), so the numbers
are TrackEval's.

Preprocessing, as TrackEval's ``MotChallenge2DBox`` does it for MOTChallenge:

* MOT16/17/20-style ground truth (9 columns, with class and visibility): per frame, result boxes
  are matched one-to-one to *all* ground-truth boxes (Hungarian, IoU >= 0.5); results matched to
  a distractor (``person_on_vehicle`` 2, ``static_person`` 7, ``distractor`` 8, ``reflection``
  12, and ``non_mot_vehicle`` 6 for MOT20 sequences) are dropped. Then only pedestrian (class 1)
  ground truth whose active flag is non-zero is scored. Visibility does not filter: a fully
  occluded but active pedestrian is still a target, as in the official evaluation.
* MOT15-style ground truth (10 columns, no class): every row whose confidence flag is non-zero
  is scored; nothing is removed from the results.

The active/confidence flag is truncated to an integer before the test, as TrackEval does.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from mmdistillmot.datasets.mot_files import MOTFile, MOTFormatError, read_mot_file, read_seqinfo

# trackeval prints a notice about an optional dependency of one of its datasets (BURST) on
# import; it concerns nothing used here, so keep it off the user's screen.
with contextlib.redirect_stdout(io.StringIO()):
    from trackeval.metrics import CLEAR, HOTA, Identity

__all__ = [
    "MOTEvalResult",
    "MOTEvalWarning",
    "MOTSequenceFiles",
    "SUMMARY_KEYS",
    "box_iou_xywh",
    "distractor_classes_for",
    "evaluate_mot_results",
    "find_gt_sequences",
    "format_results_table",
    "prepare_sequence",
    "score_sequences",
]

PEDESTRIAN_CLASS = 1
#: MOTChallenge class ids: pedestrian 1, person_on_vehicle 2, car 3, bicycle 4, motorbike 5,
#: non_mot_vehicle 6, static_person 7, distractor 8, occluder 9, occluder_on_ground 10,
#: occluder_full 11, reflection 12, crowd 13.
VALID_CLASSES = frozenset(range(1, 14))
DISTRACTOR_CLASSES = (2, 7, 8, 12)
MOT20_EXTRA_DISTRACTORS = (6,)
#: Distractor matching threshold of the MOTChallenge preprocessing (fixed by the benchmark).
DISTRACTOR_IOU = 0.5

#: The headline numbers, in table order. IDs = identity switches (TrackEval's ``IDSW``),
#: FP/FN = CLEAR false positives/negatives (``CLR_FP``/``CLR_FN``).
SUMMARY_KEYS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDs", "FP", "FN")
_ALIASES = {"IDs": "IDSW", "FP": "CLR_FP", "FN": "CLR_FN"}
_FRACTION_KEYS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP")

_EPS = np.finfo(float).eps


class MOTEvalWarning(UserWarning):
    """Something was scored in a way the user may not expect (e.g. a missing result file)."""


@dataclass(frozen=True)
class MOTSequenceFiles:
    """Where one ground-truth sequence lives.

    Attributes:
        name: Sequence name (its folder under the ground-truth root).
        gt_file: ``SEQ/gt/gt.txt``, or ``SEQ/gt.txt`` in the flat layout.
        seqinfo_file: ``SEQ/seqinfo.ini`` when present, else ``None`` (the sequence length is
            then the last frame seen in ground truth or result).
    """

    name: str
    gt_file: Path
    seqinfo_file: Path | None


@dataclass
class MOTEvalResult:
    """Scores per sequence and over all sequences together.

    Each score dict holds :data:`SUMMARY_KEYS` first, then every summary field of TrackEval's
    HOTA (``DetRe``, ``DetPr``, ``AssRe``, ``AssPr``, ``LocA``, ``OWTA``, ``HOTA(0)``,
    ``LocA(0)``, ``HOTALocA(0)``; fields over IoU thresholds averaged as TrackEval reports them),
    CLEAR (``MOTP``, ``MODA``, ``CLR_Re``, ``CLR_Pr``, ``MT``, ``PT``, ``ML``, ``Frag``, ...) and
    Identity (``IDP``, ``IDR``, ``IDTP``, ``IDFP``, ``IDFN``), and the counts ``GT_Dets``,
    ``Dets``, ``GT_IDs``, ``Tracker_IDs`` after preprocessing. Fractions are in [0, 1].

    Attributes:
        sequences: Sequence name -> scores, in evaluation order.
        combined: Scores over all sequences (TrackEval's ``COMBINED_SEQ``: counts summed,
            ratios recomputed from the sums).
    """

    sequences: dict[str, dict[str, float | int]] = field(default_factory=dict)
    combined: dict[str, float | int] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The scores as plain JSON types: ``{'sequences': {...}, 'combined': {...}}``."""
        return {"sequences": self.sequences, "combined": self.combined}


def distractor_classes_for(sequence: str) -> tuple[int, ...]:
    """Distractor classes of the MOTChallenge preprocessing for one sequence.

    Args:
        sequence: Sequence name; names starting with ``MOT20`` also treat
            ``non_mot_vehicle`` (6) as a distractor, as the MOT20 benchmark does.

    Returns:
        The class ids whose matched results are dropped before scoring.
    """
    if sequence.upper().startswith("MOT20"):
        return DISTRACTOR_CLASSES + MOT20_EXTRA_DISTRACTORS
    return DISTRACTOR_CLASSES


def box_iou_xywh(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Intersection over union of two sets of ``[x, y, w, h]`` boxes.

    Boxes with no area have IoU 0 with everything (as in TrackEval).

    Args:
        boxes1: Shape (N, 4), top-left corner and size.
        boxes2: Shape (M, 4), top-left corner and size.

    Returns:
        IoU matrix, shape (N, M), float64.
    """
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    inter_w = np.minimum(ax2[:, None], bx2[None]) - np.maximum(ax1[:, None], bx1[None])
    inter_h = np.minimum(ay2[:, None], by2[None]) - np.maximum(ay1[:, None], by1[None])
    inter = np.clip(inter_w, 0, None) * np.clip(inter_h, 0, None)
    area_a, area_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
    union = area_a[:, None] + area_b[None] - inter
    valid = (area_a[:, None] > _EPS) & (area_b[None] > _EPS) & (union > _EPS)
    return np.where(valid, inter / np.where(valid, union, 1.0), 0.0)


def find_gt_sequences(gt_root: str | Path) -> dict[str, MOTSequenceFiles]:
    """Lists the sequences of a MOTChallenge-layout ground-truth root.

    A sub-folder ``SEQ`` is a sequence when it holds ``gt/gt.txt`` (MOTChallenge layout; chosen
    when both exist) or ``gt.txt`` (flat layout, as in ``motmetrics/data/TUD-Campus``).

    Args:
        gt_root: The ground-truth root folder.

    Returns:
        Sequence name -> its files, sorted by name.

    Raises:
        FileNotFoundError: When ``gt_root`` is not a folder or holds no sequence.
    """
    root = Path(gt_root)
    if not root.is_dir():
        raise FileNotFoundError(f"ground-truth root is not a folder: {root}")
    sequences = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for candidate in (folder / "gt" / "gt.txt", folder / "gt.txt"):
            if candidate.is_file():
                seqinfo = folder / "seqinfo.ini"
                sequences[folder.name] = MOTSequenceFiles(
                    folder.name, candidate, seqinfo if seqinfo.is_file() else None
                )
                break
    if not sequences:
        raise FileNotFoundError(
            f"no sequence under {root}: expected {root}/SEQ/gt/gt.txt or {root}/SEQ/gt.txt"
        )
    return sequences


def _check_frames(parsed: MOTFile, num_frames: int, source: str) -> None:
    """Refuses rows past the sequence's last frame (TrackEval refuses them too)."""
    if len(parsed) and parsed.rows["frame"].max() > num_frames:
        row = parsed.rows[np.argmax(parsed.rows["frame"] > num_frames)]
        raise MOTFormatError(
            parsed.path,
            int(row["line"]),
            f"frame {row['frame']} is beyond the sequence's last frame {num_frames} ({source})",
        )


def _split_by_frame(rows: np.ndarray, num_frames: int) -> list[np.ndarray]:
    """Rows grouped per frame 1..num_frames, each group in file order."""
    order = np.argsort(rows["frame"], kind="stable")
    sorted_rows = rows[order]
    bounds = np.searchsorted(sorted_rows["frame"], np.arange(1, num_frames + 2))
    return [sorted_rows[bounds[t] : bounds[t + 1]] for t in range(num_frames)]


def _relabel(ids_per_frame: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Maps identities to 0..K-1 (TrackEval's metrics index arrays by id)."""
    present = np.unique(np.concatenate(ids_per_frame)) if ids_per_frame else np.zeros(0, int)
    relabelled = [np.searchsorted(present, ids).astype(int) for ids in ids_per_frame]
    return relabelled, int(present.size)


def prepare_sequence(
    gt: MOTFile,
    result: MOTFile,
    num_frames: int,
    distractor_classes: Iterable[int] = DISTRACTOR_CLASSES,
    name: str = "",
) -> dict[str, Any]:
    """Applies the MOTChallenge preprocessing and builds TrackEval's per-sequence data dict.

    Args:
        gt: Ground truth read with ``kind='gt'`` (style ``'mot15'`` or ``'mot16'``).
        result: Tracker output read with ``kind='result'``.
        num_frames: Frames in the sequence; frames 1..num_frames are scored.
        distractor_classes: Classes whose matched results are dropped (MOT16+ gt only).
        name: Sequence name, recorded in the dict.

    Returns:
        The dict TrackEval's metrics take: ``num_timesteps``, ``num_gt_ids``,
        ``num_tracker_ids``, ``num_gt_dets``, ``num_tracker_dets`` (ints) and, per frame,
        ``gt_ids`` (G_t,), ``tracker_ids`` (T_t,), ``tracker_confidences`` (T_t,), ``gt_dets``
        (G_t, 4), ``tracker_dets`` (T_t, 4) and ``similarity_scores`` (G_t, T_t) IoU.

    Raises:
        MOTFormatError: On a ground-truth class outside 1..13 (MOT16+ style), or a row beyond
            ``num_frames``.
    """
    _check_frames(gt, num_frames, "sequence length")
    _check_frames(result, num_frames, "sequence length")
    with_classes = gt.style == "mot16"
    if with_classes and len(gt):
        invalid = ~np.isin(gt.rows["class_id"], list(VALID_CLASSES))
        if invalid.any():
            row = gt.rows[np.argmax(invalid)]
            raise MOTFormatError(
                gt.path, int(row["line"]), f"class {row['class_id']} is not a MOTChallenge class"
            )
    distractors = np.asarray(list(distractor_classes), dtype=np.int64)
    gt_frames = _split_by_frame(gt.rows, num_frames)
    result_frames = _split_by_frame(result.rows, num_frames)
    data: dict[str, Any] = {
        key: []
        for key in (
            "gt_ids",
            "tracker_ids",
            "gt_dets",
            "tracker_dets",
            "tracker_confidences",
            "similarity_scores",
        )
    }
    for gt_t, res_t in zip(gt_frames, result_frames):
        gt_boxes = np.stack([gt_t[k] for k in ("x", "y", "w", "h")], axis=1).reshape(-1, 4)
        res_boxes = np.stack([res_t[k] for k in ("x", "y", "w", "h")], axis=1).reshape(-1, 4)
        similarity = box_iou_xywh(gt_boxes, res_boxes)
        keep_result = np.ones(len(res_t), dtype=bool)
        if with_classes and len(gt_t) and len(res_t):
            # Results matched to distractors (e.g. a static person) are neither TP nor FP.
            scores = np.where(similarity >= DISTRACTOR_IOU - _EPS, similarity, 0.0)
            rows, cols = linear_sum_assignment(-scores)
            matched = scores[rows, cols] > _EPS
            hits_distractor = np.isin(gt_t["class_id"][rows[matched]], distractors)
            keep_result[cols[matched][hits_distractor]] = False
        # Active flag truncated to int, as TrackEval reads it; MOT15 gt has no classes.
        keep_gt = np.trunc(gt_t["conf"]) != 0
        if with_classes:
            keep_gt &= gt_t["class_id"] == PEDESTRIAN_CLASS
        data["gt_ids"].append(gt_t["id"][keep_gt])
        data["gt_dets"].append(gt_boxes[keep_gt])
        data["tracker_ids"].append(res_t["id"][keep_result])
        data["tracker_dets"].append(res_boxes[keep_result])
        data["tracker_confidences"].append(res_t["conf"][keep_result])
        data["similarity_scores"].append(similarity[keep_gt][:, keep_result])
    data["gt_ids"], data["num_gt_ids"] = _relabel(data["gt_ids"])
    data["tracker_ids"], data["num_tracker_ids"] = _relabel(data["tracker_ids"])
    data["num_gt_dets"] = int(sum(len(ids) for ids in data["gt_ids"]))
    data["num_tracker_dets"] = int(sum(len(ids) for ids in data["tracker_ids"]))
    data["num_timesteps"] = num_frames
    data["seq"] = name
    return data


def _to_builtin(value: Any) -> float | int:
    """A TrackEval value as a JSON number: arrays over IoU thresholds become their mean."""
    if isinstance(value, np.ndarray):
        return float(np.mean(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


_INTEGER_FIELDS = (
    "CLR_TP",
    "CLR_FN",
    "CLR_FP",
    "IDSW",
    "MT",
    "PT",
    "ML",
    "Frag",
    "CLR_Frames",
    "IDTP",
    "IDFN",
    "IDFP",
)


def _summarise(metric_results: dict[str, dict[str, Any]], counts: dict[str, int]) -> dict:
    """Flattens one sequence's (or the combination's) metric dicts into one score dict."""
    flat: dict[str, float | int] = {}
    for metric_name, fields in _METRIC_FIELDS.items():
        for name in fields:
            flat[name] = _to_builtin(metric_results[metric_name][name])
    # TrackEval keeps some counts as floats; they are whole numbers.
    for name in _INTEGER_FIELDS:
        flat[name] = int(round(float(flat[name])))
    summary: dict[str, float | int] = {key: flat[_ALIASES.get(key, key)] for key in SUMMARY_KEYS}
    summary.update(flat)
    summary.update(counts)
    return summary


_METRIC_FIELDS: dict[str, tuple[str, ...]] = {
    "HOTA": tuple(HOTA().summary_fields),
    "CLEAR": tuple(CLEAR({"PRINT_CONFIG": False}).fields),
    "Identity": tuple(Identity({"PRINT_CONFIG": False}).fields),
}


def score_sequences(
    prepared: dict[str, dict[str, Any]], iou_threshold: float = 0.5
) -> MOTEvalResult:
    """Runs TrackEval's HOTA, CLEAR and Identity on prepared sequences and combines them.

    Args:
        prepared: Sequence name -> the dict from :func:`prepare_sequence`.
        iou_threshold: Match threshold of CLEAR and Identity (HOTA sweeps 0.05..0.95).

    Returns:
        Per-sequence and combined scores.
    """
    config = {"THRESHOLD": iou_threshold, "PRINT_CONFIG": False}
    metrics = {"HOTA": HOTA(), "CLEAR": CLEAR(config), "Identity": Identity(config)}
    raw: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in metrics}
    result = MOTEvalResult()
    total_counts = dict.fromkeys(("GT_Dets", "Dets", "GT_IDs", "Tracker_IDs"), 0)
    for seq, data in prepared.items():
        per_metric = {name: metric.eval_sequence(data) for name, metric in metrics.items()}
        for name, res in per_metric.items():
            raw[name][seq] = res
        counts = {
            "GT_Dets": data["num_gt_dets"],
            "Dets": data["num_tracker_dets"],
            "GT_IDs": data["num_gt_ids"],
            "Tracker_IDs": data["num_tracker_ids"],
        }
        for key, value in counts.items():
            total_counts[key] += value
        result.sequences[seq] = _summarise(per_metric, counts)
    if prepared:
        combined = {name: metric.combine_sequences(raw[name]) for name, metric in metrics.items()}
        result.combined = _summarise(combined, total_counts)
    return result


def _is_seqmap(path: Path) -> bool:
    """Whether a ``.txt`` file is a TrackEval seqmap (first line ``name``), not a result.

    mmdet's ``MOTChallengeMetric`` writes one (``videoseq.txt``) beside its result files.
    """
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        return handle.readline().strip() == "name"


def _find_results(results_dir: Path) -> dict[str, Path]:
    """Result files ``SEQ.txt`` in a folder, by sequence name (seqmaps are skipped)."""
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder not found: {results_dir}")
    return {
        p.stem: p for p in sorted(results_dir.glob("*.txt")) if p.is_file() and not _is_seqmap(p)
    }


def evaluate_mot_results(
    gt_root: str | Path,
    results_dir: str | Path,
    seqs: Sequence[str] | None = None,
    iou_threshold: float = 0.5,
    progress: bool = False,
) -> MOTEvalResult:
    """Scores a folder of MOTChallenge result files against a MOTChallenge ground-truth root.

    Args:
        gt_root: Folder with ``SEQ/gt/gt.txt`` (or ``SEQ/gt.txt``) and optional
            ``SEQ/seqinfo.ini`` per sequence; MOT15- and MOT16+-style files alike.
        results_dir: Folder with one ``SEQ.txt`` per sequence
            (``frame,id,x,y,w,h,conf,-1,-1,-1``).
        seqs: Sequences to score (default: every ground-truth sequence). Result files of
            sequences not listed are then ignored.
        iou_threshold: Match threshold of CLEAR and Identity.
        progress: Show a progress bar over sequences (on stderr, when it is a terminal).

    Returns:
        Per-sequence and combined scores (see :class:`MOTEvalResult`).

    Raises:
        FileNotFoundError: When a folder is missing or holds no sequence.
        ValueError: When a result file (or a name in ``seqs``) names no ground-truth sequence.
        MOTFormatError: On a malformed line in any file read, naming file and line.
    """
    gt_sequences = find_gt_sequences(gt_root)
    results = _find_results(Path(results_dir))
    if seqs:
        unknown = [s for s in seqs if s not in gt_sequences]
        if unknown:
            raise ValueError(
                f"sequences {unknown} are not in the ground truth {gt_root} "
                f"(it has {sorted(gt_sequences)})"
            )
        selected = list(dict.fromkeys(seqs))
    else:
        unknown = [s for s in results if s not in gt_sequences]
        if unknown:
            raise ValueError(
                f"result files {[str(results[s]) for s in unknown]} name no sequence of the "
                f"ground truth {gt_root} (it has {sorted(gt_sequences)}); remove them or pass "
                f"the sequences to score"
            )
        selected = list(gt_sequences)
    prepared = {}
    iterator: Iterable[str] = selected
    if progress:
        from tqdm import tqdm

        # disable=None: a bar on a terminal only, so logs and pipes stay clean.
        iterator = tqdm(selected, desc="scoring sequences", unit="seq", disable=None)
    for seq in iterator:
        prepared[seq] = _prepare_from_files(gt_sequences[seq], results.get(seq), results_dir)
    return score_sequences(prepared, iou_threshold)


def _prepare_from_files(
    files: MOTSequenceFiles, result_file: Path | None, results_dir: str | Path
) -> dict[str, Any]:
    """Reads one sequence's files and preprocesses them."""
    gt = read_mot_file(files.gt_file, "gt")
    if result_file is None:
        warnings.warn(
            f"no result file {Path(results_dir) / (files.name + '.txt')} for ground-truth "
            f"sequence {files.name}: scored as an empty result",
            MOTEvalWarning,
            stacklevel=3,
        )
        result = MOTFile(
            path=Path(results_dir) / f"{files.name}.txt",
            kind="result",
            style="result",
            rows=gt.rows[:0].copy(),
        )
    else:
        result = read_mot_file(result_file, "result")
    if files.seqinfo_file is not None:
        info = read_seqinfo(files.seqinfo_file)
        num_frames = info.seq_length
        _check_frames(gt, num_frames, f"seqLength in {files.seqinfo_file}")
        _check_frames(result, num_frames, f"seqLength in {files.seqinfo_file}")
    else:
        # No seqinfo.ini (e.g. MOT15 copies): the last frame seen ends the sequence.
        last = [int(f.rows["frame"].max()) for f in (gt, result) if len(f)]
        num_frames = max(last, default=0)
    return prepare_sequence(
        gt, result, num_frames, distractor_classes_for(files.name), name=files.name
    )


def format_results_table(result: MOTEvalResult) -> str:
    """A readable table: one row per sequence and a ``COMBINED`` row.

    HOTA, DetA, AssA, MOTA, IDF1 and MOTP are shown in percent; IDs, FP, FN, MT, ML as counts.

    Args:
        result: The scores to show.

    Returns:
        The table as text, lines joined with newlines.
    """
    columns = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP", "IDs", "FP", "FN", "MT", "ML")
    rows = list(result.sequences.items())
    if result.combined:
        rows.append(("COMBINED", result.combined))
    name_width = max([len("Sequence")] + [len(name) for name, _ in rows])
    widths = [max(7, len(c)) for c in columns]
    header = "Sequence".ljust(name_width) + "".join(c.rjust(w + 1) for c, w in zip(columns, widths))
    lines = [header, "-" * len(header)]
    for index, (name, scores) in enumerate(rows):
        if name == "COMBINED" and index == len(rows) - 1:
            lines.append("-" * len(header))
        cells = []
        for column, width in zip(columns, widths):
            value = scores[column]
            text = f"{100 * float(value):.2f}" if column in _FRACTION_KEYS else f"{int(value)}"
            cells.append(text.rjust(width + 1))
        lines.append(name.ljust(name_width) + "".join(cells))
    return "\n".join(lines)
