"""Market-1501-layout Re-ID folders (``bounding_box_train/PPPP_cCsS_FFFFFF_NN.jpg``).

The Re-ID split of the synthetic generator and the public Market-1501 / MSMT17-as-Market
releases share this layout. The person id and camera are read from each file name; person ids
are remapped to contiguous training labels ``0..P-1``; ids ``-1`` (junk) and ``0``
(distractors) are skipped, as Market-1501's protocol does.
"""

from __future__ import annotations

import os
import re

import numpy as np
from mmdet.datasets import ReIDDataset
from mmdet.registry import DATASETS

__all__ = ["Market1501Dataset", "parse_market_name"]

_NAME = re.compile(r"^(-?\d+)_c(\d+)s?\d*_.*\.(?:jpg|jpeg|png)$", re.IGNORECASE)


def parse_market_name(file_name: str) -> tuple[int, int]:
    """Return ``(person_id, camera_id)`` of a Market-1501 file name.

    Args:
        file_name: e.g. ``0002_c1s1_000451_03.jpg``.

    Raises:
        ValueError: the name does not follow the layout (the message names it).
    """
    match = _NAME.match(file_name)
    if match is None:
        raise ValueError(
            f"'{file_name}' is not a Market-1501 file name (expected PPPP_cC[sS]_..._NN.jpg)"
        )
    return int(match.group(1)), int(match.group(2))


@DATASETS.register_module()
class Market1501Dataset(ReIDDataset):
    """mmdet's ReIDDataset (with its triplet sampler) reading a Market-1501 folder.

    Args:
        data_root: The Re-ID root holding ``bounding_box_train`` etc.
        subset: Folder to read (``bounding_box_train``, ``bounding_box_test`` or ``query``).
        **kwargs: Passed to :class:`mmdet.datasets.ReIDDataset` (``pipeline``,
            ``triplet_sampler=dict(num_ids=8, ins_per_id=4)``, ``test_mode`` ...).
    """

    def __init__(self, data_root: str, subset: str = "bounding_box_train", **kwargs: object):
        self.subset = subset
        # ReIDDataset requires an ann_file; the folder itself is the annotation here.
        kwargs.setdefault("ann_file", subset)
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per image: ``img_path``, ``gt_label`` (contiguous id), ``camera_id``."""
        folder = os.path.join(self.data_root, self.subset)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"Market1501Dataset: folder '{folder}' does not exist")
        names = sorted(
            n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".jpeg", ".png"))
        )
        entries = []
        for name in names:
            try:
                pid, camera = parse_market_name(name)
            except ValueError as err:
                raise ValueError(f"Market1501Dataset: {folder}: {err}") from None
            if pid <= 0:  # junk (-1) and distractor (0) images
                continue
            entries.append((name, pid, camera))
        if not entries:
            raise ValueError(f"Market1501Dataset: no identity images in '{folder}'")
        labels = {pid: label for label, pid in enumerate(sorted({e[1] for e in entries}))}
        data_list = [
            dict(
                img_path=os.path.join(folder, name),
                gt_label=np.array(labels[pid], dtype=np.int64),
                person_id=pid,
                camera_id=camera,
            )
            for name, pid, camera in entries
        ]
        self.num_identities = len(labels)
        self._parse_ann_info(data_list)
        return data_list
