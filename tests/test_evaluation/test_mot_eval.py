"""Tests for MOTChallenge scoring: published TUD numbers, hand-worked cases, TrackEval itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mot_eval_helpers import TUD_SEQUENCES, as_results, copy_tud, two_walkers, write_sequence

from mmdistillmot.datasets.mot_files import (
    MOTFormatError,
    make_mot_rows,
    read_mot_file,
    write_mot_gt,
    write_mot_results,
)
from mmdistillmot.evaluation.mot_eval import (
    SUMMARY_KEYS,
    MOTEvalWarning,
    box_iou_xywh,
    distractor_classes_for,
    evaluate_mot_results,
    find_gt_sequences,
    format_results_table,
)

# Published for the CEM tracker on TUD-Campus / TUD-Stadtmitte (MOTChallenge devkit, quoted in the
# motmetrics README) and combined (see docs/reference.md); MOTA, IDF1, MOTP in percent there.
PUBLISHED = {
    "TUD-Campus": dict(MOTA=0.526, IDF1=0.558, MOTP=0.723, IDs=7, FP=13, FN=150, MT=1, ML=1),
    "TUD-Stadtmitte": dict(MOTA=0.564, IDF1=0.645, MOTP=0.654, IDs=7, FP=45, FN=452, MT=5, ML=1),
}
PUBLISHED_COMBINED = dict(MOTA=0.555, IDF1=0.624, HOTA=0.400, IDs=14, FP=58, FN=602)


def _check_published(scores: dict, expected: dict) -> None:
    for key, value in expected.items():
        if isinstance(value, int):
            assert scores[key] == value, key
        else:
            # Published to three decimals: agree within half a unit of the last digit.
            assert scores[key] == pytest.approx(value, abs=5e-4), key


@pytest.mark.parametrize("layout", ["flat", "mot"])
def test_tud_published_numbers(tmp_path, layout):
    gt_root, results = copy_tud(tmp_path, layout)
    scores = evaluate_mot_results(gt_root, results)
    assert list(scores.sequences) == list(TUD_SEQUENCES)
    _check_published(scores.combined, PUBLISHED_COMBINED)
    for seq, expected in PUBLISHED.items():
        _check_published(scores.sequences[seq], expected)
    # The headline keys come first and mirror TrackEval's own names.
    assert tuple(scores.combined)[: len(SUMMARY_KEYS)] == SUMMARY_KEYS
    assert scores.combined["IDs"] == scores.combined["IDSW"]
    assert scores.combined["FP"] == scores.combined["CLR_FP"]
    # Combined counts are the sums of the per-sequence counts.
    for key in ("IDs", "FP", "FN", "IDTP", "GT_Dets", "Dets"):
        assert scores.combined[key] == sum(s[key] for s in scores.sequences.values())


def test_selected_sequences_only(tud_dirs):
    gt_root, results = tud_dirs
    scores = evaluate_mot_results(gt_root, results, seqs=["TUD-Campus"])
    assert list(scores.sequences) == ["TUD-Campus"]
    _check_published(scores.combined, PUBLISHED["TUD-Campus"])
    with pytest.raises(ValueError, match="TUD-Crossing"):
        evaluate_mot_results(gt_root, results, seqs=["TUD-Crossing"])


def test_ground_truth_against_itself_scores_perfectly(tmp_path):
    gt_rows = two_walkers(10)
    write_sequence(tmp_path / "gt", "SEQ-A", gt_rows, 10)
    as_results(gt_rows, tmp_path / "res" / "SEQ-A.txt")
    scores = evaluate_mot_results(tmp_path / "gt", tmp_path / "res").combined
    for key in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP", "LocA"):
        assert scores[key] == pytest.approx(1.0), key
    assert (scores["IDs"], scores["FP"], scores["FN"], scores["CLR_TP"]) == (0, 0, 0, 20)


def test_tud_ground_truth_against_itself(tud_dirs):
    gt_root, results = tud_dirs
    for seq in TUD_SEQUENCES:
        shutil.copy(gt_root / seq / "gt.txt", results / f"{seq}.txt")
    combined = evaluate_mot_results(gt_root, results).combined
    assert combined["HOTA"] == pytest.approx(1.0)
    assert combined["MOTA"] == pytest.approx(1.0)
    assert combined["IDF1"] == pytest.approx(1.0)
    assert (combined["IDs"], combined["FP"], combined["FN"]) == (0, 0, 0)


def test_hand_worked_id_swap(tmp_path):
    # Two walkers that never overlap, 10 frames; the tracker follows both perfectly but swaps
    # their identities from frame 4 on (3 frames before, 7 after).
    gt_rows = two_walkers(10)
    write_sequence(tmp_path / "gt", "SEQ-A", gt_rows, 10)
    swapped = gt_rows.copy()
    after = swapped["frame"] >= 4
    swapped["id"] = np.where(swapped["id"] == 1, 11, 12)
    swapped["id"][after] = np.where(gt_rows["id"][after] == 1, 12, 11)
    as_results(swapped, tmp_path / "res" / "SEQ-A.txt")
    s = evaluate_mot_results(tmp_path / "gt", tmp_path / "res").combined
    # CLEAR: each walker switches once -> IDs 2; MOTA = (20 - 0 - 2) / 20.
    assert (s["IDs"], s["FP"], s["FN"]) == (2, 0, 0)
    assert s["MOTA"] == pytest.approx(0.9)
    # Identity: best one-to-one map keeps the 7-frame halves: IDTP = 14 of 20 -> IDF1 0.7.
    assert (s["IDTP"], s["IDFP"], s["IDFN"]) == (14, 6, 6)
    assert s["IDF1"] == pytest.approx(0.7)
    # HOTA: every box is found (DetA 1); for a TP of the 3-frame pairing Ass-IoU = 3/(3+7+7),
    # for a TP of the 7-frame pairing 7/(7+3+3); 6 and 14 TPs of each.
    ass_a = (6 * 3 / 17 + 14 * 7 / 13) / 20
    assert s["DetA"] == pytest.approx(1.0)
    assert s["AssA"] == pytest.approx(ass_a)
    assert s["HOTA"] == pytest.approx(np.sqrt(ass_a))


def _max_iou_between(gt: np.ndarray, a: int, b: int) -> float:
    """Largest IoU between the boxes of identities a and b over the frames they share."""
    best = 0.0
    for frame in np.intersect1d(gt["frame"][gt["id"] == a], gt["frame"][gt["id"] == b]):
        boxes = [
            np.array([[r[k] for k in ("x", "y", "w", "h")]])
            for r in (gt[(gt["frame"] == frame) & (gt["id"] == i)][0] for i in (a, b))
        ]
        best = max(best, float(box_iou_xywh(*boxes)[0, 0]))
    return best


def _swappable_pair(gt: np.ndarray, frame: int) -> tuple[int, int]:
    """Two people seen before and at ``frame`` whose boxes never overlap by IoU >= 0.5.

    Box continuity then cannot undo a swap, so the hand count in the test holds.
    """
    present = gt["id"][gt["frame"] == frame]
    seen_before = set(gt["id"][gt["frame"] < frame].tolist())
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            if {a, b} <= seen_before and _max_iou_between(gt, a, b) < 0.5:
                return int(a), int(b)
    raise AssertionError("no swappable pair in the test data")


def test_id_swap_in_a_copy_of_tud_campus(tud_dirs):
    # Swap two people of the real TUD-Campus ground truth from frame 30 on, in a copy.
    gt_root, results = tud_dirs
    gt = read_mot_file(gt_root / "TUD-Campus" / "gt.txt", "gt").rows
    a, b = _swappable_pair(gt, 30)
    swapped = gt.copy()
    late = swapped["frame"] >= 30
    swapped["id"][late & (gt["id"] == a)] = b
    swapped["id"][late & (gt["id"] == b)] = a
    as_results(gt, results / "TUD-Campus.txt")
    baseline = evaluate_mot_results(gt_root, results, seqs=["TUD-Campus"]).combined
    as_results(swapped, results / "TUD-Campus.txt")
    scores = evaluate_mot_results(gt_root, results, seqs=["TUD-Campus"]).combined
    assert (baseline["IDs"], baseline["IDF1"]) == (0, pytest.approx(1.0))
    assert scores["IDs"] == 2  # each of the two people switches identity once
    # Hand count for IDF1: each person's track splits at frame 30; the best one-to-one map keeps,
    # for both, the larger of "before" and "after" halves taken together.
    n = {
        (k, part): int(((gt["id"] == k) & (late == part)).sum()) for k in (a, b) for part in (0, 1)
    }
    kept = max(n[a, 0] + n[b, 0], n[a, 1] + n[b, 1])
    lost = n[a, 0] + n[b, 0] + n[a, 1] + n[b, 1] - kept
    assert scores["IDTP"] == len(gt) - lost
    assert scores["IDF1"] == pytest.approx((len(gt) - lost) / len(gt))
    assert scores["MOTA"] == pytest.approx(1 - 2 / len(gt))


def _preprocessing_case(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Writes a 3-frame MOT17-style case; returns (gt_root, results_dir).

    Frame 1 has each kind of annotation with a result box on each; frames 2 and 3 a result near
    a static person (IoU 2/3, then 1/3).
    """
    gt_boxes = {
        1: ([10, 10, 40, 100], 1, 1, 1.0),  # pedestrian: scored
        2: ([100, 10, 40, 100], 1, 7, 1.0),  # static person: distractor
        3: ([200, 10, 40, 100], 0, 1, 1.0),  # inactive pedestrian: not scored
        4: ([300, 10, 60, 40], 1, 3, 1.0),  # car: not scored, not a distractor
        5: ([400, 10, 40, 100], 1, 1, 0.0),  # fully occluded pedestrian: still scored
        6: ([500, 10, 40, 100], 1, 8, 0.4),  # distractor
        7: ([10, 300, 60, 40], 1, 6, 1.0),  # non-MOT vehicle: distractor in MOT20 only
    }
    frames = [1] * 7 + [2, 3]
    ids = list(gt_boxes) + [2, 2]
    gt = make_mot_rows(
        frames,
        ids,
        [v[0] for v in gt_boxes.values()] + [[100, 10, 40, 100]] * 2,
        conf=[v[1] for v in gt_boxes.values()] + [1, 1],
        class_id=[v[2] for v in gt_boxes.values()] + [7, 7],
        visibility=[v[3] for v in gt_boxes.values()] + [1.0, 1.0],
    )
    write_sequence(tmp_path / "gt", name, gt, 3)
    result = make_mot_rows(
        frames + [1],
        [100 + i for i in ids[:7]] + [102, 102, 199],
        [v[0] for v in gt_boxes.values()]
        + [[108, 10, 40, 100], [120, 10, 40, 100], [560, 300, 30, 30]],
        conf=0.9,
    )
    write_mot_results(tmp_path / "res" / f"{name}.txt", result)
    return tmp_path / "gt", tmp_path / "res"


