"""Per-frame detector proposals from a det-db JSON file (MOTRv2's proposal queries).

det-db format (what ``tools/dataset_converters/make_det_db.py`` writes, and the layout of
MOTRv2's public ``det_db`` files): one JSON object mapping a frame key to a list of lines
``"x,y,w,h,score"`` (pixels of the original image, top-left corner and size; a trailing newline
is allowed). Lists of five numbers are accepted too. The key is the frame's image path,
usually relative to the dataset root, e.g. ``"train/MOT17-02-FRCNN/img1/000001.jpg"``.

Lookup is by path suffix without the extension: a frame ``data/MOT17/train/SEQ/img1/000001.jpg``
finds the key ``train/SEQ/img1/000001.jpg``, ``SEQ/img1/000001.txt`` or ``SEQ/img1/000001`` (a
``(video, frame)`` key written as ``"<video>/img1/<frame>"``), whichever is the longest suffix in
the file; a suffix shared by two keys is an error, not a guess.

The transform belongs *after* the geometric transforms of a frame: it maps the boxes through
the pipeline's ``homography_matrix`` (recorded by mmdet's ``Resize``, ``RandomFlip``,
``RandomCrop`` ...), so proposals stay aligned with the image whatever augmentation ran.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

__all__ = ["DetDB", "LoadDetDBProposals", "format_proposal_line", "parse_proposal_line"]


def format_proposal_line(x: float, y: float, w: float, h: float, score: float) -> str:
    r"""One det-db line ``"x,y,w,h,score"`` (pixels, top-left) with a trailing newline.

    Args:
        x (float): Left edge in pixels.
        y (float): Top edge in pixels.
        w (float): Width in pixels.
        h (float): Height in pixels.
        score (float): Detector confidence.

    Returns:
        str: e.g. ``"10.5,20,30,60,0.913\\n"``.
    """
    fields = [_trim(v, 2) for v in (x, y, w, h)] + [_trim(score, 4)]
    return ",".join(fields) + "\n"


def _trim(value: float, digits: int) -> str:
    """Fixed-point text without trailing zeros (``30.50`` -> ``30.5``, ``60.00`` -> ``60``)."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_proposal_line(line: Any, where: str) -> list[float]:
    """Parse one det-db entry into ``[x, y, w, h, score]``.

    Args:
        line (Any): ``"x,y,w,h,score"`` string or a sequence of five numbers.
        where (str): Location for error messages (file and key).

    Returns:
        list[float]: Five finite floats with ``w >= 0`` and ``h >= 0``.

    Raises:
        ValueError: If the entry is not five finite numbers or has a negative size.
    """
    values = line.strip().split(",") if isinstance(line, str) else line
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: bad proposal {line!r}, expected 'x,y,w,h,score'") from err
    if len(numbers) != 5 or not np.all(np.isfinite(numbers)):
        raise ValueError(f"{where}: bad proposal {line!r}, expected 5 finite numbers x,y,w,h,score")
    if numbers[2] < 0 or numbers[3] < 0:
        raise ValueError(f"{where}: proposal {line!r} has a negative width or height")
    return numbers


def _path_parts(path: str) -> tuple[str, ...]:
    """Path components with the extension of the last one removed."""
    parts = PurePath(path.replace("\\", "/")).parts
    if not parts:
        return ()
    return tuple(p for p in parts[:-1] if p not in ("/", ".")) + (os.path.splitext(parts[-1])[0],)


