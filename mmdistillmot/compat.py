"""Compatibility between torch >= 2.6 and mmengine 0.10.7 checkpoints.

torch >= 2.6 loads checkpoints with ``weights_only=True``: only tensors, containers and
allow-listed classes may be unpickled. mmengine 0.10.7 writes a few non-tensor objects into
every checkpoint (the message hub's ``HistoryBuffer`` and the numpy arrays, dtypes and scalars
inside it), so ``resume=True`` fails with ``Unsupported global: GLOBAL
mmengine.logging.history_buffer.HistoryBuffer``.

Rather than loading with ``weights_only=False`` (which runs any pickled code in the file), this
module allow-lists exactly the types mmengine writes, and replaces mmengine's local-file loader
with one that turns torch's refusal into an error naming the file and the offending global.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    "CorruptCheckpointError",
    "UnsafeCheckpointError",
    "MMENGINE_CHECKPOINT_GLOBALS",
    "safe_load_checkpoint",
]


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint asks to unpickle a global that is not on the allow-list."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file cannot be read: truncated (an interrupted copy or save) or not torch's."""


def _numpy_globals() -> list[Any]:
    """Return the numpy callables and classes needed to unpickle arrays, dtypes and scalars.

    numpy 2 moved ``numpy.core`` to ``numpy._core``; pickles written by either name the module
    they were written with, so both spellings are allowed where they exist.
    """
    found: list[Any] = [np.ndarray, np.dtype]
    for module_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = __import__(module_name, fromlist=["_reconstruct", "scalar"])
        except ImportError:  # pragma: no cover - depends on the numpy version
            continue
        found += [module._reconstruct, module.scalar]
    # dtype classes (numpy >= 1.25 pickles dtypes through numpy.dtypes.<Name>DType)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return found


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """A ``getattr`` that resolves only HistoryBuffer's statistics methods.

    A pickled ``HistoryBuffer`` refers to its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Allowing the real ``builtins.getattr`` would let a file
    reach any attribute of any allowed object (e.g. ``numpy.ndarray.tofile``); this stand-in,
    registered under that name, resolves exactly those methods.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"Unsupported global: GLOBAL builtins.getattr({getattr(obj, '__name__', obj)!r}, {name!r})"
    )


_HISTORY_BUFFER_METHODS = frozenset({"min", "max", "current", "mean"})

#: Every global a checkpoint written by mmengine 0.10.7's Runner needs, and nothing else.
MMENGINE_CHECKPOINT_GLOBALS: list[Any] = [
    HistoryBuffer,
    bytes,
    (_history_buffer_getattr, "builtins.getattr"),
    *_numpy_globals(),
]

torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)

# torch words it "Unsupported global: GLOBAL x.y" or "unsupported GLOBAL x.y whose module ..."
_UNSUPPORTED = re.compile(r"(?i)unsupported (?:global: )?GLOBAL ([\w.]+(?:\([^)]*\))?)")


def _short_reason(err: Exception) -> str:
    """torch's reason for refusing a file, in a few words.

    The unpickler's own detail (``Unsupported operand 110``) when torch wraps it in its
    ``weights_only`` advice (which does not apply to a broken file), else the first sentence.
    """
    text = str(err)
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)", text)
    first = detail.group(1) if detail else (text.strip().splitlines() or [""])[0]
    first = first.split(". ")[0].rstrip(". ")[:160]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def safe_load_checkpoint(filename: str, map_location: Any = None) -> Any:
    """Load a local checkpoint with ``weights_only=True`` and a clear refusal message.

    Args:
        filename: Path of the checkpoint file.
        map_location: Passed to :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict`` and ``meta``).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the file asks for a global outside the allow-list, e.g.
            ``os.system``; nothing from it is executed.
        CorruptCheckpointError: the file is truncated or not a torch checkpoint (torch's own
            errors, e.g. ``OSError: [Errno 22] Invalid argument`` or ``EOFError``, do not
            name the file).
    """
    path = os.path.expanduser(filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint '{filename}' does not exist.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises pickle.UnpicklingError (or RuntimeError)
        match = _UNSUPPORTED.search(str(err))
        if match is None:
            if isinstance(err, PermissionError):
                raise  # its message names the file
            raise CorruptCheckpointError(
                f"Checkpoint '{filename}' ({os.path.getsize(path)} bytes) cannot be read "
                f"({_short_reason(err)}); truncated (an interrupted save or copy) or not a "
                "torch checkpoint?"
            ) from err
        raise UnsafeCheckpointError(
            f"Refusing to load checkpoint '{filename}': it asks to unpickle "
            f"'{match.group(1)}', which is not a type mmengine or torch writes. Loading it "
            "could run arbitrary code. If you trust the file and it needs that type, add it "
            "with torch.serialization.add_safe_globals([...]) before loading."
        ) from err


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """mmengine CheckpointLoader scheme for local paths (the empty prefix).

    mmengine logs "Loads checkpoint by {name[10:]} backend", hence its own function name.
    """
    return safe_load_checkpoint(filename, map_location=map_location)


_register: Callable[..., Any] = CheckpointLoader.register_scheme
_register(prefixes="", loader=load_from_local, force=True)
