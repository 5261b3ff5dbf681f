"""Real DDP on 2 CPU processes agrees with ``test_ddp_parameter_usage.py``'s predictions.

A model that leaves trainable parameters out of a step (a distillation stopped by
DistillHook's ``stop_at``: its connectors; MOTRv2: see ``MOTRV2_UNUSED``) trains under DDP
only with ``find_unused_parameters=True``; without it, DDP stops at the second iteration and
names the option. ``ddp_unused_worker.py`` runs the scenarios under torchrun.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from dist_testing import free_port, launch

WORKER = Path(__file__).resolve().parent / "ddp_unused_worker.py"


@pytest.mark.slow
def test_find_unused_parameters_is_needed_exactly_where_predicted(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    launch(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(free_port()), str(WORKER), str(out)]
    )  # fmt: skip
    results = json.loads(out.read_text())
    for family in ("distillation_stopped", "motrv2"):
        assert results[f"{family}/find_unused=True"] == "ok"
        refused = results[f"{family}/find_unused=False"]
        assert "find_unused_parameters=True" in refused, refused