class DetDB:
    """A loaded det-db with suffix lookup.

    Args:
        path (str | Path): The JSON file.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is not a JSON object of lists.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"det-db file not found: {self.path}")
        with open(self.path) as handle:
            data = json.load(handle)
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: a det-db must be a JSON object of frame -> lines")
        self.entries: dict[str, list] = {}
        # suffix (tuple of path parts) -> key, or None when two keys share the suffix.
        self._suffixes: dict[tuple[str, ...], str | None] = {}
        for key, lines in data.items():
            if not isinstance(lines, list):
                kind = type(lines).__name__
                raise ValueError(f"{self.path}: key {key!r} holds {kind}, not a list")
            self.entries[key] = lines
            parts = _path_parts(key)
            for begin in range(len(parts)):
                suffix = parts[begin:]
                seen = self._suffixes.get(suffix, key)
                self._suffixes[suffix] = key if seen == key else None

    def __len__(self) -> int:
        return len(self.entries)

    def find_key(self, img_path: str) -> str:
        """The det-db key of an image: the longest path suffix the file knows.

        Args:
            img_path (str): Image path as the dataset gives it.

        Returns:
            str: The matching key.

        Raises:
            KeyError: If no key matches, or the longest match is shared by several keys.
        """
        parts = _path_parts(img_path)
        for begin in range(len(parts)):
            suffix = parts[begin:]
            if suffix in self._suffixes:
                key = self._suffixes[suffix]
                if key is None:
                    raise KeyError(
                        f"{self.path}: frame {img_path!r} matches several keys by "
                        f"{'/'.join(suffix)!r}; write keys with more of the path"
                    )
                return key
        raise KeyError(f"{self.path}: no proposals for frame {img_path!r}")

    def proposals(self, img_path: str) -> np.ndarray:
        """Proposals of one frame.

        Args:
            img_path (str): Image path.

        Returns:
            np.ndarray: ``[K, 5]`` float32 ``(x, y, w, h, score)`` in original pixels.
        """
        key = self.find_key(img_path)
        where = f"{self.path} [{key!r}]"
        rows = [parse_proposal_line(line, where) for line in self.entries[key]]
        return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


@lru_cache(maxsize=4)
def _load_det_db(path: str, mtime: float) -> DetDB:
    """Load each det-db once per process (``mtime`` invalidates the cache on change)."""
    return DetDB(path)


@TRANSFORMS.register_module()
class LoadDetDBProposals(BaseTransform):
    """Attach the frame's det-db proposals, mapped into the current image.

    Args:
        det_db (str): Path of the det-db JSON file.
        score_thr (float): Keep proposals with score strictly above this. Defaults to 0.0
            (the builder already kept score > 0.05).
        max_num (int, optional): Keep at most this many, highest scores first. Defaults to
            None (all).
        strict (bool): Raise when a frame has no key; otherwise give it no proposals.
            Defaults to True.

    Adds ``det_proposals``: ``[K, 5]`` float32 ``(x1, y1, x2, y2, score)`` in the pixels of
    the current (augmented) image, clipped to it; boxes that end up empty are dropped. Pack it
    with ``PackTrackInputs(meta_keys=('det_proposals',))``.
    """

    def __init__(
        self,
        det_db: str,
        score_thr: float = 0.0,
        max_num: int | None = None,
        strict: bool = True,
    ) -> None:
        self.det_db = det_db
        self.score_thr = score_thr
        self.max_num = max_num
        self.strict = strict

    def _db(self) -> DetDB:
        path = os.path.abspath(self.det_db)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"det-db file not found: {path} (build it with tools/dataset_converters/"
                "make_det_db.py)"
            )
        return _load_det_db(path, os.path.getmtime(path))

    def transform(self, results: dict) -> dict:
        """Look up, transform and clip the proposals of ``results['img_path']``.

        Args:
            results (dict): Needs ``img_path``; uses ``homography_matrix`` (3x3, original ->
                current pixels) and ``img_shape`` when present.

        Returns:
            dict: ``results`` with ``det_proposals`` added.
        """
        try:
            raw = self._db().proposals(results["img_path"])
        except KeyError:
            if self.strict:
                raise
            raw = np.zeros((0, 5), dtype=np.float32)
        raw = raw[raw[:, 4] > self.score_thr]
        if self.max_num is not None:
            raw = raw[np.argsort(-raw[:, 4], kind="stable")[: self.max_num]]
        boxes = np.concatenate([raw[:, :2], raw[:, :2] + raw[:, 2:4]], axis=1)
        homography = results.get("homography_matrix")
        if homography is not None and len(boxes):
            boxes = _warp_boxes(boxes, np.asarray(homography, dtype=np.float64))
        if "img_shape" in results:
            img_h, img_w = results["img_shape"][:2]
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, img_w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, img_h)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        results["det_proposals"] = np.concatenate([boxes, raw[:, 4:5]], axis=1)[valid].astype(
            np.float32
        )
        return results

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(det_db={self.det_db!r}, score_thr={self.score_thr}, "
            f"max_num={self.max_num}, strict={self.strict})"
        )


def _warp_boxes(boxes: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map ``[K, 4]`` xyxy boxes through a 3x3 homography (the enclosing box of the corners)."""
    x1, y1, x2, y2 = boxes.T
    corners = np.stack(
        [np.stack([x1, y1]), np.stack([x2, y1]), np.stack([x1, y2]), np.stack([x2, y2])]
    )  # [4, 2, K]
    ones = np.ones((4, 1, boxes.shape[0]))
    points = np.einsum("ij,cjk->cik", homography, np.concatenate([corners, ones], axis=1))
    points = points[:, :2] / points[:, 2:3]
    return np.concatenate([points.min(axis=0).T, points.max(axis=0).T], axis=1).astype(np.float32)
