"""Loading local teacher weights: unwrap, rename, check, and fingerprint the file.

Every teacher (OSNet, DINOv2, CLIP, ...) reads its weights from a local file through
:func:`load_weights_file`, so that they all unwrap checkpoints the same way, refuse unsafe
pickles the same way (:func:`mmdistillmot.compat.safe_load_checkpoint`), and fail the same
clear way when a key the network needs is absent from the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from mmengine.logging import MMLogger
from torch import nn

from mmdistillmot.compat import safe_load_checkpoint

__all__ = [
    "LoadedWeights",
    "TeacherWeightsError",
    "file_sha256",
    "unwrap_state_dict",
    "rename_state_dict_keys",
    "load_weights_file",
]

#: Keys under which training frameworks nest the weights (torchreid and mmengine use
#: ``state_dict``, DeiT/timm training scripts ``model``, some DDP dumps ``module``).
WRAPPER_KEYS: tuple[str, ...] = ("state_dict", "model", "module")

#: How many key names an error message lists before it says "and N more".
_KEYS_SHOWN = 8

# (path, size, mtime_ns) -> sha256; a teacher re-reads its file in init_weights, and hashing a
# multi-GB DINOv2-g file twice would cost seconds for nothing.
_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


class TeacherWeightsError(RuntimeError):
    """A teacher's weight file does not fit the network (missing keys, wrong shapes)."""


@dataclass
class LoadedWeights:
    """What :func:`load_weights_file` loaded.

    Attributes:
        path: The absolute path of the file.
        sha256: Hex sha256 of the file's bytes (the teacher fingerprint uses it).
        num_loaded: Number of tensors copied into the network.
        unexpected_keys: Keys in the file that the network has no slot for (reported, not fatal).
        ignored_keys: Keys dropped on purpose by ``ignore_keys`` (e.g. a classifier).
    """

    path: str
    sha256: str
    num_loaded: int
    unexpected_keys: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)


