r"""Run a teacher over every ground-truth box of a COCO / CocoVID file and store the embeddings.

The result is a teacher embedding store (see ``mmdistillmot/datasets/teacher_embedding_store.py``)
that ``LoadTeacherEmbeddings`` attaches to ``gt_instances`` during training.

Examples:
    # CONFIG holds ``teacher = dict(type='OSNetTeacher', ...)`` (or a distillation config whose
    # ``model.teacher`` is one)
    python tools/distill/extract_teacher_embeddings.py configs/tdt/teachers/osnet_x1_0.py \
        data/MOT17/annotations/train_cocoformat.json data/MOT17/train data/stores/osnet_mot17
    # continue after an interruption (finished chunks are kept in OUT_DIR/partial)
    python tools/distill/extract_teacher_embeddings.py ... --resume
    # 8 processes (GPUs, or CPU processes on gloo); the same store as one process writes
    torchrun --nproc_per_node 8 tools/distill/extract_teacher_embeddings.py CONFIG ANN IMG OUT

Reproducibility: the store does not depend on the number of processes, but floating-point
results depend on the math libraries' thread count on CPU (reductions split differently) and on
cuDNN's algorithm choice on GPU. This tool turns off cuDNN's benchmark mode and asks for its
deterministic algorithms; on CPU, give every run the same ``--threads`` (torchrun sets
``OMP_NUM_THREADS=1`` per process, so ``--threads 1`` for a single process reproduces a torchrun
store byte for byte).

How the work is split: images with at least one kept box, sorted by id, are cut into chunks of
``--chunk-size`` images; chunk ``k`` goes to rank ``k % world_size``. Each chunk is processed in
the same batches whatever the number of processes and is written to ``OUT_DIR/partial`` as soon
as it is done; rank 0 merges the chunks into the store (rows sorted by image and annotation id),
so the files do not depend on the number of processes, and an interrupted run can resume with
any number of them.
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import datetime
import json
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.fileio import get as read_bytes
from tqdm import tqdm

import mmdistillmot  # noqa: F401  (registers the teachers)
from mmdistillmot.datasets.image_io import ImageReadError, decode_image
from mmdistillmot.datasets.teacher_embedding_store import (
    FINGERPRINT_FILE,
    write_teacher_embedding_store,
)
from mmdistillmot.models.teachers.base_teacher import BaseTeacher
from mmdistillmot.models.teachers.weights import file_sha256
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status

PARTIAL_DIR = "partial"
META_FILE = "meta.json"


class ExtractionError(RuntimeError):
    """Bad input or inconsistent partial results; the message says which file and what."""


@dataclass
class ImageJob:
    """One image and its kept boxes."""

    image_id: int
    file_name: str
    ann_ids: np.ndarray  # int64 [K]
    boxes: np.ndarray  # float32 [K, 4] xyxy pixels


@dataclass
class AnnotationTable:
    """What the extraction needs from an annotation file."""

    jobs: list[ImageJob]  # images with >= 1 kept box, sorted by image id
    num_images: int
    num_annotations: int
    skipped: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------- inputs
def read_annotations(ann_file: str, skip_crowd: bool = True) -> AnnotationTable:
    """Read the boxes of a COCO or CocoVID annotation file.

    A box is skipped (and counted) when it is marked ``ignore``, is a crowd box
    (``iscrowd=1``, unless ``skip_crowd`` is false), or is smaller than 1 pixel or of zero area
    (mmdet's ``CocoDataset`` drops those too). Boxes are ``(x, y, x + w, y + h)`` computed as
    mmdet computes them, so the store's boxes equal ``LoadAnnotations``' exactly.

    Args:
        ann_file: COCO / CocoVID json.
        skip_crowd: Leave crowd boxes out.

    Returns:
        The per-image boxes and counts.

    Raises:
        ExtractionError: Missing fields, unknown image ids, repeated ids (the message names the
            file and the annotation).
    """
    try:
        with open(ann_file) as file:
            data = json.load(file)
    except (OSError, json.JSONDecodeError) as err:
        raise ExtractionError(f"cannot read annotation file '{ann_file}': {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ExtractionError(f"'{ann_file}': expected a COCO dict with an 'images' list.")
    annotations = data.get("annotations", [])
    file_names: dict[int, str] = {}
    for i, image in enumerate(data["images"]):
        if "id" not in image or "file_name" not in image:
            raise ExtractionError(f"'{ann_file}': images[{i}] lacks 'id' or 'file_name'.")
        if int(image["id"]) in file_names:
            raise ExtractionError(f"'{ann_file}': image id {image['id']} appears twice.")
        file_names[int(image["id"])] = str(image["file_name"])
    per_image: dict[int, tuple[list[int], list[list[float]]]] = {}
    skipped = {"ignore": 0, "crowd": 0, "degenerate": 0}
    seen: set[int] = set()
    for i, ann in enumerate(annotations):
        where = f"'{ann_file}': annotations[{i}]"
        for key in ("id", "image_id", "bbox"):
            if key not in ann:
                raise ExtractionError(f"{where} lacks '{key}'.")
        ann_id, image_id = int(ann["id"]), int(ann["image_id"])
        if ann_id in seen:
            raise ExtractionError(f"{where}: annotation id {ann_id} appears twice.")
        seen.add(ann_id)
        if image_id not in file_names:
            raise ExtractionError(f"{where} (id {ann_id}): unknown image_id {image_id}.")
        bbox = ann["bbox"]
        if not isinstance(bbox, list | tuple) or len(bbox) != 4:
            raise ExtractionError(f"{where} (id {ann_id}): bbox must be [x, y, w, h], got {bbox}.")
        x, y, w, h = (float(v) for v in bbox)
        if ann.get("ignore", False):
            skipped["ignore"] += 1
        elif skip_crowd and ann.get("iscrowd", False):
            skipped["crowd"] += 1
        elif w < 1 or h < 1 or float(ann.get("area", w * h)) <= 0:
            skipped["degenerate"] += 1
        else:
            ids, boxes = per_image.setdefault(image_id, ([], []))
            ids.append(ann_id)
            boxes.append([x, y, x + w, y + h])
    jobs = [
        ImageJob(
            image_id=image_id,
            file_name=file_names[image_id],
            ann_ids=np.asarray(per_image[image_id][0], dtype=np.int64),
            boxes=np.asarray(per_image[image_id][1], dtype=np.float32).reshape(-1, 4),
        )
        for image_id in sorted(per_image)
    ]
    return AnnotationTable(jobs, len(file_names), len(annotations), skipped)


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


def read_frame(path: str, channel_order: str) -> torch.Tensor:
    """Read one image as mmdet's ``LoadImageFromFile`` does (cv2 decode) as a uint8 [3, H, W]."""
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
    jobs: Sequence[ImageJob],
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

    def submit(batch: list[ImageJob]) -> list[Future]:
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
        for job, output in zip(batch, outputs):
            ann_ids.append(job.ann_ids)
            embeddings.append(output.cpu().numpy().astype(np.float16))
        if progress is not None:
            progress.update(len(batch))
    if not ann_ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    return np.concatenate(ann_ids), np.concatenate(embeddings)


def save_chunk(path: str, ann_ids: np.ndarray, embeddings: np.ndarray) -> None:
    """Write a chunk atomically (a crash never leaves a truncated chunk behind)."""
    tmp = path + ".tmp.npz"
    np.savez(tmp, ann_ids=ann_ids, embeddings=embeddings)
    os.replace(tmp, path)


def load_chunk(path: str, expected_ids: np.ndarray) -> np.ndarray | None:
    """Embeddings of a finished chunk, or None when absent or not matching the chunk's boxes."""
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

    Returns:
        ``'run'`` to extract, or ``'done'`` when ``--resume`` finds the same store complete.

    Raises:
        ExtractionError: An existing store or partial run would be overwritten without
            ``--overwrite``, or partial results were made with other settings.
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
        The store's fingerprint on rank 0 (None on other ranks).

    Raises:
        ExtractionError: Bad input, or an output that would be overwritten.
    """
    if batch_size < 1 or chunk_size < 1:
        raise ExtractionError("--batch-size and --chunk-size must be >= 1.")
    for source in (img_root, os.path.dirname(os.path.abspath(ann_file))):
        if os.path.realpath(out_dir) == os.path.realpath(source):
            raise ExtractionError(f"OUT_DIR '{out_dir}' is a source directory; choose another.")
    table = read_annotations(ann_file, skip_crowd=skip_crowd)
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

    chunks = [table.jobs[i : i + chunk_size] for i in range(0, len(table.jobs), chunk_size)]
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


# ---------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="config with a teacher (teacher / model.teacher / model)")
    parser.add_argument("ann_file", help="COCO or CocoVID annotation file")
    parser.add_argument("img_root", help="directory the images' file_name are relative to")
    parser.add_argument("out_dir", help="store directory to write")
    parser.add_argument("--batch-size", type=int, default=8, help="images per teacher call")
    parser.add_argument(
        "--chunk-size", type=int, default=64, help="images per partial file (resume unit)"
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store")
    parser.add_argument("--include-crowd", action="store_true", help="embed crowd boxes too")
    parser.add_argument("--keep-partial", action="store_true", help="keep OUT_DIR/partial")
    parser.add_argument("--device", help="default: cuda:LOCAL_RANK if available, else cpu")
    parser.add_argument("--io-threads", type=int, default=2, help="image decoding threads")
    parser.add_argument("--seed", type=int, default=0, help="seed (random-init test teachers)")
    parser.add_argument(
        "--precision",
        choices=["fp32", "auto", "bf16", "fp16"],
        default="fp32",
        help="teacher precision, replacing the config's (default fp32: the same store on a "
        "CPU and a GPU; 'auto' = bf16/fp16 autocast on a GPU)",
    )
    parser.add_argument(
        "--threads", type=int, help="CPU math threads per process (default: torch's choice)"
    )
    parser.add_argument(
        "--timeout-min", type=int, default=24 * 60, help="distributed wait limit (minutes)"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, e.g. teacher.weights=path/to/osnet.pth",
    )
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(
        args.device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    )
    if world_size > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(minutes=args.timeout_min),
        )
    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    # the same kernels for the same shapes in every process and every run
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        teacher_cfg = teacher_config(cfg)
        teacher_cfg["precision"] = args.precision
        torch.manual_seed(args.seed)  # identical random-init teachers on every rank
        teacher = MODELS.build(teacher_cfg).to(device)
        store = extract(
            teacher,
            args.ann_file,
            args.img_root,
            args.out_dir,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            resume=args.resume,
            overwrite=args.overwrite,
            skip_crowd=not args.include_crowd,
            keep_partial=args.keep_partial,
            io_threads=args.io_threads,
            rank=rank,
            world_size=world_size,
        )
    except CLI_ERRORS as err:  # ExtractionError, a missing or mismatched weight file ...
        return cli_error_status(err, args.debug)
    finally:
        torch.set_num_threads(previous_threads)
        if world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
    if store is not None:
        rows, dim = store["store"]["num_rows"], store["store"]["embed_dim"]
        skipped = store["extraction"]["skipped"]
        print(f"wrote {rows} embeddings of dim {dim} to {args.out_dir} (skipped: {skipped})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
