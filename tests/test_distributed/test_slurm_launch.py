"""``tools/slurm_train.sh`` starts a 2-task job whose CPU processes train together on gloo.

There is no slurm here: ``fake_slurm/srun`` starts the tasks on this machine with the
variables a slurm step sets (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST) and
``fake_slurm/scontrol`` names the first node, so that the script's arguments and
``tools/train.py --launcher slurm`` (rank, world size, master address from slurm's variables)
run as on a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from dist_testing import (
    TOOLS,
    launch,
    make_paired_detection_set,
    scalars,
    write_tiny_distill_config,
)

FAKE_SLURM = Path(__file__).resolve().parent / "fake_slurm"


@pytest.mark.slow
def test_slurm_train_runs_two_tasks_as_one_job(tmp_path: Path, monkeypatch) -> None:
    data_root = tmp_path / "data"
    make_paired_detection_set(data_root, num_pairs=2)  # 4 frames: 1 iteration of 2 x 2
    config = write_tiny_distill_config(tmp_path / "distill.py", data_root, batch_size=2)
    work_dir = tmp_path / "slurm_job"
    monkeypatch.setenv("PATH", f"{FAKE_SLURM}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GPUS", "2")
    monkeypatch.setenv("GPUS_PER_NODE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)  # the script must get it from scontrol

    result = launch(
        ["bash", str(TOOLS / "slurm_train.sh"), "debug", "distill_job", str(config),
         str(work_dir)]
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert "2 CPU processes on the gloo backend" in log
    assert "Distributed launcher: slurm" in log
    (step,) = scalars(work_dir)  # 4 images, 2 per task: one iteration, so 2 tasks ran
    assert step["iter"] == 1
    ckpt = torch.load(work_dir / "iter_1.pth", map_location="cpu", weights_only=False)
    assert "connectors.s2t.conv.weight" in ckpt["distill_state_dict"]
    assert not any(key.startswith("teacher.") for key in ckpt["state_dict"])