def _show_keys(keys: Sequence[str]) -> str:
    """Format the first few keys of a list for an error message."""
    shown = ", ".join(repr(k) for k in keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def file_sha256(path: str, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes (cached per path, size and mtime).

    Args:
        path: A local file.
        chunk_size: Bytes read at a time.

    Returns:
        The 64-character lowercase hex digest.
    """
    real = os.path.realpath(os.path.expanduser(path))
    stat = os.stat(real)
    cache_key = (real, stat.st_size, stat.st_mtime_ns)
    cached = _SHA256_CACHE.get(cache_key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(real, "rb") as file:
        for block in iter(lambda: file.read(chunk_size), b""):
            digest.update(block)
    _SHA256_CACHE[cache_key] = digest.hexdigest()
    return _SHA256_CACHE[cache_key]


def unwrap_state_dict(
    checkpoint: object, source: str = "<checkpoint>", strip_prefixes: Sequence[str] = ("module.",)
) -> dict[str, torch.Tensor]:
    """Return the flat ``name -> tensor`` dict inside a loaded checkpoint.

    Handles a plain state dict, one nested (repeatedly) under ``state_dict`` / ``model`` /
    ``module``, and keys prefixed by DataParallel/DDP's ``module.``. Non-tensor entries beside the
    weights (``epoch``, ``optimizer`` stats, ...) are dropped.

    Args:
        checkpoint: What :func:`torch.load` returned.
        source: The file name, for error messages.
        strip_prefixes: Prefixes removed from every key that starts with them (repeatedly, so
            ``module.module.x`` becomes ``x``).

    Returns:
        The state dict.

    Raises:
        TeacherWeightsError: The checkpoint holds no tensors at all.
    """
    current = checkpoint
    while isinstance(current, Mapping):
        nested = [k for k in WRAPPER_KEYS if isinstance(current.get(k), Mapping)]
        if not nested:
            break
        current = current[nested[0]]
    if not isinstance(current, Mapping):
        raise TeacherWeightsError(
            f"{source}: expected a state dict (a mapping of names to tensors), got "
            f"{type(current).__name__}."
        )
    state_dict: dict[str, torch.Tensor] = {}
    for key, value in current.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = str(key)
        stripped = True
        while stripped:
            stripped = False
            for prefix in strip_prefixes:
                if prefix and name.startswith(prefix):
                    name = name[len(prefix) :]
                    stripped = True
        state_dict[name] = value
    if not state_dict:
        raise TeacherWeightsError(
            f"{source}: no tensors found (top-level keys: {_show_keys([str(k) for k in current])})."
        )
    return state_dict


def rename_state_dict_keys(
    state_dict: Mapping[str, torch.Tensor], renames: Sequence[tuple[str, str]]
) -> dict[str, torch.Tensor]:
    r"""Rename keys with regular expressions, applied in order to every key.

    Args:
        state_dict: Name -> tensor.
        renames: ``(pattern, replacement)`` pairs for :func:`re.sub`, e.g.
            ``(r'^backbone\.', '')``.

    Returns:
        A new dict with renamed keys (values shared, not copied).
    """
    compiled = [(re.compile(pattern), repl) for pattern, repl in renames]
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        renamed[key] = value
    return renamed


def load_weights_file(
    module: nn.Module,
    path: str,
    owner: str,
    key_renames: Sequence[tuple[str, str]] = (),
    ignore_keys: Sequence[str] = (),
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> LoadedWeights:
    """Load a local weight file into ``module``, failing loudly on anything missing.

    Steps: safe load (no arbitrary unpickling) -> unwrap ``state_dict``/``model``/``module.`` ->
    ``convert`` (format conversion, e.g. an original release layout to timm's) -> regex
    ``key_renames`` -> drop keys matching ``ignore_keys`` -> shape check -> copy.

    Args:
        module: The network to load into (its own ``state_dict`` names are the target names).
        path: Local weight file.
        owner: The teacher's name, used in every message (e.g. ``'OSNetTeacher(osnet_x1_0)'``).
        key_renames: ``(pattern, replacement)`` regex pairs applied to every file key.
        ignore_keys: Regex patterns (``re.search``) of file keys to drop, e.g. a classifier whose
            size depends on the training set.
        convert: Optional function applied to the unwrapped state dict before renaming.

    Returns:
        A :class:`LoadedWeights` report (path, sha256, counts, unexpected and ignored keys).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        mmdistillmot.compat.UnsafeCheckpointError: The file asks to unpickle unsafe globals.
        TeacherWeightsError: Keys the network needs are missing, or a shape differs.
    """
    real = os.path.expanduser(path)
    if not os.path.isfile(real):
        raise FileNotFoundError(f"{owner}: weight file '{path}' does not exist.")
    checkpoint = safe_load_checkpoint(real, map_location="cpu")
    state_dict = unwrap_state_dict(checkpoint, source=path)
    if convert is not None:
        state_dict = convert(state_dict)
    if key_renames:
        state_dict = rename_state_dict_keys(state_dict, key_renames)
    ignore_patterns = [re.compile(p) for p in ignore_keys]
    ignored = sorted(k for k in state_dict if any(p.search(k) for p in ignore_patterns))
    for key in ignored:
        del state_dict[key]

    target = module.state_dict()
    missing = sorted(k for k in target if k not in state_dict)
    # BatchNorm's num_batches_tracked is a counter, not a weight; torchreid and timm files
    # written by older torch versions lack it, and it does not change eval-mode outputs.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise TeacherWeightsError(
            f"{owner}: weight file '{path}' lacks {len(missing)} of the network's "
            f"{len(target)} keys: {_show_keys(missing)}. The file's keys start with: "
            f"{_show_keys(sorted(state_dict))}. Wrong architecture, or a format that needs "
            "key_renames?"
        )
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)} vs network {tuple(target[k].shape)}"
        for k in sorted(target)
        if k in state_dict and state_dict[k].shape != target[k].shape
    ]
    if mismatched:
        raise TeacherWeightsError(
            f"{owner}: weight file '{path}' has {len(mismatched)} tensors of the wrong shape "
            f"(wrong architecture?): {'; '.join(mismatched[:_KEYS_SHOWN])}"
        )
    unexpected = sorted(k for k in state_dict if k not in target)
    module.load_state_dict({k: v for k, v in state_dict.items() if k in target}, strict=False)
    if unexpected:
        MMLogger.get_current_instance().warning(
            f"{owner}: {len(unexpected)} keys in '{path}' are not used by the network: "
            f"{_show_keys(unexpected)}"
        )
    return LoadedWeights(
        path=os.path.abspath(real),
        sha256=file_sha256(real),
        num_loaded=sum(1 for k in state_dict if k in target),
        unexpected_keys=unexpected,
        ignored_keys=ignored,
    )
