"""Fixtures for the MOT evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from mot_eval_helpers import copy_tud


@pytest.fixture
def tud_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(gt_root, results_dir): TUD ground truth in the flat layout and the CEM tracker output."""
    return copy_tud(tmp_path)
