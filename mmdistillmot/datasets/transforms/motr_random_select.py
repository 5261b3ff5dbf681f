"""``MOTRRandomSelect``: one of two transform sequences, chosen once per clip (MotRandomSelect).

MOTRv2's training augmentation picks, with probability ``p`` (0.5), either a plain multi-scale
resize or a resize / random-crop / resize sequence, once per clip. Inside a
``TransformBroadcaster(share_random_params=True)`` the choice here is a ``@cache_randomness``
draw, so every frame of the clip takes the same branch, and the branches' own draws (sizes,
crop window) are shared as well: ``__iter__`` exposes both branches to mmcv's
``cache_random_params``.

Why not mmcv's ``RandomChoice``: its ``random_pipeline_index`` is registered twice in
``RandomChoice._methods_with_randomness`` once mmdet is imported (mmdet's ``RandAugment``
subclass redefines the method, and mmcv's ``cache_randomness`` appends the name to the list it
inherits), so under ``share_random_params`` mmcv counts every call twice and refuses the
transform ("should be invoked at most once"). This class keeps its own list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

__all__ = ["MOTRRandomSelect"]


@TRANSFORMS.register_module()
class MOTRRandomSelect(BaseTransform):
    """Apply ``transforms1`` with probability ``p``, else ``transforms2`` (one draw per call).

    Args:
        transforms1 (Sequence[dict]): Transform configs of the first branch.
        transforms2 (Sequence[dict]): Transform configs of the second branch.
        p (float): Probability of the first branch. Defaults to 0.5 (MOTRv2's).

    Raises:
        ValueError: ``p`` is outside [0, 1].
    """

    def __init__(
        self, transforms1: Sequence[dict], transforms2: Sequence[dict], p: float = 0.5
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p}")
        self.p = p
        self.branches = [Compose(list(transforms1)), Compose(list(transforms2))]

    def __iter__(self) -> Iterator[Compose]:
        """Both branches, so that ``cache_random_params`` reaches their transforms."""
        return iter(self.branches)

    @cache_randomness
    def _branch(self) -> int:
        """0 for ``transforms1`` (probability ``p``), 1 for ``transforms2``."""
        return 0 if np.random.rand() < self.p else 1  # noqa: NPY002  (mmcv's global state)

    def transform(self, results: dict) -> dict | None:
        """Run the chosen branch on ``results``.

        Args:
            results (dict): One frame's results (the broadcaster hands over one at a time).

        Returns:
            dict | None: What the branch returns.
        """
        return self.branches[self._branch()](results)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(p={self.p}, transforms1={self.branches[0]}, "
            f"transforms2={self.branches[1]})"
        )