@pytest.mark.parametrize(("name", "false_positives"), [("MOT17-90", 5), ("MOT20-90", 4)])
def test_hand_worked_mot17_preprocessing(tmp_path, name, false_positives):
    gt_root, results = _preprocessing_case(tmp_path, name)
    s = evaluate_mot_results(gt_root, results).combined
    # Scored gt: the pedestrian and the fully occluded pedestrian, both found.
    assert (s["GT_Dets"], s["CLR_TP"], s["FN"]) == (2, 2, 0)
    # Kept results that hit nothing scored: the inactive pedestrian's, the car's, the stray box,
    # the one at IoU 1/3 from a static person, and (MOT17 only) the non-MOT vehicle's. Dropped:
    # those on the static person (IoU 1 and 2/3) and on the distractor.
    assert s["FP"] == false_positives
    assert s["Dets"] == 2 + false_positives
    assert s["MOTA"] == pytest.approx((2 - false_positives) / 2)
    assert distractor_classes_for(name) == ((2, 7, 8, 12, 6) if "MOT20" in name else (2, 7, 8, 12))


def test_mot15_ground_truth_keeps_rows_with_nonzero_flag(tmp_path):
    gt = make_mot_rows(
        [1, 1, 2],
        [1, 2, 1],
        [[10, 10, 40, 100], [200, 10, 40, 100]] + [[12, 10, 40, 100]],
        conf=[1, 0, 1],
    )
    write_mot_gt(tmp_path / "gt" / "S" / "gt.txt", gt, style="mot15")
    result = make_mot_rows(
        [1, 1, 2], [5, 6, 5], [[10, 10, 40, 100], [200, 10, 40, 100], [12, 10, 40, 100]], conf=1.0
    )
    write_mot_results(tmp_path / "res" / "S.txt", result)
    s = evaluate_mot_results(tmp_path / "gt", tmp_path / "res").combined
    # No classes and no distractors in MOT15: the box on the zero-flagged row is a false positive.
    assert (s["GT_Dets"], s["CLR_TP"], s["FP"], s["FN"]) == (2, 2, 1, 0)
    assert s["CLR_Frames"] == 2  # no seqinfo.ini: the last frame seen ends the sequence


