"""tools/analysis/mot_param_search.py: a grid of tracker settings on one network pass.

The model is the synthetic TDT config at random initialisation (seeded), with its classification
layer scaled (x300, bias 0) so that the scores of its top 20 boxes per frame spread over about
0.79-0.94 instead of all sitting at the focal prior 0.01. Its boxes and metrics are therefore
meaningless; what matters is that every setting of the grid gives other tracks, so that
"the replay of a setting equals what ``tools/test.py --cfg-options SETTING`` gives" can fail.
The reference is the real tool, run as a user runs it (a subprocess: its own Runner, its own
network pass, its own tracker), and the equality is exact: same frames, same weights, same ops.
The network-pass count is measured by spies on the detector's and the Re-ID network's calls.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS
from mmengine.config import Config, DictAction

from mmdistillmot.apis.tracker_param_search import (
    SearchRow,
    cfg_options_line,
    format_table,
    grid_settings,
    parse_param,
    run_search,
    tracker_config,
    write_setting_results,
)
from mmdistillmot.datasets.mot_files import read_mot_file
from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher

REPO = Path(__file__).resolve().parents[2]
ONE_STAGE = REPO / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py"
TWO_STAGE = REPO / "configs" / "tdt" / "two-stage_r18_fpn_osnet_synthetic.py"


def _load_tool(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


search_tool = _load_tool("mot_param_search", REPO / "tools" / "analysis" / "mot_param_search.py")
track_video = _load_tool("track_video_for_search", REPO / "tools" / "demo" / "track_video.py")

# the random detector's top-20 scores lie in ~0.79-0.94: each threshold keeps another subset
GRID = [
    "--param", "model.tracker.obj_score_thr=0.8,0.83,0.86",
    "--param", "model.tracker.appearance_match_thr=0.3,0.6",
]  # fmt: skip


def _data_options(root: Path) -> list[str]:
    return [
        f"test_dataloader.dataset.data_root={root}/",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
        "test_dataloader.dataset.pipeline.0.transforms.1.scale=(160,96)",
        "model.detector.test_cfg.max_per_img=20",
    ]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random TDT whose scores spread (see the module docstring)."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(ONE_STAGE)).model)
    model.init_weights()
    head = model.detector.bbox_head
    with torch.no_grad():
        head.retina_cls.weight.mul_(300.0)
        head.retina_cls.bias.zero_()
    path = tmp_path_factory.mktemp("ckpt") / "tdt_random.pth"
    torch.save({"meta": {}, "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def osnet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random OSNet x0.25 as a weight file (the same weights in every process)."""
    torch.manual_seed(1)
    teacher = OSNetTeacher(arch="osnet_x0_25", allow_random_init=True)
    path = tmp_path_factory.mktemp("reid") / "osnet_x0_25_random.pth"
    torch.save(teacher.model.state_dict(), path)
    return path


def _count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[int]:
    """Count the calls of ``cls.name`` (one entry per call)."""
    calls: list[int] = []
    original = getattr(cls, name)

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counting)
    return calls


def _tools_test(config: Path, ckpt: Path, work: Path, options: list[str]) -> dict[str, float]:
    """tools/test.py as a user runs it; the metrics its Runner dumped."""
    # same thread count as this process: the same ops in the same order
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    cmd = [sys.executable, str(REPO / "tools" / "test.py"), str(config), str(ckpt),
           "--work-dir", str(work), "--cfg-options", *options]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (dumped,) = work.glob("*/*.json")
    metrics = json.loads(dumped.read_text())
    return {k: v for k, v in metrics.items() if k.startswith("motchallenge-metric/")}


def _config(config: Path, options: list[str], work_dir: Path) -> Config:
    """The config as the tool builds it from the same command line (--cfg-options applied)."""
    args = search_tool.parse_args(
        [str(config), "--param", "model.tracker.obj_score_thr=0.4", "--work-dir", str(work_dir),
         "--cfg-options", *options]
    )  # fmt: skip
    return search_tool.build_config(args)


def _rows(path: Path) -> np.ndarray:
    rows = read_mot_file(path, kind="result").rows
    return np.stack([rows[k] for k in ("frame", "id", "x", "y", "w", "h", "conf")], axis=1)


