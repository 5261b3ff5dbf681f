"""Build low-quality (LQ) tracking datasets as VSD-MOT builds LQDanceTrack and LQMOT.

The VSD-MOT paper (section IV-A) degrades a seeded random two-thirds of the training videos
and all validation videos with the Real-ESRGAN degradation, and trains on mixes of low- and
high-quality (HQ) videos (low:high = 2:1 in its main results; 1:1, all-low and all-high in its
Table VI). The authors wrote over the original files; this builder never writes into the
sources and records everything it drew.

Output layout, for ``DST`` and ``--split S``::

    DST/lq/S/<SEQ>/img1/...            degraded frames (same names and format as the source)
    DST/lq/S/<SEQ>/gt, det, seqinfo.ini   copied from the source
    DST/lq/S/<SEQ>/degradation.json    the parameter record of every frame
    DST/hq/S/<SEQ>  -> SRC/<SEQ>       symbolic links to the untouched sources
    DST/annotations/S_*_cocoformat.json   CocoVID files (mmdet's mot2coco conventions)
    DST/manifests/S.json               settings, chosen sequences, seeds, hashes, lists

CocoVID ``file_name`` entries are relative to ``DST`` (``lq/S/<SEQ>/img1/000001.jpg`` or
``hq/S/<SEQ>/img1/000001.jpg``), so a config sets ``data_root=DST`` and
``data_prefix=dict(img_path='')``; mmdet's ``MOTChallengeMetric`` reads the sequence name from
the third-last path part. Annotation files of the training split:

* ``train_lq2-hq1``: the first ``round(2n/3)`` videos of a seeded permutation low-quality,
  the rest high-quality (every video once) - the paper's mix;
* ``train_lq1-hq1``: the first ``round(n/2)`` low-quality, the rest high-quality;
* ``train_lq``: every training video in low quality - the all-low-quality row of Table VI, on
  the same videos (and as many frames) as ``train_hq``. It needs every video degraded
  (``ratio=1``, ``--ratio 1``); a build with a smaller ratio does not write it (a list of only
  the degraded two thirds would make the all-low row train on less data than the all-high
  one). A finished 2/3 build extends in place to ratio 1: the permutation and every frame's
  parameters do not depend on the ratio, so the degraded videos and the mixes stay
  byte-identical and only the remaining videos are degraded;
* ``train_hq``: every training video in high quality.

The manifest records, for every list, its low- and high-quality videos and frame counts.

The validation split writes ``val_lq`` and ``val_hq``. The low-quality sets are nested
prefixes of one permutation, so the videos degraded for the 2:1 mix serve the 1:1 mix too.

Every frame's degradation is a deterministic function of (seed, sequence, frame), and frames
are written atomically (temporary file, then rename), so an interrupted build resumes where it
stopped and its output is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import logging
import math
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from mmdistillmot.datasets.image_io import ImageReadError, check_image_bytes
from mmdistillmot.datasets.mot_cocovid import sequences_to_cocovid
from mmdistillmot.datasets.mot_files import MOTFormatError, read_seqinfo
from mmdistillmot.datasets.transforms.degradation import (
    DegradationSettings,
    RealESRGANDegradation,
)
from mmdistillmot.datasets.transforms.degradation.real_esrgan_degradation import derive_seed

__all__ = [
    "MOT_PAPER_SPLIT",
    "PAPER_TRAIN_RATIO",
    "BuildConfig",
    "LQBuildError",
    "build_lq_dataset",
    "discover_sequences",
    "retain_freed_memory",
    "select_sequences",
]

logger = logging.getLogger(__name__)

#: Fraction of the training videos the VSD-MOT paper degrades (section IV-A).
PAPER_TRAIN_RATIO = 2.0 / 3.0

#: The MOT split of the VSD-MOT paper, section IV-A: "5 video sequences from the MOT17
#: training set and 2 video sequences from the MOT20 training set" for training, "the leftover
#: portions of the MOT17 and MOT20 training sets" for validation. The paper does not name the
#: sequences; we take the first ones in numeric order (as configs/vsd_mot/_base_/lqmot-mot.py
#: documents). MOT17 names match any detector copy (-FRCNN preferred, see DETECTOR_PREFERENCE).
MOT_PAPER_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09", "MOT17-10", "MOT20-01", "MOT20-02"),
    "val": ("MOT17-11", "MOT17-13", "MOT20-03", "MOT20-05"),
}

#: MOT17 ships every video three times (one per public detector) with identical frames; a
#: paper-split name picks the first copy found in this order.
DETECTOR_PREFERENCE = ("FRCNN", "SDP", "DPM")

SPLITS = ("train", "val")
MANIFEST_VERSION = 1
# Mixed lists of the training split: name -> fraction of low-quality videos.
TRAIN_MIXES: dict[str, float] = {"lq2-hq1": 2.0 / 3.0, "lq1-hq1": 0.5}


class LQBuildError(RuntimeError):
    """A build that cannot go ahead (bad paths, a changed configuration, missing sequences)."""


@dataclass(frozen=True)
class SourceSequence:
    """One MOTChallenge-layout sequence: ``root/<name>/{seqinfo.ini, <im_dir>/, gt/...}``."""

    name: str
    path: Path
    im_dir: str
    im_ext: str
    length: int

    def frames(self) -> list[Path]:
        """The sequence's image files, sorted by name (checked against ``seqLength``)."""
        folder = self.path / self.im_dir
        frames = sorted(folder.glob(f"*{self.im_ext}"))
        if len(frames) != self.length:
            raise MOTFormatError(
                self.path / "seqinfo.ini",
                None,
                f"seqLength={self.length} but {folder} holds {len(frames)} '{self.im_ext}' images",
            )
        return frames


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines a build's output (stored in, and checked against, the manifest).

    Attributes:
        split: ``'train'`` (a seeded ``ratio`` of the videos degraded) or ``'val'`` (all).
        ratio: Fraction of training videos to degrade (1 for validation).
        seed: Base seed of the video choice and of every frame's degradation.
        severity: Degradation severity in [0, 1].
        consistency: ``'per_frame'`` (as the authors) or ``'per_sequence'``.
        jpeg_quality: Quality of written JPEG frames (OpenCV's default 95, as ``cv2.imwrite``).
        settings: Overrides of :class:`DegradationSettings` (empty = Real-ESRGAN defaults).
    """

    split: str = "train"
    ratio: float = PAPER_TRAIN_RATIO
    seed: int = 0
    severity: float = 1.0
    consistency: str = "per_frame"
    jpeg_quality: int = 95
    settings: dict[str, Any] = field(default_factory=dict)

    def transform(self) -> RealESRGANDegradation:
        """The degradation transform of this configuration."""
        return RealESRGANDegradation(
            severity=self.severity,
            consistency=self.consistency,
            seed=self.seed,
            settings=self.settings or None,
        )


def retain_freed_memory() -> bool:
    """Asks glibc's malloc to keep freed buffers for reuse instead of returning them to the OS.

    The degradation allocates and frees tens of megabytes per 1080p frame; by default glibc
    gives that memory back and takes page faults to get it again, about 15 % of the CPU time
    of a frame. Meant for batch processes (the dataset builder, the benchmark); it changes the
    allocator of the whole process, which then keeps up to ~1 GB it has freed.

    Returns:
        Whether the settings were applied (``False`` where the C library is not glibc).
    """
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(m_mmap_threshold, 256 << 20) and mallopt(m_trim_threshold, 1 << 30))


def _is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` equals ``root`` or lies below it (both resolved)."""
    return path == root or root in path.parents


def discover_sequences(sources: Sequence[str | Path]) -> list[SourceSequence]:
    """Finds the sequences (folders with a ``seqinfo.ini``) directly inside each source folder.

    Args:
        sources: Folders in MOTChallenge split layout, e.g. ``data/MOT17/train``.

    Returns:
        The sequences, sorted by name.

    Raises:
        LQBuildError: When a source is missing or holds no sequence, or two sources hold
            sequences of the same name.
        MOTFormatError: On a malformed ``seqinfo.ini``.
    """
    found: dict[str, SourceSequence] = {}
    for source in sources:
        root = Path(source)
        if not root.is_dir():
            raise LQBuildError(f"source folder not found: {root}")
        inside = sorted(p for p in root.iterdir() if (p / "seqinfo.ini").is_file())
        if not inside:
            raise LQBuildError(f"no sequences (folders with a seqinfo.ini) in {root}")
        for path in inside:
            info = read_seqinfo(path / "seqinfo.ini")
            if path.name in found:
                raise LQBuildError(
                    f"sequence {path.name} found twice: {found[path.name].path} and {path}"
                )
            found[path.name] = SourceSequence(
                path.name, path.resolve(), info.im_dir, info.im_ext, info.seq_length
            )
    return [found[name] for name in sorted(found)]


def select_sequences(
    available: Sequence[SourceSequence],
    names: Iterable[str] | None = None,
    subset: str | None = None,
    split: str = "train",
) -> list[SourceSequence]:
    """Chooses the sequences to build from those available.

    Args:
        available: Discovered sequences.
        names: Explicit sequence names (exact matches), or ``None``.
        subset: ``'mot-paper'`` for :data:`MOT_PAPER_SPLIT` ``[split]``, or ``None``.
        split: ``'train'`` or ``'val'``.

    Returns:
        The chosen sequences, sorted by name (all of ``available`` when neither ``names`` nor
        ``subset`` is given).

    Raises:
        LQBuildError: Naming any requested sequence that is not available.
    """
    by_name = {seq.name: seq for seq in available}
    if names is not None and subset is not None:
        raise LQBuildError("give either explicit sequence names or a subset, not both")
    if subset is not None:
        if subset != "mot-paper":
            raise LQBuildError(f"unknown subset {subset!r}; the only subset is 'mot-paper'")
        chosen, missing = [], []
        for base in MOT_PAPER_SPLIT[split]:
            candidates = [f"{base}-{det}" for det in DETECTOR_PREFERENCE] + [base]
            match = next((by_name[c] for c in candidates if c in by_name), None)
            if match is None:
                missing.append(base)
            else:
                chosen.append(match)
        if missing:
            raise LQBuildError(
                f"the paper's MOT {split} split needs {missing}, not found among "
                f"{sorted(by_name)} (pass the MOT17 and MOT20 train folders as sources)"
            )
        return sorted(chosen, key=lambda s: s.name)
    if names is not None:
        wanted = list(dict.fromkeys(names))
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise LQBuildError(f"sequences {missing} not found; available: {sorted(by_name)}")
        return sorted((by_name[n] for n in wanted), key=lambda s: s.name)
    return list(available)


def _count(n: int, fraction: float) -> int:
    """``round(n * fraction)`` with halves rounded up (Python's ``round`` rounds to even)."""
    return int(math.floor(n * fraction + 0.5))


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest(lines: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes through a hidden temporary file in the same folder, then renames."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_write_json(path: Path, data: Any, compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=1)
    _atomic_write_bytes(path, (text + "\n").encode("utf-8"))


# ----------------------------------------------------------------------------- frame workers

_WORKER_TRANSFORM: RealESRGANDegradation | None = None
_WORKER_JPEG_QUALITY = 95


def _init_worker(config: BuildConfig) -> None:
    """Builds one transform per worker process; one OpenCV thread per worker."""
    global _WORKER_TRANSFORM, _WORKER_JPEG_QUALITY
    cv2.setNumThreads(1)
    _WORKER_TRANSFORM = config.transform()
    _WORKER_JPEG_QUALITY = config.jpeg_quality


@dataclass(frozen=True)
class _FrameTask:
    sequence: str
    src: Path
    dst: Path


def _encode(img: np.ndarray, ext: str, jpeg_quality: int, where: Path) -> bytes:
    params: list[int] = []
    if ext.lower() in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    ok, buffer = cv2.imencode(ext, img, params)
    if not ok:
        raise LQBuildError(f"OpenCV cannot encode a '{ext}' image for {where}")
    return buffer.tobytes()


def _process_frame(task: _FrameTask) -> tuple[str, str, str, str, dict[str, Any]]:
    """Degrades one frame unless its output exists; returns names, hashes and the record."""
    transform = _WORKER_TRANSFORM
    assert transform is not None, "worker not initialised"
    src_bytes = task.src.read_bytes()
    results: dict[str, Any] = {"img_path": str(task.src), "video_name": task.sequence}
    if task.dst.is_file():  # done before an interruption: re-derive its record only
        out_bytes = task.dst.read_bytes()
        record = transform.describe(results)
    else:
        try:  # empty (cv2.imdecode would raise without the path) or truncated
            check_image_bytes(src_bytes, task.src)
        except ImageReadError as err:
            raise LQBuildError(str(err)) from err
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION  # keep the boxes' geometry
        img = cv2.imdecode(np.frombuffer(src_bytes, dtype=np.uint8), flags)
        if img is None:
            raise LQBuildError(f"cannot decode image {task.src}")
        results["img"] = img
        results = transform(results)
        out_bytes = _encode(results["img"], task.dst.suffix, _WORKER_JPEG_QUALITY, task.dst)
        _atomic_write_bytes(task.dst, out_bytes)
        record = results["degradation_params"]
    return (
        task.sequence,
        task.src.name,
        hashlib.sha256(src_bytes).hexdigest(),
        hashlib.sha256(out_bytes).hexdigest(),
        record,
    )


def _run_tasks(
    tasks: list[_FrameTask], config: BuildConfig, workers: int, desc: str
) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """Runs the frame tasks in-process (``workers <= 1``) or in a process pool, with a bar."""
    bar = tqdm(total=len(tasks), desc=desc, unit="frame", dynamic_ncols=True)
    try:
        if workers <= 1:
            _init_worker(config)
            for task in tasks:
                yield _process_frame(task)
                bar.update()
            return
        methods = multiprocessing.get_all_start_methods()
        # fork shares the imported modules with the workers; other methods re-import them.
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with context.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
            for result in pool.imap_unordered(_process_frame, tasks, chunksize=4):
                yield result
                bar.update()
    finally:
        bar.close()


# ----------------------------------------------------------------------------- the build


def _check_paths(sources: Sequence[Path], dst: Path, split: str) -> list[Path]:
    """Refuses a destination that overlaps a source; returns the folders the build writes."""
    writes = [dst / "lq" / split, dst / "hq" / split, dst / "annotations", dst / "manifests"]
    for src in sources:
        if _is_within(dst, src):
            raise LQBuildError(
                f"refusing to build into {dst}: it is (inside) the source {src}; "
                "choose a destination outside the source data"
            )
        for folder in writes:
            if _is_within(src, folder) or _is_within(folder, src):
                raise LQBuildError(f"refusing to build: the output folder {folder} overlaps {src}")
    return writes


def _guard(path: Path, dst: Path, sources: Sequence[Path]) -> Path:
    """Returns ``path`` after checking it lies in ``dst`` and in no source.

    The parent folder is resolved (so a link on the way cannot lead into a source); the last
    component is not, so a link the build made (``hq/<SEQ>``) can itself be checked.
    """
    real = path.parent.resolve() / path.name
    if not _is_within(real, dst) or any(_is_within(real, src) for src in sources):
        raise LQBuildError(f"refusing to write {path}: outside {dst} or inside a source")
    return path


def _link_hq(seq: SourceSequence, link: Path) -> None:
    """Points ``link`` at the source sequence (created, or checked when present)."""
    if link.is_symlink():
        if link.resolve() != seq.path:
            raise LQBuildError(f"{link} points to {link.resolve()}, expected {seq.path}")
        return
    if link.exists():
        raise LQBuildError(f"{link} exists and is not a link to {seq.path}")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(seq.path, target_is_directory=True)


def _copy_side_files(seq: SourceSequence, out_dir: Path, dst: Path, sources: list[Path]) -> None:
    """Copies everything but the image folder (gt/, det/, seqinfo.ini, ...) to ``out_dir``.

    Contents only (a read-only source file gives a writable copy); an identical copy from an
    earlier run is left alone, a different one replaced atomically.
    """
    for item in sorted(seq.path.rglob("*")):
        rel = item.relative_to(seq.path)
        if rel.parts[0] == seq.im_dir or not item.is_file():
            continue
        target = _guard(out_dir / rel, dst, sources)
        data = item.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(target, data)


def _side_file_hashes(seq: SourceSequence) -> list[str]:
    lines = []
    for item in sorted(seq.path.rglob("*")):
        rel = item.relative_to(seq.path)
        if item.is_file() and rel.parts[0] != seq.im_dir:
            lines.append(f"{rel.as_posix()} {_sha256_file(item)}")
    return lines


def build_lq_dataset(
    sources: Sequence[str | Path],
    dst: str | Path,
    config: BuildConfig,
    sequences: Iterable[str] | None = None,
    subset: str | None = None,
    workers: int = 1,
    max_frames: int | None = None,
) -> dict[str, Any]:
    """Builds (or resumes) the LQ version of one split; see the module docstring.

    Args:
        sources: MOTChallenge split folders holding the sequences (never written).
        dst: Destination root (must not be or lie inside a source).
        config: Split, ratio, seed, severity, consistency, JPEG quality, settings.
        sequences: Explicit sequence names to use, or ``None``.
        subset: ``'mot-paper'`` for the paper's MOT split, or ``None``.
        workers: Worker processes (1 = in this process).
        max_frames: Stop after degrading this many new frames (a trial run, or a deliberate
            interruption); the build resumes on the next call.

    Returns:
        The manifest (also written to ``DST/manifests/<split>.json``); its ``status`` is
        ``'complete'`` or ``'in_progress'`` (when ``max_frames`` stopped it).

    Raises:
        LQBuildError: On overlapping paths, missing sequences, or a destination built with a
            different configuration.
        MOTFormatError: On malformed source files.
    """
    if config.split not in SPLITS:
        raise LQBuildError(f"split must be one of {SPLITS}, got {config.split!r}")
    if config.split == "val" and config.ratio != 1.0:
        raise LQBuildError("the validation split is degraded entirely: use ratio 1.0")
    if not 0.0 < config.ratio <= 1.0:
        raise LQBuildError(f"ratio must lie in (0, 1], got {config.ratio}")
    DegradationSettings.from_overrides(config.settings)  # fail early on a bad override
    src_roots = [Path(s).resolve() for s in sources]
    dst = Path(dst).resolve()
    _check_paths(src_roots, dst, config.split)
    chosen = select_sequences(discover_sequences(src_roots), sequences, subset, config.split)
    names = [seq.name for seq in chosen]
    # One seeded permutation: the low-quality videos of every mix are its prefixes.
    split_rng = np.random.default_rng(derive_seed(config.seed, "split", config.split))
    permutation = [names[i] for i in split_rng.permutation(len(names))]
    degraded = permutation[: max(1, _count(len(names), config.ratio))]
    split = config.split
    lq_root, hq_root = dst / "lq" / split, dst / "hq" / split

    identity = {
        "version": MANIFEST_VERSION,
        "config": asdict(config),
        "degradation_settings": asdict(DegradationSettings.from_overrides(config.settings)),
        "sources": {seq.name: str(seq.path) for seq in chosen},
        "subset": subset,
        "permutation": permutation,
        "degraded": sorted(degraded),
    }
    identity = json.loads(json.dumps(identity))  # tuples -> lists, as read back from the file
    manifest_path = dst / "manifests" / f"{split}.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        changed = sorted(k for k in identity if old.get(k) != identity[k])
        if changed and _extends(old, identity):
            logger.info(
                "extending %s from ratio %s to %s: %d more videos to degrade",
                dst,
                old["config"]["ratio"],
                config.ratio,
                len(set(degraded) - set(old["degraded"])),
            )
        elif changed:
            raise LQBuildError(
                f"{dst} was built with a different configuration ({', '.join(changed)} "
                f"differ, see {manifest_path}); use a new destination or delete it"
            )
        logger.info("resuming the build recorded in %s", manifest_path)
    _atomic_write_json(_guard(manifest_path, dst, src_roots), {**identity, "status": "in_progress"})

    # Frames to process; stale temporary files of an interrupted run are removed first.
    tasks: list[_FrameTask] = []
    by_name = {seq.name: seq for seq in chosen}
    for name in sorted(degraded):
        seq = by_name[name]
        out_dir = _guard(lq_root / name, dst, src_roots)
        (out_dir / seq.im_dir).mkdir(parents=True, exist_ok=True)
        for stale in out_dir.rglob(".*.tmp"):  # half-written files of an interrupted run
            stale.unlink()
        _copy_side_files(seq, out_dir, dst, src_roots)
        tasks.extend(
            _FrameTask(name, frame, _guard(out_dir / seq.im_dir / frame.name, dst, src_roots))
            for frame in seq.frames()
        )
    for seq in chosen:
        _link_hq(seq, _guard(hq_root / seq.name, dst, src_roots))

    if max_frames is not None:
        pending = [t for t in tasks if not t.dst.is_file()]
        if len(pending) > max_frames:
            todo = pending[:max_frames]
            for _ in _run_tasks(todo, config, workers, f"degrading {split} (partial)"):
                pass
            logger.info("stopped after %d new frames (max_frames); run again to resume", max_frames)
            return {**identity, "status": "in_progress"}

    records: dict[str, dict[str, tuple[str, str, dict[str, Any]]]] = {n: {} for n in degraded}
    for seq_name, frame, src_sha, out_sha, record in _run_tasks(
        tasks, config, workers, f"degrading {split}"
    ):
        records[seq_name][frame] = (src_sha, out_sha, record)

    seq_entries: dict[str, Any] = {}
    for seq in chosen:
        entry: dict[str, Any] = {"source": str(seq.path), "frames": seq.length}
        if seq.name in records:
            frames = records[seq.name]
            order = sorted(frames)
            params_file = lq_root / seq.name / "degradation.json"
            _atomic_write_json(
                _guard(params_file, dst, src_roots), {f: frames[f][2] for f in order}
            )
            entry.update(
                degraded=True,
                output_sha256=_digest(f"{f} {frames[f][1]}" for f in order),
                degradation_file=params_file.relative_to(dst).as_posix(),
            )
            if config.consistency == "per_sequence":
                first = frames[order[0]][2]
                entry["parameters"] = {
                    k: v for k, v in first.items() if k not in ("noise_seed", "frame")
                }
            frame_lines = [f"{f} {frames[f][0]}" for f in order]
        else:
            entry["degraded"] = False
            frame_lines = [f"{p.name} {_sha256_file(p)}" for p in seq.frames()]
        entry["source_sha256"] = _digest(frame_lines + _side_file_hashes(seq))
        seq_entries[seq.name] = entry

    lists = _write_annotation_lists(dst, src_roots, split, chosen, permutation, degraded)
    manifest = {**identity, "status": "complete", "sequences": seq_entries, "lists": lists}
    _atomic_write_json(_guard(manifest_path, dst, src_roots), manifest)
    return manifest


def _extends(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` only raises the ratio of the build recorded as ``old``.

    Everything but the ratio (hence the list of degraded videos) must be unchanged, and the new
    degraded videos must include the old ones (they do: both are prefixes of one permutation).
    """
    changed = {k for k in new if old.get(k) != new[k]}
    if not changed <= {"config", "degraded"}:
        return False
    old_config, new_config = dict(old.get("config", {})), dict(new["config"])
    if old_config.pop("ratio", None) is None or old["config"]["ratio"] >= new_config["ratio"]:
        return False
    new_config.pop("ratio")
    return old_config == new_config and set(old.get("degraded", [])) <= set(new["degraded"])


def _write_annotation_lists(
    dst: Path,
    sources: list[Path],
    split: str,
    chosen: list[SourceSequence],
    permutation: list[str],
    degraded: list[str],
) -> dict[str, Any]:
    """Writes the split's CocoVID files; returns ``{name: {'lq': [...], 'hq': [...], ...}}``.

    Every entry also records ``frames``: ``{'lq': N, 'hq': M}``, the frame counts of its low-
    and high-quality videos.
    """
    n = len(permutation)
    mixes: dict[str, list[str]] = {"hq": []}
    if len(degraded) == n:  # every video degraded: the all-low-quality set
        mixes["lq"] = list(permutation)
    else:
        _drop_list(dst, sources, split, "lq", f"it needs all {n} videos degraded (ratio 1)")
    if split == "train":
        for name, fraction in TRAIN_MIXES.items():
            count = _count(n, fraction)
            if count > len(degraded):
                _drop_list(
                    dst,
                    sources,
                    split,
                    name,
                    f"it needs {count} degraded videos, not {len(degraded)}",
                )
                continue
            mixes[name] = permutation[:count]
    lengths = {seq.name: seq.length for seq in chosen}
    lists: dict[str, Any] = {}
    for name in sorted(mixes, key=lambda m: (m in ("lq", "hq"), m)):
        low = set(mixes[name])
        pairs = [(seq.name, "lq" if seq.name in low else "hq") for seq in chosen]
        entries = [(dst / q / split / n, f"{q}/{split}/{n}") for n, q in pairs]
        path = dst / "annotations" / f"{split}_{name}_cocoformat.json"
        _atomic_write_json(
            _guard(path, dst, sources),
            sequences_to_cocovid(entries, categories="all"),
            compact=True,
        )
        lq = [n for n, q in pairs if q == "lq"]
        hq = [n for n, q in pairs if q == "hq"]
        lists[f"{split}_{name}"] = {
            "file": path.relative_to(dst).as_posix(),
            "lq": lq,
            "hq": hq,
            "frames": {"lq": sum(lengths[s] for s in lq), "hq": sum(lengths[s] for s in hq)},
        }
    return lists


def _drop_list(dst: Path, sources: list[Path], split: str, name: str, reason: str) -> None:
    """Does not write the list ``split_name``, and removes it if an earlier build wrote it."""
    path = dst / "annotations" / f"{split}_{name}_cocoformat.json"
    logger.warning("not writing %s_%s: %s", split, name, reason)
    if path.is_file():
        _guard(path, dst, sources).unlink()
        logger.warning("removed %s, written by an earlier build", path)
