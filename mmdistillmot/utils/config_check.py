"""Check a config's ``type`` fields before building, with errors that name the field.

mmengine reports an unknown type only as ``KeyError: 'X is not in the mmdet::model registry'``
from deep inside a build, without saying which config field held it. Walking the config first
gives the file, the dotted field path and close matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

import mmdet.registry as mmdet_registry
import mmengine.registry as mmengine_registry
from mmengine.config import Config
from mmengine.registry import Registry

__all__ = ["ConfigTypeError", "check_config_types", "iter_type_fields"]

# ``type`` values that name an op for a function (e.g. mmcv.ops.batched_nms), not a registry.
_NON_REGISTRY_TYPES = frozenset({"nms", "soft_nms", "nms_match", "nms_rotated", "pseudo_collate"})


class ConfigTypeError(KeyError):
    """A config field names a ``type`` that no registry knows."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


def _all_registries() -> list[Registry]:
    """Return every registry object of mmdet and mmengine (mmdet's are children of mmengine's)."""
    found: list[Registry] = []
    for module in (mmdet_registry, mmengine_registry):
        for value in vars(module).values():
            if isinstance(value, Registry) and value not in found:
                found.append(value)
    return found


def iter_type_fields(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(dotted_path, type_name)`` for every string ``type`` in a nested config.

    Args:
        node: A config (dict-like), list or leaf value.
        path: Dotted path of ``node`` inside the root config.

    Yields:
        The path of each ``type`` key (e.g. ``model.backbone.type``) and its string value.
    """
    if isinstance(node, Mapping):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if key == "type" and isinstance(value, str):
                yield child, value
            else:
                yield from iter_type_fields(value, child)
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from iter_type_fields(value, f"{path}[{index}]")


def check_config_types(cfg: Config, filename: str | None = None) -> None:
    """Raise :class:`ConfigTypeError` if any ``type`` in ``cfg`` is registered nowhere.

    Args:
        cfg: The loaded config (``custom_imports`` must already have been imported, which
            ``Config.fromfile`` does).
        filename: The config's path, for the message; defaults to ``cfg.filename``.

    Raises:
        ConfigTypeError: naming the file, the dotted field and the closest registered names.
    """
    registries = _all_registries()
    known: set[str] = set(_NON_REGISTRY_TYPES)
    for registry in registries:
        known.update(registry.module_dict)
    for field, type_name in iter_type_fields(cfg.to_dict()):
        bare = type_name.split(".")[-1]  # 'mmdet.ResNet' -> 'ResNet'
        if bare in known:
            continue
        if any(registry.get(type_name) is not None for registry in registries):
            continue  # lazily imported by a registry's own locations
        close = difflib.get_close_matches(bare, sorted(known), n=3, cutoff=0.7)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        source = filename or cfg.filename or "<config>"
        raise ConfigTypeError(
            f"{source}: {field} = {type_name!r} is not registered in any mmdet or mmengine "
            f"registry (is the module that defines it listed in custom_imports?).{hint}"
        )
