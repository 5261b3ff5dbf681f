"""A tap recorder that keeps every call of a tapped module (one per frame of a clip).

MOTRv2 trains on a whole clip in one forward, frame after frame, so the VSD student runs once
per frame, each time on a different number of queries. :class:`TapRecorder` hands back one
call; :class:`FrameTapRecorder` hands back all of them, in call (= frame) order.
"""

from __future__ import annotations

import torch

from mmdistillmot.models.distillers.tap_recorder import TapError, TapRecorder

__all__ = ["FrameTapRecorder"]


class FrameTapRecorder(TapRecorder):
    """:class:`TapRecorder` with :meth:`get_all` (the per-frame outputs of a tapped module)."""

    def get_all(self, name: str) -> list[torch.Tensor]:
        """Every tensor tap ``name`` recorded in the last recording block, in call order.

        Args:
            name: A tap name.

        Returns:
            One tensor per call (e.g. ``[B, n_t, C]`` for frame ``t``).

        Raises:
            TapError: Unknown tap, the module did not run, or a call's output (after the
                tap's ``index``) is not a tensor.
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
        values = []
        for i, value in enumerate(calls):
            if spec.index is not None:
                try:
                    value = value[spec.index]
                except (KeyError, IndexError, TypeError) as err:
                    raise TapError(
                        f"tap '{name}': call {i} of '{spec.module}' has no item {spec.index!r}."
                    ) from err
            if not isinstance(value, torch.Tensor):
                raise TapError(
                    f"tap '{name}': call {i} of '{spec.module}' gave a {type(value).__name__}, "
                    "not a tensor; set `index` to pick one of its items."
                )
            values.append(value)
        return values