def test_param_values_and_grid_order() -> None:
    key, values = parse_param("model.tracker.obj_score_thr=0.3, 0.4,1,None,True")
    assert key == "model.tracker.obj_score_thr"
    assert values == [0.3, 0.4, 1, None, True]
    assert [type(v) for v in values] == [float, float, int, type(None), bool]
    settings = grid_settings([("model.tracker.a", [1, 2, 3]), ("model.tracker.b", ["x", "y"])])
    assert len(settings) == 6
    assert settings[:3] == [
        {"model.tracker.a": 1, "model.tracker.b": "x"},
        {"model.tracker.a": 1, "model.tracker.b": "y"},
        {"model.tracker.a": 2, "model.tracker.b": "x"},
    ]
    for bad, message in [
        ("model.detector.test_cfg.score_thr=0.1,0.2", "only tracker parameters"),
        ("model.tracker.obj_score_thr", "KEY=V1,V2"),
        ("model.tracker.obj_score_thr=0.3,,0.4", "empty value"),
        ("model.tracker.obj_score_thr=0.3,0.3", "repeated"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_param(bad)
    with pytest.raises(ValueError, match="given twice"):
        grid_settings([("model.tracker.a", [1]), ("model.tracker.a", [2])])


def test_best_line_parses_back_and_table_order() -> None:
    setting = {"model.tracker.obj_score_thr": 0.35, "model.tracker.min_box_area": None}
    line = cfg_options_line(setting)
    assert line == "model.tracker.obj_score_thr=0.35 model.tracker.min_box_area=None"
    parsed = argparse.Namespace()
    DictAction(option_strings=["--cfg-options"], dest="x")(None, parsed, line.split())
    assert parsed.x == setting  # what --cfg-options reads back is the setting itself
    # the merged tracker config is what --cfg-options would make of it
    cfg = Config.fromfile(str(ONE_STAGE))
    merged = tracker_config(cfg, setting)
    assert merged.obj_score_thr == 0.35 and merged.min_box_area is None
    assert cfg.model.tracker.obj_score_thr == 0.4  # the config itself is untouched

    def row(hota: float, ids: float) -> SearchRow:
        metrics = {"m/HOTA": hota, "m/MOTA": -0.5, "m/IDF1": 0.25, "m/IDSW": ids}
        return SearchRow({"model.tracker.obj_score_thr": hota}, metrics, 0.0)

    table = format_table([row(0.5, 3.0), row(0.125, 12.0)]).splitlines()
    assert table[0].split() == ["rank", "obj_score_thr", "HOTA", "MOTA", "IDF1", "IDs"]
    assert table[2].split() == ["1", "0.5", "50.00", "-50.00", "25.00", "3"]
    assert table[3].split() == ["2", "0.125", "12.50", "-50.00", "25.00", "12"]


def test_unknown_tracker_argument_is_refused_before_the_network_runs(capsys) -> None:
    # a typo would otherwise cost a whole network pass before the tracker build fails
    with pytest.raises(SystemExit, match="JDETracker has no argument 'obj_score_thresh'"):
        search_tool.main([str(ONE_STAGE), "--param", "model.tracker.obj_score_thresh=0.3,0.4"])
    with pytest.raises(SystemExit, match="only tracker parameters"):
        search_tool.main([str(ONE_STAGE), "--param", "model.detector.test_cfg.score_thr=0.1"])
    assert "network pass" not in capsys.readouterr().err


def test_replay_equals_tools_test_and_runs_the_detector_once_per_frame(
    tiny_synthetic_mot: Path, checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    detector_calls = _count_calls(monkeypatch, SingleStageDetector, "predict")
    work = tmp_path / "search"
    options = _data_options(tiny_synthetic_mot)
    argv = [str(ONE_STAGE), str(checkpoint), *GRID, "--work-dir", str(work),
            "--cfg-options", *options]  # fmt: skip
    assert search_tool.main(argv) == 0
    (sequence,) = sorted((tiny_synthetic_mot / "val").iterdir())
    num_frames = len(list((sequence / "img1").glob("*.jpg")))
    assert num_frames == 6
    assert len(detector_calls) == num_frames  # 6 settings, one network pass

    report = json.loads((work / "param_search.json").read_text())
    rows = report["rows"]
    assert report["network_frames"] == num_frames and len(rows) == 6
    assert [r["HOTA"] for r in rows] == sorted((r["HOTA"] for r in rows), reverse=True)
    # the settings matter: otherwise "equal to tools/test.py" would prove nothing about them
    assert len({(r["HOTA"], r["MOTA"], r["IDF1"], r["IDs"]) for r in rows}) >= 4
    best = report["best"]
    assert best["setting"] == rows[0]["setting"]
    assert (work / "best_cfg_options.txt").read_text().strip() == best["cfg_options"]
    printed = capsys.readouterr()
    assert f"best: --cfg-options {best['cfg_options']}" in printed.out
    assert "\r" not in printed.err and f"| {num_frames}/{num_frames} [" in printed.err

    # the best setting, tracked by tools/test.py on its own
    out = tmp_path / "test_best"
    setting = cfg_options_line(best["setting"]).split()
    prefix = f"test_evaluator.outfile_prefix={out}/results"
    assert (
        _tools_test(ONE_STAGE, checkpoint, out, [*options, *setting, prefix]) == rows[0]["metrics"]
    )
    # the best setting's result files are the ones tools/test.py writes for it
    ours = _rows(work / "best_results" / f"{sequence.name}.txt")
    theirs = _rows(tmp_path / "test_best" / "results" / "default-tracker" / f"{sequence.name}.txt")
    assert len(ours) > 0 and ours[:, 1].min() == 1
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_two_stage_replay_equals_tools_test_and_embeds_once_per_frame(
    tiny_synthetic_mot: Path, checkpoint: Path, osnet_weights: Path, tmp_path: Path, monkeypatch
) -> None:
    # TwoStageTracker embeds the detections above its tracker's obj_score_thr: the pass embeds
    # those of the grid's lowest threshold, and every setting, the lowest and one above it,
    # must still score exactly as tools/test.py, which embeds only its own detections.
    detector_calls = _count_calls(monkeypatch, SingleStageDetector, "predict")
    reid_calls = _count_calls(monkeypatch, OSNetTeacher, "forward")
    options = [*_data_options(tiny_synthetic_mot), f"model.reid.weights={osnet_weights}"]
    cfg = _config(TWO_STAGE, options, tmp_path / "search")
    settings = grid_settings([parse_param("model.tracker.obj_score_thr=0.8,0.86")])
    result = run_search(cfg, str(checkpoint), settings, progress=False)
    assert len(detector_calls) == len(reid_calls) == result.num_frames == 6
    by_threshold = {row.setting["model.tracker.obj_score_thr"]: row for row in result.rows}
    assert by_threshold[0.8].metrics != by_threshold[0.86].metrics
    for threshold, row in by_threshold.items():  # the grid's lowest and one above it
        setting = f"model.tracker.obj_score_thr={threshold}"
        work = tmp_path / f"test_{threshold}"
        assert _tools_test(TWO_STAGE, checkpoint, work, [*options, setting]) == row.metrics


def test_public_detections_replay_equals_track_video(
    tiny_synthetic_mot: Path, checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    detector_calls = _count_calls(monkeypatch, SingleStageDetector, "predict")
    options = _data_options(tiny_synthetic_mot)[:-1]  # public boxes: no detector limit
    cfg = _config(ONE_STAGE, options, tmp_path / "search")
    settings = grid_settings(
        [parse_param("model.tracker.obj_score_thr=0.3,0.8"),
         parse_param("model.tracker.appearance_match_thr=0.3,0.6")]
    )  # fmt: skip
    public_dir = tiny_synthetic_mot / "val"
    result = run_search(cfg, str(checkpoint), settings, public_dets_dir=public_dir, progress=False)
    # one-stage public mode runs the detector once per frame for its candidates' embeddings
    assert len(detector_calls) == result.num_frames == 6
    (sequence,) = sorted(public_dir.iterdir())
    given = read_mot_file(sequence / "det" / "det.txt", kind="det").rows
    for row in (result.rows[0], result.rows[-1]):
        (ours,) = write_setting_results(
            result.cache, tracker_config(cfg, row.setting), tmp_path / "ours"
        )
        txt = tmp_path / "track_video" / f"{sequence.name}.txt"
        argv = [str(ONE_STAGE), str(checkpoint), str(sequence), "--txt", str(txt),
                "--public-dets", str(sequence / "det" / "det.txt"), "--cfg-options",
                "test_dataloader.dataset.pipeline.0.transforms.1.scale=(160,96)",
                *cfg_options_line(row.setting).split()]  # fmt: skip
        assert track_video.main(argv) == 0
        assert ours.read_text() == txt.read_text(), row.setting
        boxes = _rows(ours)
        assert len(boxes) > 0
        table = np.stack([given[k] for k in ("frame", "x", "y", "w", "h")], axis=1)
        for frame, *box in boxes[:, [0, 2, 3, 4, 5]]:
            same = table[table[:, 0] == frame][:, 1:]
            assert np.abs(same - np.array(box)).max(axis=1).min() < 2e-3  # a given box
    assert result.rows[0].metrics != result.rows[-1].metrics
