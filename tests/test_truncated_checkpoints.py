"""A truncated or corrupt checkpoint: every loader names the file, nothing is written over it.

torch's own errors for such a file do not name it (``OSError: [Errno 22] Invalid argument``,
``EOFError``, ``PytorchStreamReader failed reading zip archive``). Every checkpoint the project
reads goes through :func:`mmdistillmot.compat.safe_load_checkpoint`: mmengine's loader
(``load_from``, ``--resume``, ``tools/test.py``), the teachers' weight files, the export and
conversion tools. The CLI case (``tools/train.py --resume``) is in
``tests/test_tools/test_train_resume.py``.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import torch
from mmengine.runner import load_checkpoint
from torch import nn

from mmdistillmot.compat import CorruptCheckpointError, safe_load_checkpoint
from mmdistillmot.models.teachers.weights import load_weights_file


def _checkpoint_bytes(zip_format: bool = True) -> bytes:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    buffer = io.BytesIO()
    state = {"state_dict": net.state_dict(), "meta": {"epoch": 1, "iter": 10}}
    torch.save(state, buffer, _use_new_zipfile_serialization=zip_format)
    return buffer.getvalue()


ZIP = _checkpoint_bytes()
LEGACY = _checkpoint_bytes(zip_format=False)

DAMAGED = {
    "zip-cut-at-10": ZIP[:10],
    "zip-half": ZIP[: len(ZIP) // 2],
    "zip-last-byte": ZIP[:-1],
    "zip-last-kilobyte": ZIP[:-1024],
    "legacy-half": LEGACY[: len(LEGACY) // 2],
    "empty": b"",
    "text": b"<html>404 Not Found</html>\n",
}


@pytest.fixture(params=sorted(DAMAGED))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"{request.param}.pth"
    path.write_bytes(DAMAGED[request.param])
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_safe_load_names_the_file(damaged: Path) -> None:
    before = _sha(damaged)
    with pytest.raises(CorruptCheckpointError) as info:
        safe_load_checkpoint(str(damaged))
    message = str(info.value)
    assert f"Checkpoint '{damaged}' ({damaged.stat().st_size} bytes) cannot be read" in message
    assert "truncated" in message and "\n" not in message
    assert _sha(damaged) == before


def test_mmengine_loader_names_the_file(damaged: Path) -> None:
    """``load_from`` / ``--resume`` / ``tools/test.py``: mmengine's loader, our local scheme."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    weights = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(CorruptCheckpointError, match=str(damaged)):
        load_checkpoint(net, str(damaged), map_location="cpu")
    assert all(torch.equal(a, b) for a, b in zip(weights, net.parameters(), strict=True))


def test_teacher_weight_file_names_the_file(damaged: Path) -> None:
    with pytest.raises(CorruptCheckpointError, match=str(damaged)):
        load_weights_file(nn.Linear(2, 2), str(damaged), owner="SomeTeacher")


def test_intact_files_still_load(tmp_path: Path) -> None:
    for name, data in (("zip", ZIP), ("legacy", LEGACY)):
        path = tmp_path / f"{name}.pth"
        path.write_bytes(data)
        assert safe_load_checkpoint(str(path))["meta"] == {"epoch": 1, "iter": 10}
