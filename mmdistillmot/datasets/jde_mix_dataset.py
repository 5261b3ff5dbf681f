"""JDE / FairMOT "MIX" training data: image lists + ``labels_with_ids`` text labels.

Layout (as JDE and FairMOT ship it): one ``*.train`` list per source dataset with one image path
per line, relative to a common root (e.g. ``MOT17/images/train/MOT17-02-SDP/img1/000001.jpg``).
The label of an image is the same path with the ``images`` directory replaced by
``labels_with_ids`` and the suffix by ``.txt``; each line is
``class identity cx/W cy/H w/W h/H`` (class 0, identity -1 = none). A missing label file means
no objects, as in FairMOT.

Identities are numbered per source dataset; to make them globally unique each dataset's
identities are shifted by the sum of ``(max identity + 1)`` of the datasets listed before it,
and ``num_identities = sum(max identity + 1) + 1`` (FairMOT's ``nID``), stored in ``metainfo``.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Mapping
from pathlib import PurePath

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from PIL import Image

__all__ = ["JDEMixDataset", "LabelFormatError", "parse_jde_label_file", "jde_label_path"]


class LabelFormatError(ValueError):
    """A ``labels_with_ids`` file has a malformed line (the message names ``file:line``)."""


def jde_label_path(
    image_path: str, image_dir: str = "images", label_dir: str = "labels_with_ids"
) -> str:
    """Label file of an image: every ``image_dir`` path component -> ``label_dir``, suffix .txt.

    Args:
        image_path (str): Path of the image.
        image_dir (str): Image directory name. Defaults to ``'images'``.
        label_dir (str): Label directory name. Defaults to ``'labels_with_ids'``.

    Returns:
        str: Path of the label file.

    Raises:
        ValueError: When ``image_path`` has no ``image_dir`` component (the label would be
            looked up next to the image, which FairMOT never does).
    """
    parts = list(PurePath(image_path).parts)
    if image_dir not in parts:
        raise ValueError(
            f"jde_label_path: '{image_path}' has no '{image_dir}' directory to map to '{label_dir}'"
        )
    parts = [label_dir if part == image_dir else part for part in parts]
    return str(PurePath(*parts).with_suffix(".txt"))


def parse_jde_label_file(path: str, num_classes: int | None = None) -> np.ndarray:
    """Read one ``labels_with_ids`` file.

    Args:
        path (str): The label file.
        num_classes (int, optional): When given, classes must lie in ``[0, num_classes)``.

    Returns:
        np.ndarray: ``[N, 6]`` float64 rows ``class, identity, cx, cy, w, h`` (normalised).

    Raises:
        LabelFormatError: Naming ``path:line`` for a line that does not have 6 numbers, a
            non-integer or out-of-range class, a non-integer identity or one below -1, or a
            negative width/height.
    """
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            fields = text.split()
            where = f"{path}:{line_no}"
            if len(fields) != 6:
                raise LabelFormatError(
                    f"{where}: expected 6 numbers 'class identity cx cy w h', got "
                    f"{len(fields)} fields: {text!r}"
                )
            try:
                values = [float(v) for v in fields]
            except ValueError:
                raise LabelFormatError(f"{where}: non-numeric field in {text!r}") from None
            if not all(np.isfinite(values)):
                raise LabelFormatError(f"{where}: non-finite value in {text!r}")
            cls, identity, _, _, w, h = values
            if cls != int(cls) or identity != int(identity):
                raise LabelFormatError(f"{where}: class and identity must be integers: {text!r}")
            if num_classes is not None and not 0 <= cls < num_classes:
                raise LabelFormatError(
                    f"{where}: class {int(cls)} outside [0, {num_classes}) in {text!r}"
                )
            if identity < -1:
                raise LabelFormatError(f"{where}: identity {int(identity)} < -1 in {text!r}")
            if w < 0 or h < 0:
                raise LabelFormatError(f"{where}: negative width or height in {text!r}")
            rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


@DATASETS.register_module()
class JDEMixDataset(BaseDetDataset):
    """The JDE "MIX" training set (several source datasets, one identity space).

    Each item is one image with ``instances`` of ``bbox`` (pixels, ``x1 y1 x2 y2``),
    ``bbox_label``, ``ignore_flag`` 0 and the global ``instance_id`` (-1 = none), the format
    ``LoadTrackAnnotations`` reads. Image sizes come from the image headers (read once).

    Args:
        list_files (Mapping[str, str]): Ordered ``name -> *.train list`` (relative to
            ``data_root`` unless absolute). The order fixes the identity offsets.
        image_dir (str): Image directory name in the listed paths. Defaults to ``'images'``.
        label_dir (str): Label directory name. Defaults to ``'labels_with_ids'``.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments (``data_root``,
            ``data_prefix=dict(img=...)`` prefixed to the listed paths, ``pipeline``,
            ``filter_cfg``, ``test_mode``...). ``ann_file`` is not used.

    Raises:
        FileNotFoundError: For a missing list file or image.
        LabelFormatError: For a malformed label line (``file:line``).
    """

    METAINFO = {"classes": ("pedestrian",), "palette": [(220, 20, 60)]}

    def __init__(
        self,
        list_files: Mapping[str, str],
        image_dir: str = "images",
        label_dir: str = "labels_with_ids",
        **kwargs,
    ) -> None:
        if not list_files:
            raise ValueError("JDEMixDataset: list_files is empty")
        self.list_files = dict(list_files)
        self.image_dir = image_dir
        self.label_dir = label_dir
        kwargs.setdefault("data_prefix", dict(img=""))
        super().__init__(**kwargs)

    def _list_path(self, path: str) -> str:
        return path if osp.isabs(path) or not self.data_root else osp.join(self.data_root, path)

    def _read_list(self, name: str) -> list[str]:
        """Image paths (relative to the image root) of one source dataset's list."""
        list_path = self._list_path(self.list_files[name])
        if not osp.isfile(list_path):
            raise FileNotFoundError(f"JDEMixDataset: list file of '{name}' not found: {list_path}")
        with open(list_path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]

    def load_data_list(self) -> list[dict]:
        """Read every list and label file, offset the identities, and build the data infos.

        Returns:
            list[dict]: One data info per image.
        """
        image_root = self.data_prefix.get("img", "") or self.data_root or ""
        num_classes = len(self._metainfo["classes"])
        sources: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
        identity_counts: dict[str, int] = {}
        for name in self.list_files:
            entries = []
            max_identity = -1
            for rel_path in self._read_list(name):
                img_path = osp.join(image_root, rel_path)
                label_path = jde_label_path(img_path, self.image_dir, self.label_dir)
                labels = (
                    parse_jde_label_file(label_path, num_classes)
                    if osp.isfile(label_path)
                    else np.zeros((0, 6))
                )
                if len(labels):
                    max_identity = max(max_identity, int(labels[:, 1].max()))
                entries.append((img_path, labels))
            sources.append((name, entries))
            identity_counts[name] = max_identity + 1

        offsets: dict[str, int] = {}
        total = 0
        for name, count in identity_counts.items():
            offsets[name] = total
            total += count
        self._metainfo.update(
            num_identities=total + 1, identity_offsets=offsets, identity_counts=identity_counts
        )
        print_log(
            f"JDEMixDataset: {sum(len(e) for _, e in sources)} images, identities per source "
            f"{identity_counts}, num_identities (nID) = {total + 1}",
            logger="current",
        )

        data_list: list[dict] = []
        progress = ProgressBar(sum(len(e) for _, e in sources))
        for name, entries in sources:
            for img_path, labels in entries:
                data_list.append(self._data_info(img_path, labels, offsets[name], len(data_list)))
                progress.update()
        return data_list

    @staticmethod
    def _data_info(img_path: str, labels: np.ndarray, offset: int, img_id: int) -> dict:
        """Convert one image's normalised labels to a data info with pixel boxes."""
        if not osp.isfile(img_path):
            raise FileNotFoundError(f"JDEMixDataset: image not found: {img_path}")
        with Image.open(img_path) as image:  # reads the header only
            width, height = image.size
        instances = []
        for cls, identity, cx, cy, w, h in labels.tolist():
            instances.append(
                dict(
                    bbox=[
                        (cx - w / 2) * width,
                        (cy - h / 2) * height,
                        (cx + w / 2) * width,
                        (cy + h / 2) * height,
                    ],
                    bbox_label=int(cls),
                    ignore_flag=0,
                    instance_id=int(identity) + offset if identity >= 0 else -1,
                )
            )
        return dict(
            img_path=img_path, img_id=img_id, width=width, height=height, instances=instances
        )

    @property
    def num_identities(self) -> int:
        """int: FairMOT's ``nID`` (sum over sources of max identity + 1, plus 1)."""
        self.full_init()
        return int(self._metainfo["num_identities"])

    def filter_data(self) -> list[dict]:
        """Drop images without objects when ``filter_cfg.filter_empty_gt`` (not in test mode).

        Returns:
            list[dict]: The kept data infos.
        """
        if self.test_mode or not (self.filter_cfg or {}).get("filter_empty_gt", False):
            return self.data_list
        return [info for info in self.data_list if info["instances"]]
