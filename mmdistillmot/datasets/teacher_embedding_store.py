"""An on-disk store of teacher embeddings, one row per ground-truth box (offline distillation).

Layout of a store directory (written by ``tools/distill/extract_teacher_embeddings.py``)::

    embeddings.npy    float16 [N, D]  one teacher embedding per annotation
    ann_ids.npy       int64   [N]     annotation id of each row
    image_ids.npy     int64   [N]     image id of each row
    boxes.npy         float32 [N, 4]  the annotation's box, xyxy pixels (x, y, x + w, y + h)
    fingerprint.json  teacher fingerprint, annotation-file sha256, extraction options, and the
                      sha256 of each array file (written last: its presence marks a complete
                      store)

Rows are sorted by ``(image_id, ann_id)``, so the rows of one image are contiguous and the
files do not depend on how the extraction was sharded. Plain ``.npy`` files (no zip archive
with timestamps) keep two extractions of the same data byte-identical.

Opening a store checks it against what the training config expects: the teacher (name,
arch, weights hash, ...), the annotation file's sha256, and the array files' hashes. Any
mismatch is a :class:`StaleTeacherStoreError`; a training run never sees silent zeros.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmdistillmot.models.teachers.weights import file_sha256

__all__ = [
    "STORE_FORMAT_VERSION",
    "StaleTeacherStoreError",
    "TeacherEmbeddingStore",
    "write_teacher_embedding_store",
]

STORE_FORMAT_VERSION = 1

#: Array files of a store: key -> file name.
_ARRAY_FILES: dict[str, str] = {
    "embeddings": "embeddings.npy",
    "ann_ids": "ann_ids.npy",
    "image_ids": "image_ids.npy",
    "boxes": "boxes.npy",
}
FINGERPRINT_FILE = "fingerprint.json"


class StaleTeacherStoreError(RuntimeError):
    """A teacher embedding store does not match the data or teacher it is used with."""


def _atomic_save_npy(path: str, array: np.ndarray) -> None:
    """Write an ``.npy`` file through a temporary name, so a crash leaves no half file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as file:
        np.save(file, array, allow_pickle=False)
    os.replace(tmp, path)


