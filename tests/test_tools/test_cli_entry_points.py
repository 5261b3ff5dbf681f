"""What every command-line tool does for its user (issue 17): OpenMP, one-line errors, --debug.

* OpenMP: each entry point sets ``OMP_WAIT_POLICY=PASSIVE`` (``os.environ.setdefault``) before
  anything that could load torch is imported (OpenMP reads it once, when torch loads it): run
  outside ``make``, idle threads otherwise spin on every core.
* Errors: a bad input (here a missing Re-ID weight file, what a user with their own teacher
  meets first) ends the tool with one line naming the file and exit status 1; ``--debug``
  gives the traceback. Run as a user runs them: a subprocess (about 15 s each: mmdet loads).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
#: Entry points that must set the OpenMP policy themselves.
ENTRY_POINTS = sorted(
    [TOOLS / "train.py", TOOLS / "test.py", TOOLS / "demo" / "track_video.py"]
    + [p for d in ("analysis", "distill", "model_converters", "dataset_converters")
       for p in (TOOLS / d).glob("*.py")]
)  # fmt: skip
#: Entry points with one-line errors and --debug.
DEBUG_TOOLS = sorted(
    [TOOLS / "train.py", TOOLS / "test.py", TOOLS / "demo" / "track_video.py"]
    + [p for d in ("distill", "model_converters", "dataset_converters")
       for p in (TOOLS / d).glob("*.py")]
)  # fmt: skip
TWO_STAGE = REPO / "configs" / "tdt" / "two-stage_r18_fpn_osnet_synthetic.py"


def _is_omp_setdefault(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "os.environ.setdefault"
        and [ast.unparse(a) for a in node.value.args] == ["'OMP_WAIT_POLICY'", "'PASSIVE'"]
    )


@pytest.mark.parametrize("tool", ENTRY_POINTS, ids=lambda p: str(p.relative_to(TOOLS)))
def test_openmp_policy_is_set_before_any_import_but_os(tool: Path) -> None:
    body = ast.parse(tool.read_text()).body
    where = next((i for i, node in enumerate(body) if _is_omp_setdefault(node)), None)
    assert where is not None, f"{tool.name}: no os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')"
    before = [
        ast.unparse(node)
        for node in body[:where]
        if isinstance(node, ast.Import | ast.ImportFrom)
        and ast.unparse(node) not in ("from __future__ import annotations", "import os")
    ]
    assert not before, f"{tool.name} imports {before} before setting OMP_WAIT_POLICY"


def _load(tool: Path):
    sys.path.insert(0, str(tool.parent))  # tools/test.py imports its neighbour train.py
    try:
        spec = importlib.util.spec_from_file_location(f"_cli_{tool.stem}", tool)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(tool.parent))
    return module


@pytest.mark.parametrize("tool", DEBUG_TOOLS, ids=lambda p: str(p.relative_to(TOOLS)))
def test_every_tool_offers_debug(tool: Path, capsys) -> None:
    module = _load(tool)
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    assert "--debug" in capsys.readouterr().out, f"{tool.name} --help lists no --debug"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # the tool sets it
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("tool", "debug"),
    [("tools/test.py", False), ("tools/test.py", True), ("tools/demo/track_video.py", False)],
    ids=["test.py", "test.py --debug", "track_video.py"],
)
def test_missing_weight_file_is_one_line_naming_it(tool: str, debug: bool, tmp_path: Path) -> None:
    missing = tmp_path / "my_osnet.pth"
    if tool.endswith("test.py"):
        args = [tool, str(TWO_STAGE), "--work-dir", str(tmp_path / "work")]
    else:
        frames = tmp_path / "frames"
        frames.mkdir()  # never read: the model is built first
        (frames / "000001.jpg").write_bytes(b"")
        args = [tool, str(TWO_STAGE), str(frames), "--txt", str(tmp_path / "out.txt")]
    args += ["--cfg-options", f"model.reid.weights={missing}"] + (["--debug"] if debug else [])
    result = _run(*args)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if debug:
        assert "Traceback (most recent call last)" in result.stderr
        assert f"FileNotFoundError: OSNetTeacher(osnet_x0_25): weight file '{missing}'" in (
            result.stderr
        )
        assert errors == []
        return
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert errors == [result.stderr.splitlines()[-1]]  # one line, the last one
    assert f"weight file '{missing}' does not exist" in errors[0]
