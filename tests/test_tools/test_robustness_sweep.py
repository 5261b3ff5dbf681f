"""robustness_sweep.py: degradation inserted after the loader; CSV/PNG; an end-to-end sweep."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "robustness_sweep", REPO / "tools" / "analysis" / "robustness_sweep.py"
)
assert SPEC is not None and SPEC.loader is not None
sweep = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(sweep)

DEGRADE = dict(type="RealESRGANDegradation", severity=0.5)


def test_inserted_after_loader_in_video_and_image_pipelines() -> None:
    video = [
        dict(type="TransformBroadcaster", transforms=[
            dict(type="LoadImageFromFile"), dict(type="Resize", scale=(8, 8)),
        ]),
        dict(type="PackTrackInputs"),
    ]  # fmt: skip
    out = sweep.insert_degradation(video, DEGRADE)
    assert [t["type"] for t in out[0]["transforms"]] == [
        "LoadImageFromFile", "RealESRGANDegradation", "Resize",
    ]  # fmt: skip
    assert len(video[0]["transforms"]) == 2  # the input is not modified
    image = [dict(type="LoadImageFromFile"), dict(type="PackDetInputs")]
    assert sweep.insert_degradation(image, DEGRADE)[1]["type"] == "RealESRGANDegradation"
    with pytest.raises(ValueError, match="no image loader"):
        sweep.insert_degradation([dict(type="PackDetInputs")], DEGRADE)


def test_find_metric_and_outputs(tmp_path: Path) -> None:
    metrics = {"motchallenge-metric/HOTA": 0.5, "motchallenge-metric/MOTA": 0.25}
    assert sweep.find_metric(metrics, "HOTA") == 0.5
    with pytest.raises(KeyError, match="IDF1"):
        sweep.find_metric(metrics, "IDF1")
    rows = [dict(severity=0.0, HOTA=0.5, MOTA=0.4, IDF1=0.6),
            dict(severity=1.0, HOTA=0.2, MOTA=0.1, IDF1=0.3)]  # fmt: skip
    csv_path, png_path = sweep.write_outputs(rows, str(tmp_path), "t")
    with open(csv_path) as f:
        read = list(csv.DictReader(f))
    assert [float(r["HOTA"]) for r in read] == [0.5, 0.2]
    assert Path(png_path).stat().st_size > 0


def test_compare_reads_written_sweeps_and_names_bad_files(tmp_path: Path) -> None:
    one = [dict(severity=0.0, HOTA=0.5, MOTA=0.4, IDF1=0.6),
           dict(severity=1.0, HOTA=0.2, MOTA=0.1, IDF1=0.3)]  # fmt: skip
    two = [dict(severity=0.0, HOTA=0.3, MOTA=0.2, IDF1=0.1)]
    a, _ = sweep.write_outputs(one, str(tmp_path / "a"), "a")
    b, _ = sweep.write_outputs(two, str(tmp_path / "b"), "b")
    assert sweep.read_sweep_csv(a) == one  # what the sweep writes, the comparison reads back
    assert sweep.main(["--compare", f"student={a}", f"iou={b}", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "robustness_comparison.csv") as f:
        long = list(csv.DictReader(f))
    assert [(r["tracker"], float(r["IDF1"])) for r in long] == [
        ("student", 0.6), ("student", 0.3), ("iou", 0.1),
    ]  # fmt: skip
    assert (tmp_path / "robustness_comparison.png").stat().st_size > 0
    bad = tmp_path / "bad.csv"
    bad.write_text("severity,HOTA,MOTA\n0,0.1,0.2\n")
    with pytest.raises(ValueError, match=r"bad\.csv: missing column\(s\) \['IDF1'\]"):
        sweep.read_sweep_csv(str(bad))
    bad.write_text("severity,HOTA,MOTA,IDF1\n0,0.1,0.2,0.3\n0.5,x,0.2,0.3\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3:"):
        sweep.read_sweep_csv(str(bad))
    with pytest.raises(SystemExit, match="LABEL=CSV"):
        sweep.main(["--compare", a])
    with pytest.raises(SystemExit, match="CONFIG and CHECKPOINT"):
        sweep.main([])


@pytest.mark.slow
def test_sweep_end_to_end_on_synthetic(tmp_path: Path, tiny_synthetic_mot: Path) -> None:
    config = REPO / "configs" / "tdt" / "tdt_r18_fpn_iou-only_synthetic.py"
    cfg = Config.fromfile(str(config))
    from mmdet.registry import MODELS

    model = MODELS.build(cfg.model)
    ckpt = tmp_path / "random.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, ckpt)
    root = f"{tiny_synthetic_mot}/"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "analysis" / "robustness_sweep.py"), str(config),
         str(ckpt), "--severities", "0", "1", "--out", str(tmp_path / "out"), "--cfg-options",
         f"test_dataloader.dataset.data_root={root}", "test_dataloader.num_workers=0",
         "test_dataloader.persistent_workers=False",
         "test_dataloader.dataset.pipeline.0.transforms.1.scale=(160,96)"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "out" / "robustness.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["severity"]) for r in rows] == [0.0, 1.0]
    assert all(0.0 <= float(r["HOTA"]) <= 1.0 for r in rows)


@pytest.mark.parametrize(
    ("config", "hint"),
    [
        # a val_lq CocoVID file of make_lq_dataset.py: point at its high-quality twin
        ("vsd_mot/vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py",
         "test_dataloader.dataset.ann_file=annotations/val_hq_cocoformat.json"),
        ("vsd_mot/motrv2_r18_synthetic-lq_cpu.py",
         "test_dataloader.dataset.ann_file=annotations/val_hq_cocoformat.json"),
        # a test pipeline that degrades on the fly: point at the clean config
        ("vsd_mot/motrv2_r50_synthetic-lq.py", "without '-lq'"),
        ("vsd_mot/vsd-mot_r50_dcsd-dswr_synthetic-lq.py", "RealESRGANDegradation"),
    ],
)  # fmt: skip
def test_a_test_set_that_is_already_degraded_is_refused(config, hint, tmp_path, capsys):
    path = REPO / "configs" / config
    ckpt = tmp_path / "x.pth"
    ckpt.write_bytes(b"")
    with pytest.raises(SystemExit) as exit_info:
        sweep.main([str(path), str(ckpt), "--out", str(tmp_path)])
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert hint in message and "--allow-degraded-input" in message
    assert not (tmp_path / "robustness.csv").exists()
    # the suggested override (or the clean config) is accepted as clean
    cfg = Config.fromfile(str(path))
    if "ann_file" in hint:
        cfg.merge_from_dict({hint.split("=")[0]: hint.split("=")[1]})
        assert sweep.degraded_test_set(cfg) is None
    else:
        clean = REPO / "configs" / "motrv2" / "motrv2_r50_synthetic.py"
        assert sweep.degraded_test_set(Config.fromfile(str(clean))) is None


def test_the_override_flag_lets_a_degraded_set_through(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep, "run_severity", lambda *a: calls.append(a[2]) or dict(
        HOTA=0.1, MOTA=0.2, IDF1=0.3))  # fmt: skip
    path = REPO / "configs" / "vsd_mot" / "motrv2_r50_lqmot-mot-2to1.py"
    ckpt = tmp_path / "x.pth"
    ckpt.write_bytes(b"")
    argv = [str(path), str(ckpt), "--out", str(tmp_path), "--severities", "0", "1"]
    assert sweep.main([*argv, "--allow-degraded-input"]) == 0
    assert calls == [0.0, 1.0]
    # clean sets are swept without the flag
    hq = "test_dataloader.dataset.ann_file=annotations/val_hq_cocoformat.json"
    assert sweep.main([*argv, "--cfg-options", hq]) == 0
    assert (
        sweep.degraded_test_set(
            Config.fromfile(str(REPO / "configs" / "motrv2" / "motrv2_r50_mot17.py"))
        )
        is None
    )
