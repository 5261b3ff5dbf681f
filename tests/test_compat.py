"""Safe checkpoint loading: mmengine's own objects load, anything else is refused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from mmdistillmot.compat import UnsafeCheckpointError, safe_load_checkpoint


def test_mmengine_objects_round_trip(tmp_path: Path) -> None:
    buffer = HistoryBuffer()
    buffer.update(1.5)
    buffer.update(2.5, count=2)
    checkpoint = {
        "state_dict": {"w": torch.ones(2)},
        "message_hub": {"log_scalars": {"loss": buffer}, "runtime_info": {"epoch": 3}},
        "meta": {"seed": np.int64(7), "scale": np.float64(0.5), "arr": np.arange(3)},
    }
    path = tmp_path / "ok.pth"
    torch.save(checkpoint, path)
    loaded = CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    assert loaded["message_hub"]["log_scalars"]["loss"].mean() == pytest.approx(buffer.mean())
    assert loaded["meta"]["seed"] == 7
    np.testing.assert_array_equal(loaded["meta"]["arr"], np.arange(3))


class _Smuggler:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo should-not-run",))


def test_foreign_global_is_refused_with_file_name(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"x": _Smuggler()}, path)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth") as info:
        safe_load_checkpoint(str(path))
    assert "system" in str(info.value)


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        safe_load_checkpoint(str(tmp_path / "nope.pth"))


class _GetattrGadget:
    """Pickles as getattr(numpy.ndarray, 'tofile'): a file-writing gadget via allowed types."""

    def __reduce__(self) -> tuple[object, tuple[object, str]]:
        return (getattr, (np.ndarray, "tofile"))


def test_getattr_only_resolves_history_buffer_methods(tmp_path: Path) -> None:
    path = tmp_path / "gadget.pth"
    torch.save({"x": _GetattrGadget()}, path)
    with pytest.raises(Exception, match="getattr"):
        safe_load_checkpoint(str(path))
