"""tools/slurm_test.sh (and slurm_train.sh) hand srun what a slurm cluster needs, unchanged.

A dry run: a recording ``srun`` first on ``PATH`` writes the arguments and the environment it
was started with to a JSON file and exits, so the scripts' command lines are checked without
slurm and without running a test (``tests/test_distributed/test_slurm_launch.py`` runs a real
2-task job through ``slurm_train.sh``).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"

RECORDING_SRUN = """#!{python}
import json, os, sys
with open(os.environ["SRUN_RECORD"], "w") as file:
    json.dump(dict(argv=sys.argv[1:], pythonpath=os.environ.get("PYTHONPATH")), file)
"""


@pytest.fixture
def srun(tmp_path: Path) -> Path:
    """A folder holding the recording ``srun``; returns where it records."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "srun"
    script.write_text(RECORDING_SRUN.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return tmp_path / "srun.json"


def _run_script(
    name: str, args: list[str], record: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    base = {k: v for k, v in os.environ.items() if k not in ("GPUS", "GPUS_PER_NODE",
            "CPUS_PER_TASK", "SRUN_ARGS", "PYTHON", "PYTHONPATH")}  # fmt: skip
    full_env = {
        **base,
        "PATH": f"{record.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "SRUN_RECORD": str(record),
        **env,
    }
    done = subprocess.run(
        ["bash", str(TOOLS / name), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=record.parent,  # not the repository: the scripts find their own folder
    )
    recorded = json.loads(record.read_text()) if record.is_file() else None
    return done, recorded


def _pythonpath_entries(value: str) -> list[str]:
    return value.split(os.pathsep)


#: Test arguments a user passes on, some with spaces and shell characters that must survive.
EXTRA = ["--work-dir", "out dir/with spaces", "--cfg-options", "a.b=[1, 2]", "x=$HOME"]


def test_slurm_test_passes_everything_through(srun: Path) -> None:
    done, recorded = _run_script(
        "slurm_test.sh",
        ["my-partition", "eval job", "configs/x.py", "ckpt/epoch_12.pth", *EXTRA],
        srun,
        GPUS="4",
        GPUS_PER_NODE="2",
        CPUS_PER_TASK="3",
        SRUN_ARGS="--quotatype=auto --time 5",
        PYTHON="/opt/py/bin/python3",
        PYTHONPATH="/site/one:/site/two",
    )
    assert done.returncode == 0, done.stderr
    assert recorded is not None
    assert recorded["argv"] == [
        "-p", "my-partition",
        "--job-name=eval job",
        "--gres=gpu:2",
        "--ntasks=4",
        "--ntasks-per-node=2",
        "--cpus-per-task=3",
        "--kill-on-bad-exit=1",
        "--quotatype=auto", "--time", "5",  # SRUN_ARGS split into words, as srun options
        "/opt/py/bin/python3", "-u", f"{TOOLS}/test.py",
        "configs/x.py", "ckpt/epoch_12.pth",
        "--launcher=slurm",
        *EXTRA,
    ]  # fmt: skip
    # the repository first on PYTHONPATH (tools/.. resolved), the user's entries kept after it
    first, *rest = _pythonpath_entries(recorded["pythonpath"])
    assert Path(first).resolve() == REPO
    assert rest == ["/site/one", "/site/two"]


def test_slurm_test_defaults(srun: Path) -> None:
    done, recorded = _run_script("slurm_test.sh", ["p", "j", "c.py", "w.pth"], srun)
    assert done.returncode == 0, done.stderr
    assert recorded is not None
    assert recorded["argv"] == [
        "-p", "p", "--job-name=j", "--gres=gpu:8", "--ntasks=8", "--ntasks-per-node=8",
        "--cpus-per-task=5", "--kill-on-bad-exit=1",
        "python", "-u", f"{TOOLS}/test.py", "c.py", "w.pth", "--launcher=slurm",
    ]  # fmt: skip
    (entry,) = _pythonpath_entries(recorded["pythonpath"])  # no trailing ':' without one
    assert Path(entry).resolve() == REPO


@pytest.mark.parametrize("given", [[], ["p"], ["p", "j"], ["p", "j", "c.py"]])
def test_slurm_test_without_its_four_arguments_starts_nothing(given: list[str], srun: Path) -> None:
    done, recorded = _run_script("slurm_test.sh", given, srun)
    assert done.returncode != 0
    assert "unbound variable" in done.stderr  # set -u names the missing positional argument
    assert recorded is None


def test_slurm_train_passes_everything_through(srun: Path) -> None:
    done, recorded = _run_script(
        "slurm_train.sh",
        ["gpu", "train job", "configs/y.py", "work dirs/y", "--amp", "--resume"],
        srun,
        GPUS="16",
        GPUS_PER_NODE="8",
        SRUN_ARGS="--exclusive",
    )
    assert done.returncode == 0, done.stderr
    assert recorded is not None
    assert recorded["argv"] == [
        "-p", "gpu", "--job-name=train job", "--gres=gpu:8", "--ntasks=16",
        "--ntasks-per-node=8", "--cpus-per-task=5", "--kill-on-bad-exit=1", "--exclusive",
        "python", "-u", f"{TOOLS}/train.py", "configs/y.py", "--work-dir=work dirs/y",
        "--launcher=slurm", "--amp", "--resume",
    ]  # fmt: skip


def test_a_failing_srun_fails_the_script(srun: Path) -> None:
    """The job's exit status is the script's (``set -e``; the last command's status)."""
    failing = srun.parent / "bin" / "srun"
    failing.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(3)\n")
    done, _ = _run_script("slurm_test.sh", ["p", "j", "c.py", "w.pth"], srun)
    assert done.returncode == 3
