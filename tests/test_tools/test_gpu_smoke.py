"""tools/analysis/gpu_smoke.py without a GPU: its exit paths, its configs, and its runs on the CPU.

The tool's purpose (training and testing each family on CUDA) cannot run here; what can:

* no CUDA device: exit status 2 with one line saying so, nothing run (as a user runs it);
* ``--device cpu`` where CUDA is visible: refused (mmengine would train on the GPU);
* the smoke config of each family points every data path at the tiny set and changes only the
  data, the schedule, the outputs, the teachers' weights and the test thresholds;
* a family that fails is reported FAIL, the others still run, exit status 1;
* ``--device cpu`` runs each family's real code path (data, Runner, one iteration, test) on
  the CPU (slow: tens of seconds each).
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "analysis" / "gpu_smoke.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("_gpu_smoke", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_without_cuda_it_exits_2_with_one_line_and_runs_nothing(tmp_path: Path) -> None:
    assert not torch.cuda.is_available()  # the suite hides CUDA, also from its subprocesses
    work = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, str(TOOL), "--keep-work-dir", str(work)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == tool.NO_CUDA == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: no CUDA device: torch.cuda.is_available() is False")
    assert "nothing was run" in lines[-1] and "--device cpu" in lines[-1]
    assert "Traceback" not in done.stderr
    assert done.stdout == "" and not work.exists()


def test_cpu_is_refused_where_cuda_is_visible(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tool.torch.cuda, "is_available", lambda: True)
    assert tool.main(["--device", "cpu"]) == 1
    assert "CUDA is visible to this process" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("smoke_data")
    return tool.SmokeData(
        root=root,
        train_ann=root / "annotations" / "train_cocoformat.json",
        val_ann=root / "annotations" / "val_cocoformat.json",
        num_identities=100,
        det_db=root / "det_db.json",
        store=root / "teacher_store",
    )


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list | tuple):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("family", list(tool.FAMILIES))
def test_smoke_config_changes_data_schedule_and_thresholds_only(
    family: str, fake_data, tmp_path: Path
) -> None:
    configured = Config.fromfile(str(REPO / tool.FAMILIES[family]))
    cfg = tool.smoke_config(configured, fake_data, tmp_path / "work")
    # every path of the dataloaders and evaluators is the tiny set's, none the configured data's
    configured_root = configured.train_dataloader.dataset.data_root.rstrip("/")
    for name in ("train_dataloader", "test_dataloader", "test_evaluator"):
        used = _strings(cfg[name].to_dict() if hasattr(cfg[name], "to_dict") else cfg[name])
        assert not [s for s in used if configured_root in s], (name, used)
    assert cfg.train_dataloader.dataset.data_root == str(fake_data.root)
    assert cfg.test_dataloader.dataset.ann_file == str(fake_data.val_ann)
    # one iteration, no validation, no checkpoint, the source config untouched
    assert cfg.train_cfg.get("max_iters", 1) == 1 and cfg.train_cfg.get("max_epochs", 1) == 1
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.default_hooks.checkpoint.interval == -1
    assert configured.train_cfg.get("max_iters", 2) > 1 or configured.train_cfg.max_epochs > 1
    # the data loading is the configured one (workers, batch size, pipelines' types)
    for key in ("batch_size", "num_workers", "persistent_workers"):
        assert cfg.train_dataloader.get(key) == configured.train_dataloader.get(key)
    assert [t["type"] for t in cfg.train_dataloader.dataset.pipeline] == [
        t["type"] for t in configured.train_dataloader.dataset.pipeline
    ]
    # the model: teachers on random weights, test thresholds 0, otherwise as configured
    model, ref = cfg.model.to_dict(), configured.model.to_dict()
    teacher = model.get("teacher")
    if teacher is not None:
        assert teacher["weights"] is None and teacher["allow_random_init"] is True
        model["teacher"], ref["teacher"] = {}, {}
    for tracker in (model.get("tracker"), model.get("student", {}).get("tracker")):
        if tracker:
            assert tracker.get("obj_score_thr", 0) == 0 and tracker.get("init_score_thr", 0) == 0
    for part in (model, ref):
        for node in tool._walk(part):
            for key in (*tool._ZERO_THRESHOLDS, "num_identities"):
                node.pop(key, None)
            if "nms" in node:
                node.pop("score_thr", None)
                node.pop("max_per_img", None)
    assert model == ref


def test_a_failing_family_is_reported_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.py"  # the neck gives 4 levels, the model is told 3
    broken.write_text(f"_base_ = ['{REPO / tool.FAMILIES['motrv2']}']\n"
                      "model = dict(num_feature_levels=3)\n")  # fmt: skip
    monkeypatch.setitem(tool.FAMILIES, "motrv2", str(broken))
    calls: list[str] = []
    real = tool.run_family

    def run_or_skip(name, *args, **kwargs):
        calls.append(name)
        if name == "motrv2":
            return real(name, *args, **kwargs)
        return tool.FamilyResult(name, ok=True, frames=1)  # stands for a good family

    monkeypatch.setattr(tool, "run_family", run_or_skip)
    argv = ["--device", "cpu", "--families", "motrv2", "tdt", "--keep-work-dir", str(tmp_path)]
    make_data = tool.make_data

    def data_without_store(root, device, det_db, store):  # tdt, which needs it, does not run
        return make_data(root, device, det_db, False)

    monkeypatch.setattr(tool, "make_data", data_without_store)
    assert tool.main(argv) == 1
    out = capsys.readouterr()
    assert calls == ["motrv2", "tdt"]
    (line,) = [line for line in out.out.splitlines() if line.startswith("motrv2")]
    assert "FAIL" in line and "ValueError" in line and "levels" in line
    assert "Traceback" in out.err
    assert out.out.splitlines()[-1] == "1/2 families OK; FAILED: motrv2"


def test_off_device_names_the_tensors_elsewhere() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert tool._off_device(model, torch.device("cpu")) == []
    model[1].to("meta")
    assert tool._off_device(model, torch.device("cpu")) == [
        "1.bias", "1.num_batches_tracked", "1.running_mean", "1.running_var", "1.weight",
    ]  # fmt: skip


# ~10-45 s wall each on the shared 2-core machine (Runner set-up, one step, 4 test frames); two
# families keep the suite's time (all five passed on the CPU in 2 min 2 s: `gpu_smoke.py
# --device cpu`): a plain student and a distiller with its teacher built at the first step
@pytest.mark.slow
@pytest.mark.parametrize("family", ["tdt", "vsd_mot"])
def test_families_train_and_test_on_the_cpu(
    family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--device", "cpu", "--families", family, "--keep-work-dir", str(tmp_path)]
    assert tool.main(argv) == 0, capsys.readouterr().err[-3000:]
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith(family + " ")]
    assert line.split()[1] == "OK"
    assert "max RSS" in line and ", 4 frames, " in line  # the validation video, every frame
    loss = float(line.split(" loss ")[1].split(",")[0])
    assert math.isfinite(loss) and loss > 0
    assert out.splitlines()[-1] == "1/1 families OK"
