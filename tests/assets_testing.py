"""The one guard for the real assets (weights, MOT17 frames) in ``../shared/assets``.

CI always has the folder, so there a missing asset is an error in the set-up, never a silent
skip: with ``CI`` set to ``true`` or ``1`` (any case) :func:`require_asset` fails the test with
the missing path and ``SOURCES.md``; elsewhere it skips with the same message. The folder is
``../shared/assets`` beside the repository unless ``MMDISTILLMOT_ASSETS`` names another one
(read on every call, so a test can point it at a missing folder).

Use the ``assets_root`` fixture (``tests/conftest.py``) or, for a file below it,
``require_asset("weights", "osnet_x0_25_msmt17.pth")`` inside the test; every test marked
``@pytest.mark.assets`` goes through the guard before it runs (conftest hook).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ASSETS_ROOT = REPO_ROOT.parent / "shared" / "assets"
#: Environment variable that replaces ``../shared/assets`` (e.g. a copy elsewhere).
ASSETS_ENV = "MMDISTILLMOT_ASSETS"


def assets_root_path() -> Path:
    """Where the real assets are looked for (``$MMDISTILLMOT_ASSETS`` or ``../shared/assets``)."""
    override = os.environ.get(ASSETS_ENV)
    return Path(override) if override else DEFAULT_ASSETS_ROOT


def in_ci() -> bool:
    """Whether this run is CI's (``CI`` is ``true`` or ``1``, any case)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def require_asset(*parts: str) -> Path:
    """The path of a real asset below the assets folder; fail (CI) or skip when it is absent.

    Args:
        *parts: Path components below the assets folder; none for the folder itself.

    Returns:
        The existing path.

    Raises:
        pytest.fail.Exception: The asset is missing and ``CI`` is true.
        pytest.skip.Exception: The asset is missing outside CI.
    """
    root = assets_root_path()
    path = root.joinpath(*parts)
    if path.exists():
        return path
    message = f"real asset not found: {path} (see {root / 'SOURCES.md'}"
    if in_ci():
        pytest.fail(f"{message}; CI must have every asset)", pytrace=False)
    pytest.skip(f"{message}; a skip because CI is not set, a failure under CI=true)")
