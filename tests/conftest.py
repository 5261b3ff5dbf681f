"""Shared fixtures and hooks: repository paths, the real assets, a tiny synthetic MOT dataset.

Hooks: every test marked ``assets`` passes the asset guard (``assets_testing``) before it runs,
and every test marked ``slow`` gets ``SLOW_TIMEOUT_S`` instead of the ``timeout`` of
``pyproject.toml`` unless it sets its own ``@pytest.mark.timeout`` or the run sets one
(``--timeout``, ``PYTEST_TIMEOUT``).

CPU only: the suite's expected values are CPU results (bytes of teacher stores, exact resumes,
gloo process groups, metrics equal to a reference run), so CUDA is hidden from the tests and
from every process they start, even on a machine with a GPU: ``CUDA_VISIBLE_DEVICES`` is
emptied here, before torch initialises CUDA and before mmengine picks its device (once, when it
is imported). The GPU check is ``tools/analysis/gpu_smoke.py``, outside the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # see the module docstring: the suite runs on the CPU

import pytest  # noqa: E402
from assets_testing import require_asset  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Per-test limit of ``slow`` tests (setup + call + teardown). The shortened demo, the slowest,
#: took 233 s in a whole-suite run and 580 s at a load average of 11 (docs/demo.md).
SLOW_TIMEOUT_S = 1800


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark users of ``assets_root`` as ``assets``; give ``slow`` tests the longer time limit.

    A run's own ``--timeout`` (or ``PYTEST_TIMEOUT``) wins over the slow limit.
    """
    timeout_option = config.getoption("timeout", None)
    run_sets_timeout = timeout_option is not None or bool(os.environ.get("PYTEST_TIMEOUT"))
    for item in items:
        if "assets_root" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "assets"
        ):
            item.add_marker(pytest.mark.assets)
        if run_sets_timeout:
            continue
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``assets`` fail (CI) or skip without the assets folder, before running."""
    if item.get_closest_marker("assets"):
        require_asset()


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
    """The real weights and MOT17 frames (../shared/assets); fails under CI, else skips, if absent.

    The guard is ``assets_testing.require_asset``; ``MMDISTILLMOT_ASSETS`` moves the folder.
    """
    return require_asset()


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
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=240)
    return out
