"""tools/analysis/eval_mot.py reproduces the published TUD numbers and reports bad input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "analysis" / "eval_mot.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("eval_mot_tool", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # a fresh interpreter imports torch and mmdet (~10-50 s on a busy 2-core box)
def test_cli_reproduces_published_tud_numbers(tud_dirs, tmp_path):
    gt_root, results = tud_dirs
    out = tmp_path / "scores" / "tud.json"
    cmd = [sys.executable, str(SCRIPT), "--gt-root", str(gt_root), "--results", str(results)]
    proc = subprocess.run(
        cmd + ["--json", str(out)], capture_output=True, text=True, cwd=REPO_ROOT, check=False,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    combined = json.loads(out.read_text())["combined"]
    assert combined["MOTA"] == pytest.approx(0.555, abs=5e-4)
    assert combined["IDF1"] == pytest.approx(0.624, abs=5e-4)
    assert combined["HOTA"] == pytest.approx(0.400, abs=5e-4)
    assert (combined["IDs"], combined["FP"], combined["FN"]) == (14, 58, 602)
    assert set(json.loads(out.read_text())["sequences"]) == {"TUD-Campus", "TUD-Stadtmitte"}
    table = [line.split() for line in proc.stdout.splitlines()]
    row = next(cells for cells in table if cells and cells[0] == "COMBINED")
    assert row[1:6] == ["40.00", "39.77", "41.24", "55.51", "62.43"]


def test_cli_in_process_selected_sequence_and_json(tud_dirs, tmp_path, capsys):
    gt_root, results = tud_dirs
    out = tmp_path / "campus.json"
    argv = ["--gt-root", str(gt_root), "--results", str(results), "--json", str(out)]
    assert _load_tool().main(argv + ["--seqs", "TUD-Campus"]) == 0
    payload = json.loads(out.read_text())
    assert list(payload["sequences"]) == ["TUD-Campus"]
    assert payload["combined"]["FP"] == 13 and payload["combined"]["IDs"] == 7
    assert "TUD-Campus" in capsys.readouterr().out


def test_cli_malformed_gt_line_is_reported_with_file_and_line(tud_dirs, capsys):
    gt_root, results = tud_dirs
    gt_file = gt_root / "TUD-Stadtmitte" / "gt.txt"
    original = gt_file.read_text().splitlines()
    lines = list(original)
    lines[9] = "3,4,100,100,0,80,1,-1,-1,-1"  # zero width on line 10
    gt_file.write_text("\n".join(lines) + "\n")
    code = _load_tool().main(["--gt-root", str(gt_root), "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{gt_file}:10: box width and height must be > 0 in gt" in err
    assert gt_file.read_text().splitlines() == lines  # the source is left as it was


def test_cli_refuses_to_write_json_into_ground_truth(tud_dirs, capsys):
    gt_root, results = tud_dirs
    target = gt_root / "TUD-Campus" / "scores.json"
    argv = ["--gt-root", str(gt_root), "--results", str(results), "--json", str(target)]
    assert _load_tool().main(argv) == 2
    assert "inside --gt-root" in capsys.readouterr().err
    assert not target.exists()
