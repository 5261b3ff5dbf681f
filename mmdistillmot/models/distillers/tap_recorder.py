"""Record the outputs (or inputs) of named submodules with forward hooks.

A *tap* names a submodule by its dotted path (``'neck'``, ``'backbone.layer3'``) and says which
part of what it returns to keep. Hooks are registered once, when the recorder is built, and are
inert outside :meth:`TapRecorder.recording`; :meth:`TapRecorder.remove` takes them off again.
No method of the model is replaced (no monkey-patching), so the model's own ``forward`` runs
unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["TapSpec", "TapRecorder", "TapError"]


class TapError(RuntimeError):
    """A tap names a missing module, did not fire, or recorded something that is not a tensor."""


@dataclass(frozen=True)
class TapSpec:
    """What one tap records.

    Attributes:
        module: Dotted path of the submodule inside the tapped model (``''`` = the model).
        source: ``'output'`` (what the module returns) or ``'input'`` (its first positional
            argument).
        index: Picks one item of a tuple/list (int) or dict (str) output; ``None`` keeps the
            whole output, except that a one-item tuple/list is unwrapped (mmdet necks return
            tuples of levels).
        call: Which call to keep when the module runs several times in one forward (e.g. once
            per frame); ``None`` requires exactly one call.
    """

    module: str
    source: str = "output"
    index: int | str | None = None
    call: int | None = None

    @classmethod
    def parse(cls, name: str, spec: str | Mapping[str, Any]) -> TapSpec:
        """Build a spec from a config value: a dotted path, or a dict of the fields.

        Args:
            name: The tap's name (for error messages).
            spec: ``'neck'`` or ``dict(module='neck', index=0, source='output', call=None)``.

        Returns:
            The parsed spec.
        """
        if isinstance(spec, str):
            return cls(module=spec)
        if not isinstance(spec, Mapping) or "module" not in spec:
            raise ValueError(
                f"tap '{name}': expected a dotted module path or dict(module=..., index=..., "
                f"source=..., call=...), got {spec!r}."
            )
        unknown = set(spec) - {"module", "source", "index", "call"}
        if unknown:
            raise ValueError(f"tap '{name}': unknown fields {sorted(unknown)}.")
        parsed = cls(**dict(spec))
        if parsed.source not in ("output", "input"):
            raise ValueError(
                f"tap '{name}': source must be 'output' or 'input', got {parsed.source!r}."
            )
        return parsed


def _select(name: str, spec: TapSpec, value: Any) -> torch.Tensor:
    """Pick the tensor a tap asks for out of a module's output."""
    if spec.index is not None:
        try:
            value = value[spec.index]
        except (KeyError, IndexError, TypeError) as err:
            raise TapError(
                f"tap '{name}': module '{spec.module}' {spec.source} has no item "
                f"{spec.index!r} ({type(value).__name__})."
            ) from err
    elif isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise TapError(
            f"tap '{name}': module '{spec.module}' {spec.source} is a {type(value).__name__}, "
            "not a tensor; set `index` to pick one of its items."
        )
    return value


class TapRecorder:
    """Forward hooks on named submodules of one model, recording while enabled.

    Args:
        model: The model whose submodules are tapped (e.g. the student).
        taps: Tap name -> dotted module path or :class:`TapSpec` fields.
        owner: Name used in error messages (``'student'`` / ``'teacher'``).
    """

    def __init__(
        self, model: nn.Module, taps: Mapping[str, str | Mapping[str, Any]], owner: str
    ) -> None:
        self.owner = owner
        self.specs: dict[str, TapSpec] = {n: TapSpec.parse(n, s) for n, s in taps.items()}
        self._records: dict[str, list[Any]] = {}
        self._enabled = False
        self._handles: list[RemovableHandle] = []
        modules = dict(model.named_modules())
        for name, spec in self.specs.items():
            if spec.module not in modules:
                close = [m for m in modules if m.endswith(spec.module.rsplit(".", 1)[-1])][:5]
                raise TapError(
                    f"{owner} tap '{name}': no submodule '{spec.module}' in "
                    f"{type(model).__name__}" + (f" (similar: {close})" if close else "") + "."
                )
            module = modules[spec.module]
            if spec.source == "output":
                handle = module.register_forward_hook(partial(self._on_output, name))
            else:
                handle = module.register_forward_pre_hook(partial(self._on_input, name))
            self._handles.append(handle)

    # hooks: return None so the module's output is never changed
    def _on_output(self, name: str, module: nn.Module, args: Any, output: Any) -> None:
        if self._enabled:
            self._records.setdefault(name, []).append(output)

    def _on_input(self, name: str, module: nn.Module, args: Any) -> None:
        if self._enabled:
            self._records.setdefault(name, []).append(args[0] if args else None)

    @contextlib.contextmanager
    def recording(self) -> Iterator[TapRecorder]:
        """Record every tap during the ``with`` block (previous records are cleared).

        Yields:
            The recorder.
        """
        self._records = {}
        self._enabled = True
        try:
            yield self
        finally:
            self._enabled = False

    def get(self, name: str) -> torch.Tensor:
        """Return what tap ``name`` recorded in the last :meth:`recording` block.

        Args:
            name: A tap name.

        Returns:
            The selected tensor (``[B, C, H, W]`` for a neck map).

        Raises:
            TapError: Unknown tap, the module did not run, ran an ambiguous number of times,
                or recorded no tensor.
        """
        if name not in self.specs:
            raise TapError(f"{self.owner} has no tap '{name}' (taps: {sorted(self.specs)}).")
        spec = self.specs[name]
        calls = self._records.get(name, [])
        if not calls:
            raise TapError(
                f"{self.owner} tap '{name}': module '{spec.module}' did not run during the "
                f"{self.owner}'s forward."
            )
        if spec.call is None:
            if len(calls) != 1:
                raise TapError(
                    f"{self.owner} tap '{name}': module '{spec.module}' ran {len(calls)} times; "
                    "set `call` in the tap to choose one."
                )
            value = calls[0]
        else:
            try:
                value = calls[spec.call]
            except IndexError as err:
                raise TapError(
                    f"{self.owner} tap '{name}': call {spec.call} asked, module "
                    f"'{spec.module}' ran {len(calls)} times."
                ) from err
        return _select(name, spec, value)

    def clear(self) -> None:
        """Drop the records (they hold activations with their autograd graph)."""
        self._records = {}

    def remove(self) -> None:
        """Take every hook off the model (the recorder records nothing afterwards)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._records = {}