def test_missing_result_is_scored_empty_with_a_warning(tmp_path):
    gt_rows = two_walkers(5)
    write_sequence(tmp_path / "gt", "SEQ-A", gt_rows, 5)
    write_sequence(tmp_path / "gt", "SEQ-B", gt_rows, 5)
    as_results(gt_rows, tmp_path / "res" / "SEQ-A.txt")
    with pytest.warns(MOTEvalWarning, match="SEQ-B"):
        scores = evaluate_mot_results(tmp_path / "gt", tmp_path / "res")
    empty = scores.sequences["SEQ-B"]
    assert (empty["FN"], empty["FP"], empty["HOTA"], empty["MOTA"]) == (10, 0, 0.0, 0.0)
    assert scores.sequences["SEQ-A"]["HOTA"] == pytest.approx(1.0)
    assert scores.combined["MOTA"] == pytest.approx(0.5)


def test_seqmap_beside_results_is_not_a_result(tud_dirs):
    # mmdet's MOTChallengeMetric writes a TrackEval seqmap (videoseq.txt) beside its results.
    gt_root, results = tud_dirs
    (results / "videoseq.txt").write_text("name\nTUD-Campus\nTUD-Stadtmitte\n")
    assert evaluate_mot_results(gt_root, results).combined["FP"] == 58


