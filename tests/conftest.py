"""Shared fixtures: repository paths, the real assets, a tiny synthetic MOT dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_ROOT = REPO_ROOT.parent / "shared" / "assets"


@pytest.fixture(scope="session", autouse=True)
def mmdet_default_scope() -> None:
    """Build from mmdet's registries by default, as configs with default_scope='mmdet' do."""
    from mmengine.registry import init_default_scope

    import mmdistillmot  # noqa: F401  (registers every component)

    init_default_scope("mmdet")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def assets_root() -> Path:
    """The real weights and MOT17 frames (../shared/assets); skip when absent."""
    if not ASSETS_ROOT.is_dir():
        pytest.skip(f"real assets not found at {ASSETS_ROOT} (see ../shared/assets/SOURCES.md)")
    return ASSETS_ROOT


@pytest.fixture(scope="session")
def tiny_synthetic_mot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic MOT dataset made by the project's own generator (2 + 1 sequences).

    Layout: ``train/``, ``val/`` (MOTChallenge), ``reid/`` and ``annotations/`` (CocoVID).
    """
    out = tmp_path_factory.mktemp("synthetic_mot")
    cmd = [
        sys.executable,
        str(REPO_ROOT / "tools" / "dataset_converters" / "make_synthetic_mot.py"),
        str(out),
        "--seed", "0",
        "--num-train", "2",
        "--num-val", "1",
        "--frames", "6",
        "--size", "160x96",
        "--reid-train-ids", "8",
        "--reid-test-ids", "4",
        "--reid-images-per-id", "6",
        "--quiet",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out
