"""The real-asset guard and the time limits of slow tests (tests/conftest.py).

Under CI a missing asset fails (tests/assets_testing.py), elsewhere it skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from assets_testing import ASSETS_ENV, in_ci, require_asset

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

# One test per route to the guard: the fixture, the helper inside a test, the marker alone;
# plus the time limit each test would run under. The autouse fixture of tests/conftest.py that
# imports mmdet is overridden: this file needs none of it.
GUARDED = """
import pytest
from assets_testing import require_asset


@pytest.fixture(scope="session", autouse=True)
def mmdet_default_scope():
    pass


def test_fixture(assets_root):
    pass


def test_helper():
    require_asset("weights", "some.pth")


@pytest.mark.assets
def test_marker_alone():
    pass


def _limit(request):
    marker = request.node.get_closest_marker("timeout")
    return marker.args[0] if marker else None


@pytest.mark.slow
def test_slow_limit(request):
    print("LIMIT", _limit(request))


@pytest.mark.slow
@pytest.mark.timeout(7)
def test_own_limit(request):
    print("LIMIT", _limit(request))


def test_default_limit(request):
    print("LIMIT", _limit(request), request.config.getini("timeout"))
"""


def _run_guarded(tmp_path: Path, assets: Path, ci: str | None, *options: str) -> tuple[int, str]:
    """pytest (with the repository's pyproject and tests/conftest.py) on GUARDED."""
    test_file = tmp_path / "test_guarded.py"
    test_file.write_text(textwrap.dedent(GUARDED))
    unset = ("CI", "PYTEST_ADDOPTS", "PYTEST_TIMEOUT")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({ASSETS_ENV: str(assets), "PYTHONPATH": str(TESTS)})
    if ci is not None:
        env["CI"] = ci
    cmd = [
        sys.executable, "-m", "pytest", str(test_file), "-c", str(REPO / "pyproject.toml"),
        "--rootdir", str(tmp_path), "-p", "conftest", "-p", "no:cacheprovider", "-s", "-rA",
        *options,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_missing_assets_fail_under_ci_and_skip_elsewhere(tmp_path: Path) -> None:
    missing = tmp_path / "no_assets"
    code, out = _run_guarded(tmp_path, missing, "true")
    assert code == 1, out
    # the helper fails the test; the fixture and the marker fail its set-up (an error)
    assert "1 failed, 3 passed, 2 errors" in out, out
    assert f"real asset not found: {missing / 'weights' / 'some.pth'}" in out
    assert f"real asset not found: {missing} (see {missing / 'SOURCES.md'}" in out
    assert "SKIPPED" not in out
    # -m assets selects the fixture's user too (conftest marks it), not the others
    code, out = _run_guarded(tmp_path, missing, "true", "-m", "assets")
    assert code == 1 and "4 deselected, 2 errors" in out, out

    code, out = _run_guarded(tmp_path, missing, None)
    assert code == 0, out
    assert "3 passed, 3 skipped" in out, out
    assert "a skip because CI is not set" in out

    # the folder there, the file not: only the helper's test misses something
    missing.mkdir()
    code, out = _run_guarded(tmp_path, missing, "1", "-k", "helper or marker or fixture")
    assert code == 1 and "1 failed, 2 passed" in out, out


def test_slow_tests_get_the_longer_limit_unless_they_or_the_run_set_one(tmp_path: Path) -> None:
    code, out = _run_guarded(tmp_path, tmp_path, "true", "-k", "limit")
    assert code == 0, out
    # pyproject's limit for the others (no mark), 1800 s for slow ones, a test's own mark wins
    assert "LIMIT None 300" in out and "LIMIT 1800" in out and "LIMIT 7" in out, out
    # a run's own --timeout applies to every test: conftest adds no mark
    code, out = _run_guarded(tmp_path, tmp_path, "true", "-k", "slow_limit", "--timeout", "50")
    assert code == 0 and "LIMIT None" in out, out


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False), ("", False)],
)
def test_ci_values(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_require_asset_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.pth").write_bytes(b"")
    monkeypatch.setenv(ASSETS_ENV, str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert require_asset("weights", "w.pth") == tmp_path / "weights" / "w.pth"
    assert require_asset() == tmp_path
    with pytest.raises(pytest.fail.Exception, match="CI must have every asset"):
        require_asset("weights", "other.pth")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=str(tmp_path / "SOURCES.md")):
        require_asset("weights", "other.pth")