def test_result_for_unknown_sequence_is_an_error(tud_dirs):
    gt_root, results = tud_dirs
    shutil.copy(results / "TUD-Campus.txt", results / "TUD-Crossing.txt")
    with pytest.raises(ValueError, match="TUD-Crossing.txt"):
        evaluate_mot_results(gt_root, results)


@pytest.mark.parametrize(
    ("target", "line", "fragment"),
    [
        ("gt", 5, "column 3 (x) is not a number"),
        ("result", 5, "expected 7 to 10 columns"),
    ],
)
def test_malformed_line_names_file_and_line(tud_dirs, target, line, fragment):
    gt_root, results = tud_dirs
    path = gt_root / "TUD-Campus" / "gt.txt" if target == "gt" else results / "TUD-Campus.txt"
    lines = path.read_text().splitlines()
    lines[line - 1] = "2,1,abc,182,121,229,1,-1,-1,-1" if target == "gt" else "2,1,399,182"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MOTFormatError) as info:
        evaluate_mot_results(gt_root, results)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_rows_beyond_seq_length_and_unknown_classes_are_refused(tmp_path):
    gt_rows = two_walkers(5)
    write_sequence(tmp_path / "gt", "S", gt_rows, 4)  # seqinfo says 4 frames, gt has 5
    as_results(gt_rows[:2], tmp_path / "res" / "S.txt")
    with pytest.raises(MOTFormatError, match=r"gt\.txt:9: frame 5 is beyond .* last frame 4"):
        evaluate_mot_results(tmp_path / "gt", tmp_path / "res")
    gt_rows["class_id"][2] = 14
    write_sequence(tmp_path / "gt", "S", gt_rows, 5)
    with pytest.raises(MOTFormatError, match=r"gt\.txt:3: class 14 is not a MOTChallenge class"):
        evaluate_mot_results(tmp_path / "gt", tmp_path / "res")


def test_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no sequence under"):
        find_gt_sequences(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="ground-truth root"):
        find_gt_sequences(tmp_path / "nope")
    write_sequence(tmp_path / "gt", "S", two_walkers(2), 2)
    with pytest.raises(FileNotFoundError, match="results folder"):
        evaluate_mot_results(tmp_path / "gt", tmp_path / "nope")