def write_teacher_embedding_store(
    out_dir: str,
    embeddings: np.ndarray,
    ann_ids: np.ndarray,
    image_ids: np.ndarray,
    boxes: np.ndarray,
    teacher_fingerprint: Mapping[str, Any],
    annotations: Mapping[str, Any],
    extraction: Mapping[str, Any],
) -> dict[str, Any]:
    """Write a store (rows re-sorted by ``(image_id, ann_id)``); fingerprint.json goes last.

    Args:
        out_dir: Store directory (created if needed).
        embeddings: ``[N, D]`` embeddings (stored as float16).
        ann_ids: ``[N]`` annotation ids (unique).
        image_ids: ``[N]`` image ids.
        boxes: ``[N, 4]`` xyxy pixel boxes (stored as float32).
        teacher_fingerprint: The teacher's ``fingerprint()``.
        annotations: Facts about the annotation file: at least ``sha256``.
        extraction: Extraction options (e.g. ``skip_crowd``), recorded for the loader.

    Returns:
        The fingerprint dict written to ``fingerprint.json``.

    Raises:
        ValueError: Shapes disagree or annotation ids repeat.
    """
    n = len(ann_ids)
    if embeddings.ndim != 2 or len(embeddings) != n or len(image_ids) != n or len(boxes) != n:
        raise ValueError(
            f"store arrays disagree: embeddings {embeddings.shape}, ann_ids {len(ann_ids)}, "
            f"image_ids {len(image_ids)}, boxes {boxes.shape}."
        )
    order = np.lexsort((np.asarray(ann_ids), np.asarray(image_ids)))
    arrays: dict[str, np.ndarray] = {
        "embeddings": np.ascontiguousarray(embeddings[order], dtype=np.float16),
        "ann_ids": np.ascontiguousarray(np.asarray(ann_ids)[order], dtype=np.int64),
        "image_ids": np.ascontiguousarray(np.asarray(image_ids)[order], dtype=np.int64),
        "boxes": np.ascontiguousarray(np.asarray(boxes)[order], dtype=np.float32).reshape(n, 4),
    }
    if n and len(np.unique(arrays["ann_ids"])) != n:
        raise ValueError("store rows repeat an annotation id.")
    os.makedirs(out_dir, exist_ok=True)
    fingerprint_path = os.path.join(out_dir, FINGERPRINT_FILE)
    if os.path.exists(fingerprint_path):
        os.remove(fingerprint_path)  # the store is incomplete until the new one is written
    hashes = {}
    for key, filename in _ARRAY_FILES.items():
        path = os.path.join(out_dir, filename)
        _atomic_save_npy(path, arrays[key])
        hashes[key] = file_sha256(path)
    fingerprint = {
        "format_version": STORE_FORMAT_VERSION,
        "teacher": dict(teacher_fingerprint),
        "annotations": dict(annotations),
        "extraction": dict(extraction),
        "store": {
            "num_rows": n,
            "embed_dim": int(arrays["embeddings"].shape[1]),
            "dtype": "float16",
            "files_sha256": hashes,
        },
    }
    tmp = fingerprint_path + ".tmp"
    with open(tmp, "w") as file:
        json.dump(fingerprint, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(tmp, fingerprint_path)
    return fingerprint


@dataclass
class _ImageRows:
    """Rows ``[start, stop)`` of one image."""

    start: int
    stop: int


class TeacherEmbeddingStore:
    """Read access to a store, verified against what the caller expects.

    Args:
        store_dir: The store directory.
        expected_teacher: Fingerprint fields the store's teacher must have, e.g.
            ``dict(name='OSNetTeacher', arch='osnet_x1_0')``. A ``weights`` entry is a local
            file whose sha256 must equal the store's ``weights_sha256`` (paths differ between
            machines; contents must not); a ``weights_sha256`` entry pins the hash itself
            without the file. None checks nothing about the teacher.
        allow_random_init_teacher: Accept a store whose fingerprint says its teacher ran on
            random weights (``random_init: true``), or does not say (no ``random_init``
            field). Off by default: such pseudo embeddings carry no appearance and would
            train silently (the released DINOv2 distillation code had this defect).
        ann_file: The annotation file the store must have been extracted from (its sha256 is
            compared). None skips this file-level check; the per-box check of
            :meth:`match_boxes` still catches changed boxes.
        verify_files: Re-hash the array files against the fingerprint (catches a store
            overwritten half-way; costs one read of the files).
        mmap: Memory-map ``embeddings.npy`` (shared page cache between dataloader workers).

    Raises:
        StaleTeacherStoreError: Missing/incomplete store, or any mismatch above.
    """

    def __init__(
        self,
        store_dir: str,
        expected_teacher: Mapping[str, Any] | None = None,
        ann_file: str | None = None,
        verify_files: bool = True,
        mmap: bool = True,
        allow_random_init_teacher: bool = False,
    ) -> None:
        self.store_dir = store_dir
        fingerprint_path = os.path.join(store_dir, FINGERPRINT_FILE)
        if not os.path.isfile(fingerprint_path):
            raise StaleTeacherStoreError(
                f"'{store_dir}' is not a complete teacher embedding store (no "
                f"{FINGERPRINT_FILE}); run tools/distill/extract_teacher_embeddings.py "
                "(with --resume to finish an interrupted run)."
            )
        with open(fingerprint_path) as file:
            try:
                self.fingerprint: dict[str, Any] = json.load(file)
            except json.JSONDecodeError as err:
                raise StaleTeacherStoreError(f"{fingerprint_path}: invalid JSON ({err}).") from err
        version = self.fingerprint.get("format_version")
        if version != STORE_FORMAT_VERSION:
            raise StaleTeacherStoreError(
                f"{fingerprint_path}: store format {version}, this code reads "
                f"{STORE_FORMAT_VERSION}; re-extract."
            )
        if verify_files:
            self._verify_files()
        if not allow_random_init_teacher:
            self.check_trained_teacher()
        if expected_teacher is not None:
            self.check_teacher(expected_teacher)
        if ann_file is not None:
            self.check_annotation_file(ann_file)
        self.embeddings: np.ndarray = np.load(
            self._path("embeddings"), mmap_mode="r" if mmap else None, allow_pickle=False
        )
        self.ann_ids: np.ndarray = np.load(self._path("ann_ids"), allow_pickle=False)
        self.image_ids: np.ndarray = np.load(self._path("image_ids"), allow_pickle=False)
        self.boxes: np.ndarray = np.load(self._path("boxes"), allow_pickle=False)
        rows = int(self.fingerprint["store"]["num_rows"])
        if not (len(self.embeddings) == len(self.ann_ids) == len(self.boxes) == rows):
            raise StaleTeacherStoreError(f"'{store_dir}': array lengths disagree with {rows} rows.")
        self._ann_order = np.argsort(self.ann_ids, kind="stable")
        self._sorted_ann_ids = self.ann_ids[self._ann_order]

    # ------------------------------------------------------------------ checks
    def _path(self, key: str) -> str:
        return os.path.join(self.store_dir, _ARRAY_FILES[key])

    def _verify_files(self) -> None:
        expected = self.fingerprint.get("store", {}).get("files_sha256", {})
        for key in _ARRAY_FILES:
            path = self._path(key)
            if not os.path.isfile(path):
                raise StaleTeacherStoreError(f"'{self.store_dir}': {_ARRAY_FILES[key]} is missing.")
            if file_sha256(path) != expected.get(key):
                raise StaleTeacherStoreError(
                    f"'{path}' does not match the sha256 recorded in {FINGERPRINT_FILE}: the "
                    "store was modified or partly overwritten; re-extract."
                )

    @property
    def teacher(self) -> dict[str, Any]:
        """The fingerprint of the teacher that produced the store."""
        return dict(self.fingerprint.get("teacher", {}))

    @property
    def embed_dim(self) -> int:
        """Embedding dimension ``D``."""
        return int(self.fingerprint["store"]["embed_dim"])

    @property
    def skip_crowd(self) -> bool:
        """Whether crowd (``iscrowd=1``) boxes were left out at extraction."""
        return bool(self.fingerprint.get("extraction", {}).get("skip_crowd", True))

    def check_trained_teacher(self) -> None:
        """Refuse a store whose teacher ran on random weights, or whose fingerprint is silent.

        Raises:
            StaleTeacherStoreError: ``random_init`` is true or absent in the teacher fingerprint.
        """
        random_init = self.teacher.get("random_init")
        if random_init is False:
            return
        said = "ran on random weights" if random_init else "has no 'random_init' field"
        raise StaleTeacherStoreError(
            f"teacher embedding store '{self.store_dir}': its teacher {said}, so its pseudo "
            "embeddings may carry no appearance. Re-extract with real teacher weights, or opt "
            "in (tests, smoke runs) with LoadTeacherEmbeddings(allow_random_init_teacher=True)."
        )

    def check_teacher(self, expected: Mapping[str, Any]) -> None:
        """Compare the store's teacher fingerprint with the expected fields.

        Args:
            expected: Fingerprint fields; ``weights`` is a local file compared by sha256.

        Raises:
            StaleTeacherStoreError: A field differs (all differences are listed).
        """
        stored = self.teacher
        problems = []
        for key, value in expected.items():
            if key == "weights" and value is not None:
                if not os.path.isfile(str(value)):
                    raise FileNotFoundError(f"expected teacher weights '{value}' do not exist.")
                actual_hash = file_sha256(str(value))
                if stored.get("weights_sha256") != actual_hash:
                    problems.append(
                        f"weights: store made with sha256 {stored.get('weights_sha256')}, "
                        f"'{value}' has {actual_hash}"
                    )
                continue
            stored_value = stored.get(key)
            if isinstance(value, list | tuple):
                value = list(value)
            if stored_value != value:
                problems.append(f"{key}: store has {stored_value!r}, config expects {value!r}")
        if problems:
            raise StaleTeacherStoreError(
                f"teacher embedding store '{self.store_dir}' was made by a different teacher: "
                + "; ".join(problems)
                + ". Re-run tools/distill/extract_teacher_embeddings.py with this teacher."
            )

    def check_annotation_file(self, ann_file: str) -> None:
        """Check that ``ann_file`` is byte-identical to the file the store was made from.

        Args:
            ann_file: Local annotation file.

        Raises:
            StaleTeacherStoreError: The sha256 differs.
        """
        stored = self.fingerprint.get("annotations", {}).get("sha256")
        actual = file_sha256(ann_file)
        if stored != actual:
            raise StaleTeacherStoreError(
                f"teacher embedding store '{self.store_dir}' is stale: it was extracted from an "
                f"annotation file with sha256 {stored}, but '{ann_file}' has {actual}. "
                "Re-run tools/distill/extract_teacher_embeddings.py."
            )

    # ------------------------------------------------------------------ lookups
    def image_rows(self, image_id: int) -> _ImageRows:
        """The contiguous rows of one image (empty when the image has none)."""
        start = int(np.searchsorted(self.image_ids, image_id, side="left"))
        stop = int(np.searchsorted(self.image_ids, image_id, side="right"))
        return _ImageRows(start, stop)

    def rows_of_ann_ids(self, ann_ids: np.ndarray) -> np.ndarray:
        """Rows of annotation ids.

        Args:
            ann_ids: ``[M]`` annotation ids.

        Returns:
            ``[M]`` int64 rows, -1 where the store has no such annotation.
        """
        ann_ids = np.asarray(ann_ids, dtype=np.int64)
        rows = np.full(len(ann_ids), -1, dtype=np.int64)
        if len(self.ann_ids) == 0:
            return rows
        pos = np.searchsorted(self._sorted_ann_ids, ann_ids)
        pos = np.clip(pos, 0, len(self._sorted_ann_ids) - 1)
        found = self._sorted_ann_ids[pos] == ann_ids
        rows[found] = self._ann_order[pos[found]]
        return rows

    def match_boxes(self, image_id: int, boxes: np.ndarray, atol: float = 1e-2) -> np.ndarray:
        """Find the row of each box of an image by its exact original coordinates.

        mmdet's ``CocoDataset`` does not keep annotation ids per instance; a box in original
        image coordinates (before any geometric transform) identifies its annotation. Boxes
        that appear twice in one image crop the same pixels, so either row is right; each row
        is used once.

        Args:
            image_id: The image id.
            boxes: ``[M, 4]`` xyxy boxes as ``LoadAnnotations`` gives them.
            atol: Largest coordinate difference accepted (float32 rounding).

        Returns:
            ``[M]`` int64 rows, -1 where no stored box of this image matches.
        """
        span = self.image_rows(image_id)
        rows = np.full(len(boxes), -1, dtype=np.int64)
        if span.stop == span.start or len(boxes) == 0:
            return rows
        stored = self.boxes[span.start : span.stop]
        diff = np.abs(np.asarray(boxes, np.float32)[:, None, :] - stored[None]).max(-1)
        close = diff <= atol
        used = np.zeros(len(stored), dtype=bool)
        for i in range(len(boxes)):
            candidates = np.flatnonzero(close[i] & ~used)
            if len(candidates):
                best = candidates[np.argmin(diff[i, candidates])]
                used[best] = True
                rows[i] = span.start + best
        return rows

    def get(self, rows: np.ndarray) -> np.ndarray:
        """Embeddings of rows as float32; zeros where ``rows`` is -1.

        Args:
            rows: ``[M]`` rows (-1 for none).

        Returns:
            ``[M, D]`` float32.
        """
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.embed_dim), dtype=np.float32)
        valid = rows >= 0
        if valid.any():
            out[valid] = self.embeddings[rows[valid]].astype(np.float32)
        return out

    def __len__(self) -> int:
        return len(self.ann_ids)
