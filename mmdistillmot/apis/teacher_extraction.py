"""Run a teacher over every ground-truth box of a COCO / CocoVID file into an embedding store.

The boxes are those mmdet's ``CocoDataset`` yields for the file
(:func:`~mmdistillmot.datasets.teacher_store_boxes.read_store_boxes`); the store is
:func:`~mmdistillmot.datasets.teacher_embedding_store.write_teacher_embedding_store`'s, which
``LoadTeacherEmbeddings`` attaches to ``gt_instances`` during training. The command line is
``tools/distill/extract_teacher_embeddings.py``.

How the work is split: images with at least one kept box, sorted by id, are cut into chunks of
``chunk_size`` images; chunk ``k`` goes to rank ``k % world_size``. Each chunk is processed in
the same batches whatever the number of processes and is written to ``OUT_DIR/partial`` as soon
as it is done; rank 0 merges the chunks into the store (rows sorted by image and annotation id),
so the files do not depend on the number of processes, and an interrupted run resumes
(``resume=True``) with any number of them: finished chunks whose annotation ids still match are
kept, the others are redone. ``OUT_DIR/partial/meta.json`` records the teacher fingerprint,
the annotation file's hash and the batching; a resume with other settings is refused.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.fileio import get as read_bytes
from tqdm import tqdm

from mmdistillmot.datasets.image_io import ImageReadError, decode_image
from mmdistillmot.datasets.teacher_embedding_store import (
    FINGERPRINT_FILE,
    write_teacher_embedding_store,
)
from mmdistillmot.datasets.teacher_store_boxes import ImageBoxes, read_store_boxes
from mmdistillmot.models.teachers.base_teacher import BaseTeacher
from mmdistillmot.models.teachers.weights import file_sha256

__all__ = [
    "META_FILE",
    "PARTIAL_DIR",
    "ExtractionError",
    "build_teacher",
    "chunk_path",
    "extract",
    "load_chunk",
    "read_frame",
    "run_chunk",
    "run_extraction",
    "save_chunk",
    "setup_out_dir",
    "teacher_config",
]

PARTIAL_DIR = "partial"
META_FILE = "meta.json"


class ExtractionError(RuntimeError):
    """Bad input or inconsistent partial results; the message says which file and what."""


# ---------------------------------------------------------------------- inputs
def teacher_config(cfg: Config) -> ConfigDict:
    """Find the teacher in a config: ``teacher``, ``model.teacher``, or ``model`` itself.

    Args:
        cfg: A loaded config.

    Returns:
        The teacher's config dict.

    Raises:
        ExtractionError: No entry there names a registered :class:`BaseTeacher`.
    """
    candidates = [("teacher", cfg.get("teacher"))]
    model = cfg.get("model")
    if isinstance(model, dict):
        candidates += [("model.teacher", model.get("teacher")), ("model", model)]
    for where, candidate in candidates:
        if not isinstance(candidate, dict) or "type" not in candidate:
            continue
        cls = candidate["type"]
        if isinstance(cls, str):
            cls = MODELS.get(cls)
        if isinstance(cls, type) and issubclass(cls, BaseTeacher):
            return ConfigDict(candidate)
        if where != "model":
            raise ExtractionError(f"config entry '{where}' is {candidate['type']}, not a teacher.")
    raise ExtractionError(
        f"'{cfg.filename}': no teacher found in 'teacher', 'model.teacher' or 'model' (a "
        "registered BaseTeacher subclass, e.g. dict(type='OSNetTeacher', ...))."
    )


def build_teacher(
    cfg: Config, precision: str = "fp32", seed: int = 0, device: str | torch.device = "cpu"
) -> BaseTeacher:
    """Build the config's teacher (:func:`teacher_config`) on ``device``.

    Args:
        cfg: A loaded config.
        precision: Replaces the config's ``precision`` (``fp32``, ``auto``, ``bf16``,
            ``fp16``); ``fp32`` gives the same store on a CPU and a GPU.
        seed: Seeds torch first, so random-init test teachers are equal on every rank.
        device: Where the teacher runs.

    Returns:
        The teacher (frozen, in eval mode).
    """
    teacher_cfg = teacher_config(cfg)
    teacher_cfg["precision"] = precision
    torch.manual_seed(seed)
    teacher = MODELS.build(teacher_cfg).to(device)
    assert isinstance(teacher, BaseTeacher)
    return teacher


def read_frame(path: str, channel_order: str) -> torch.Tensor:
    """Read one image as mmdet's ``LoadImageFromFile`` does (cv2 decode).

    Args:
        path: Image file.
        channel_order: ``'bgr'`` or ``'rgb'`` (the teacher's).

    Returns:
        uint8 ``[3, H, W]``.

    Raises:
        ExtractionError: The file is missing, empty, truncated or undecodable (named).
    """
    try:
        content = read_bytes(path)
    except FileNotFoundError as err:
        raise ExtractionError(f"image file '{path}' not found.") from err
    try:  # empty, truncated or undecodable: an error naming the file (cv2's does not)
        image = decode_image(content, path, channel_order=channel_order, backend="cv2")
    except ImageReadError as err:
        raise ExtractionError(str(err)) from err
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


# ---------------------------------------------------------------------- work
def chunk_path(out_dir: str, index: int) -> str:
    """Path of the partial file of chunk ``index``."""
    return os.path.join(out_dir, PARTIAL_DIR, f"chunk_{index:06d}.npz")


def run_chunk(
    teacher: BaseTeacher,
    jobs: Sequence[ImageBoxes],
    img_root: str,
    batch_size: int,
    pool: ThreadPoolExecutor,
    progress: tqdm | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed every box of a chunk of images, ``batch_size`` images per teacher call.

    Images of the next batch are decoded by ``pool`` while the teacher runs on this one.

    Args:
        teacher: The teacher (on its device).
        jobs: The chunk's images.
        img_root: Directory the ``file_name``s are relative to.
        batch_size: Images per teacher call.
        pool: Thread pool that decodes images.
        progress: Optional progress bar, advanced by one per image.

    Returns:
        ``ann_ids`` int64 ``[K]`` and ``embeddings`` float16 ``[K, D]`` in job order.
    """
    batches = [list(jobs[i : i + batch_size]) for i in range(0, len(jobs), batch_size)]

    def submit(batch: list[ImageBoxes]) -> list[Future]:
        return [
            pool.submit(read_frame, os.path.join(img_root, job.file_name), teacher.channel_order)
            for job in batch
        ]

    ann_ids, embeddings = [], []
    pending = submit(batches[0]) if batches else []
    for b, batch in enumerate(batches):
        frames = [future.result() for future in pending]
        pending = submit(batches[b + 1]) if b + 1 < len(batches) else []
        boxes = [torch.from_numpy(job.boxes) for job in batch]
        outputs = teacher(frames, boxes)
        for job, output in zip(batch, outputs, strict=True):
            ann_ids.append(job.ann_ids)
            embeddings.append(output.cpu().numpy().astype(np.float16))
        if progress is not None:
            progress.update(len(batch))
    if not ann_ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    return np.concatenate(ann_ids), np.concatenate(embeddings)


def save_chunk(path: str, ann_ids: np.ndarray, embeddings: np.ndarray) -> None:
    """Write a chunk atomically (a crash never leaves a truncated chunk behind).

    Args:
        path: :func:`chunk_path`.
        ann_ids: int64 ``[K]``.
        embeddings: float16 ``[K, D]``.
    """
    tmp = path + ".tmp.npz"
    np.savez(tmp, ann_ids=ann_ids, embeddings=embeddings)
    os.replace(tmp, path)


def load_chunk(path: str, expected_ids: np.ndarray) -> np.ndarray | None:
    """Embeddings ``[K, D]`` of a finished chunk; None when absent, damaged or for other boxes.

    Args:
        path: :func:`chunk_path`.
        expected_ids: int64 ``[K]`` annotation ids the chunk must hold, in order.
    """
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as chunk:
            ann_ids, embeddings = chunk["ann_ids"], chunk["embeddings"]
    except (OSError, ValueError, KeyError):
        return None  # damaged: redo it
    if not np.array_equal(ann_ids, expected_ids):
        return None
    return embeddings


def setup_out_dir(out_dir: str, meta: dict[str, Any], resume: bool, overwrite: bool) -> str:
    """Prepare ``out_dir`` (run on rank 0 only).

    Args:
        out_dir: Store directory.
        meta: The run's settings, written to ``partial/meta.json``.
        resume: Continue an interrupted run with the same settings.
        overwrite: Replace an existing store or partial run.

    Returns:
        ``'run'`` to extract, or ``'done'`` when ``resume`` finds the same store complete.

    Raises:
        ExtractionError: An existing store or partial run would be overwritten without
            ``overwrite``, or partial results were made with other settings.
    """
    partial = os.path.join(out_dir, PARTIAL_DIR)
    meta_path = os.path.join(partial, META_FILE)
    store_fingerprint = os.path.join(out_dir, FINGERPRINT_FILE)
    if overwrite:
        shutil.rmtree(partial, ignore_errors=True)
    elif os.path.isfile(store_fingerprint):
        with open(store_fingerprint) as file:
            existing = json.load(file)
        same = (
            existing.get("teacher") == meta["teacher"]
            and existing.get("annotations", {}).get("sha256") == meta["annotations_sha256"]
        )
        if resume and same:
            return "done"
        raise ExtractionError(
            f"'{out_dir}' already holds a complete store"
            + ("" if same else " made with another teacher or annotation file")
            + "; pass --overwrite to replace it."
        )
    elif os.path.isfile(meta_path):
        with open(meta_path) as file:
            previous = json.load(file)
        if not resume:
            raise ExtractionError(
                f"'{partial}' holds an interrupted run: pass --resume to continue it or "
                "--overwrite to start again."
            )
        if previous != meta:
            changed = sorted(k for k in meta if previous.get(k) != meta[k])
            raise ExtractionError(
                f"cannot resume '{partial}': it was started with different {changed}; use the "
                "same settings, or --overwrite."
            )
    os.makedirs(partial, exist_ok=True)
    with open(meta_path + ".tmp", "w") as file:
        json.dump(meta, file, indent=2, sort_keys=True)
    os.replace(meta_path + ".tmp", meta_path)
    return "run"


def extract(
    teacher: BaseTeacher,
    ann_file: str,
    img_root: str,
    out_dir: str,
    batch_size: int = 8,
    chunk_size: int = 64,
    resume: bool = False,
    overwrite: bool = False,
    skip_crowd: bool = True,
    keep_partial: bool = False,
    io_threads: int = 2,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, Any] | None:
    """Extract a store; with ``world_size > 1`` every rank calls this (process group ready).

    Args:
        teacher: The teacher, on its device.
        ann_file: COCO / CocoVID annotation file.
        img_root: Directory the images' ``file_name`` are relative to.
        out_dir: Store directory.
        batch_size: Images per teacher call.
        chunk_size: Images per partial file (the unit of resumption and of sharding).
        resume: Continue an interrupted run.
        overwrite: Replace an existing store or partial run.
        skip_crowd: Leave crowd boxes out.
        keep_partial: Keep ``out_dir/partial`` after merging.
        io_threads: Threads decoding images.
        rank: This process's rank.
        world_size: Number of processes.

    Returns:
        The store's fingerprint on rank 0 (None on other ranks, and when ``resume`` finds the
        store complete).

    Raises:
        ExtractionError: Bad input, or an output that would be overwritten.
        AnnotationFileError: A malformed annotation file.
    """
    if batch_size < 1 or chunk_size < 1:
        raise ExtractionError("--batch-size and --chunk-size must be >= 1.")
    for source in (img_root, os.path.dirname(os.path.abspath(ann_file))):
        if os.path.realpath(out_dir) == os.path.realpath(source):
            raise ExtractionError(f"OUT_DIR '{out_dir}' is a source directory; choose another.")
    table = read_store_boxes(ann_file, skip_crowd=skip_crowd)
    fingerprint = teacher.fingerprint()
    # 'precision: auto' means bf16 on a GPU and fp32 on a CPU: record what ran
    fingerprint["compute_dtype"] = str(
        teacher.autocast_dtype(teacher.device) or torch.float32
    ).removeprefix("torch.")
    meta = {
        "teacher": fingerprint,
        "annotations_sha256": file_sha256(ann_file),
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "skip_crowd": skip_crowd,
    }
    # rank 0 decides about the output directory; every rank learns the decision (or error)
    decision: list[Any] = [None]
    if rank == 0:
        try:
            decision[0] = setup_out_dir(out_dir, meta, resume, overwrite)
        except (ExtractionError, OSError, json.JSONDecodeError) as err:
            decision[0] = err if isinstance(err, ExtractionError) else ExtractionError(str(err))
    if world_size > 1:
        dist.broadcast_object_list(decision, src=0)
    if isinstance(decision[0], Exception):
        raise decision[0]
    if decision[0] == "done":
        if rank == 0:
            print(f"'{out_dir}' is already complete for this teacher and annotation file.")
        return None

    jobs = table.images
    chunks = [jobs[i : i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    mine = [k for k in range(len(chunks)) if k % world_size == rank]
    todo = [
        k
        for k in mine
        if load_chunk(chunk_path(out_dir, k), np.concatenate([j.ann_ids for j in chunks[k]]))
        is None
    ]
    total = sum(len(chunks[k]) for k in mine)
    progress = tqdm(
        total=total,
        initial=total - sum(len(chunks[k]) for k in todo),
        desc=f"{fingerprint['name']} rank {rank}/{world_size}",
        unit="img",
        disable=rank != 0,
        dynamic_ncols=True,
    )
    with ThreadPoolExecutor(max_workers=max(1, io_threads)) as pool:
        for k in todo:
            ann_ids, embeddings = run_chunk(
                teacher, chunks[k], img_root, batch_size, pool, progress
            )
            save_chunk(chunk_path(out_dir, k), ann_ids, embeddings)
    progress.close()
    if world_size > 1:
        dist.barrier()
    if rank != 0:
        return None

    ann_ids_parts, embedding_parts, image_parts, box_parts = [], [], [], []
    for k, chunk in enumerate(chunks):
        expected = np.concatenate([job.ann_ids for job in chunk])
        chunk_embeddings = load_chunk(chunk_path(out_dir, k), expected)
        if chunk_embeddings is None:
            raise ExtractionError(f"chunk {k} is missing or damaged in '{out_dir}/{PARTIAL_DIR}'.")
        ann_ids_parts.append(expected)
        embedding_parts.append(chunk_embeddings)
        image_parts.append(np.concatenate([np.full(len(j.ann_ids), j.image_id) for j in chunk]))
        box_parts.append(np.concatenate([job.boxes for job in chunk]))
    embed_dim = int(getattr(teacher, "embed_dim", 0))
    store = write_teacher_embedding_store(
        out_dir,
        embeddings=np.concatenate(embedding_parts) if chunks else np.zeros((0, embed_dim)),
        ann_ids=np.concatenate(ann_ids_parts) if chunks else np.zeros(0, np.int64),
        image_ids=np.concatenate(image_parts) if chunks else np.zeros(0, np.int64),
        boxes=np.concatenate(box_parts) if chunks else np.zeros((0, 4), np.float32),
        teacher_fingerprint=fingerprint,
        annotations={
            "file": os.path.basename(ann_file),
            "sha256": meta["annotations_sha256"],
            "num_images": table.num_images,
            "num_annotations": table.num_annotations,
        },
        extraction={
            "skip_crowd": skip_crowd,
            "skipped": table.skipped,
            "batch_size": batch_size,
            "chunk_size": chunk_size,
        },
    )
    if not keep_partial:
        shutil.rmtree(os.path.join(out_dir, PARTIAL_DIR), ignore_errors=True)
    return store


def run_extraction(
    config: str,
    ann_file: str,
    img_root: str,
    out_dir: str,
    *,
    cfg_options: dict | None = None,
    precision: str = "fp32",
    seed: int = 0,
    device: str | None = None,
    threads: int | None = None,
    timeout_min: int = 24 * 60,
    **extract_kwargs: Any,
) -> dict[str, Any] | None:
    """What the command line does: one process, or one rank of a ``torchrun`` group.

    Reads ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` (set by ``torchrun``), starts the process
    group (NCCL on GPUs, gloo on CPUs) when there are several processes, makes cuDNN choose the
    same kernels in every process and run (no benchmark mode, deterministic algorithms), sets
    the CPU math threads for the run, builds the teacher (:func:`build_teacher`) and calls
    :func:`extract`. The thread count and the process group are restored / closed afterwards.

    Args:
        config: Config file holding the teacher (``teacher``, ``model.teacher`` or ``model``).
        ann_file: COCO / CocoVID annotation file.
        img_root: Directory the images' ``file_name`` are relative to.
        out_dir: Store directory.
        cfg_options: Overrides merged into the config.
        precision: The teacher's precision (see :func:`build_teacher`).
        seed: Seed before the teacher is built.
        device: Default ``cuda:LOCAL_RANK`` when a GPU is there, else ``cpu``.
        threads: CPU math threads (None: torch's choice). CPU results depend on it.
        timeout_min: Distributed wait limit in minutes.
        **extract_kwargs: Passed to :func:`extract` (``batch_size``, ``resume``, ...).

    Returns:
        :func:`extract`'s result.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    run_device = torch.device(
        device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    )
    if world_size > 1:
        if run_device.type == "cuda":
            torch.cuda.set_device(run_device)
        dist.init_process_group(
            backend="nccl" if run_device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(minutes=timeout_min),
        )
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    # the same kernels for the same shapes in every process and every run
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        teacher = build_teacher(cfg, precision=precision, seed=seed, device=run_device)
        return extract(
            teacher,
            ann_file,
            img_root,
            out_dir,
            rank=rank,
            world_size=world_size,
            **extract_kwargs,
        )
    finally:
        torch.set_num_threads(previous_threads)
        if world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