def test_box_iou_by_hand():
    boxes1 = np.array([[0, 0, 2, 2], [0, 0, 0, 5]], dtype=float)
    boxes2 = np.array([[1, 1, 2, 2], [0, 0, 2, 2], [5, 5, 1, 1]], dtype=float)
    # Overlap 1x1 over union 4 + 4 - 1; a zero-width box matches nothing.
    expected = np.array([[1 / 7, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(box_iou_xywh(boxes1, boxes2), expected)
    assert box_iou_xywh(np.zeros((0, 4)), boxes2).shape == (0, 3)


def test_table_shows_sequences_and_combined(tud_dirs):
    table = format_results_table(evaluate_mot_results(*tud_dirs))
    lines = table.splitlines()
    assert lines[0].split() == [
        "Sequence", "HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP", "IDs", "FP", "FN", "MT", "ML",
    ]  # fmt: skip
    combined = lines[-1].split()
    assert combined[0] == "COMBINED"
    assert (combined[1], combined[4], combined[5]) == ("40.00", "55.51", "62.43")
    assert combined[7:10] == ["14", "58", "602"]
    assert any(line.startswith("TUD-Stadtmitte") for line in lines)


@pytest.mark.assets
def test_matches_trackeval_pipeline_on_real_mot17(assets_root, tmp_path):
    """Our preprocessing + TrackEval's metrics == TrackEval's own MOTChallenge pipeline."""
    import trackeval

    gt_root = tmp_path / "gt"
    shutil.copytree(assets_root / "mot17_mini" / "train", gt_root)
    rng = np.random.default_rng(0)
    seq_lengths = {}
    for seq in sorted(p.name for p in gt_root.iterdir() if p.is_dir()):
        gt = read_mot_file(gt_root / seq / "gt" / "gt.txt", "gt").rows
        seq_lengths[seq] = int(gt["frame"].max())
        # A flawed tracker: pedestrians and static people (all classes' boxes would be FPs),
        # jittered, some dropped, some identities swapped, plus stray boxes.
        rows = gt[np.isin(gt["class_id"], [1, 7]) & (rng.random(len(gt)) > 0.15)].copy()
        for key in ("x", "y", "w", "h"):
            rows[key] += rng.normal(0, 4, len(rows))
        rows["w"], rows["h"] = np.abs(rows["w"]) + 1, np.abs(rows["h"]) + 1
        rows["id"] = np.where(rng.random(len(rows)) < 0.1, rows["id"] + 1000, rows["id"])
        stray = make_mot_rows(
            rng.integers(1, seq_lengths[seq] + 1, 6),
            np.arange(5000, 5006),
            np.c_[rng.uniform(0, 500, (6, 2)), rng.uniform(20, 80, (6, 2))],
            conf=0.5,
        )
        rows["conf"] = rng.uniform(0.3, 1.0, len(rows))
        write_mot_results(tmp_path / "trackers" / "flawed" / f"{seq}.txt", np.r_[rows, stray])
    ours = evaluate_mot_results(gt_root, tmp_path / "trackers" / "flawed")

    dataset_config = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    dataset_config.update(
        GT_FOLDER=str(gt_root),
        TRACKERS_FOLDER=str(tmp_path / "trackers"),
        TRACKERS_TO_EVAL=["flawed"],
        BENCHMARK="MOT17",
        SKIP_SPLIT_FOL=True,
        TRACKER_SUB_FOLDER="",
        SEQ_INFO=seq_lengths,
        PRINT_CONFIG=False,
    )
    eval_config = trackeval.Evaluator.get_default_eval_config()
    eval_config.update(
        USE_PARALLEL=False, PRINT_CONFIG=False, PRINT_RESULTS=False, OUTPUT_SUMMARY=False,
        OUTPUT_DETAILED=False, PLOT_CURVES=False, TIME_PROGRESS=False, OUTPUT_EMPTY_CLASSES=False,
    )  # fmt: skip
    metric_config = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    metrics = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR(metric_config),
        trackeval.metrics.Identity(metric_config),
    ]
    output, _ = trackeval.Evaluator(eval_config).evaluate(
        [trackeval.datasets.MotChallenge2DBox(dataset_config)], metrics
    )
    theirs = output["MotChallenge2DBox"]["flawed"]
    assert ours.combined["FP"] > 0 and ours.combined["IDs"] > 0  # the case is not trivial
    for seq, scores in list(ours.sequences.items()) + [("COMBINED_SEQ", ours.combined)]:
        reference = theirs[seq]["pedestrian"]
        for metric_name in ("HOTA", "CLEAR", "Identity"):
            for key, value in reference[metric_name].items():
                if key in scores:
                    assert scores[key] == pytest.approx(np.mean(value), abs=1e-9), (seq, key)
