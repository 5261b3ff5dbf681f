r"""Frames per second of two or more trackers (or detectors), side by side on the same frames.

Every model is built from its config (and checkpoint, if given) in one process and runs the same
pre-loaded frames through its own test pipeline (resize, pack), data preprocessor, network(s) and
tracker: the time of a frame is everything from the decoded image to the tracked boxes. Image
decoding is excluded (frames are read once, up front). Within every frame the models take turns,
in an order that rotates from frame to frame, so a change of machine load hits all of them alike.

Printed per model: FPS over the timed frames (frames / total time), median ms per frame, the mean
number of tracked boxes per frame (and of detections, for models that keep them, e.g. the crops a
two-stage tracker embeds), and parameter counts: total, trainable (``requires_grad``) and *run at
inference*: the parameters of the modules whose forward ran while tracking (forward hooks), plus
``nn.Embedding`` tables and bare ``nn.Parameter`` attributes read directly by a module that ran,
plus every parameter that a torch operation read during the warm-up frames (a
``TorchFunctionMode``; this catches weights read without their module's forward, e.g. the output
projection inside ``nn.MultiheadAttention`` or a module used through its methods).
A teacher used only in training (a distiller's) does not run, so a distilled student and its
baseline report the same count. Then the FPS ratio of every model to the first.

Weights: without a checkpoint a model keeps its random initialisation (printed); teachers inside
a model (e.g. the Re-ID network of a two-stage tracker) need their weight files unless
``--random-init-teachers`` is given, for speed-only runs (printed loudly). Random detectors score
everything near their prior, so for a fair speed run fix the number of detections, e.g.
``--cfg-options model.detector.test_cfg.score_thr=0 model.detector.test_cfg.max_per_img=40``.
``--cfg-options`` go to every config that already has the parent of the key (``model.reid.arch``
only changes configs with a ``model.reid``); what was applied where is printed.

Trackers that read proposals from a det-db (MOTRv2's ``LoadDetDBProposals``) take the frames'
det-db with ``--det-db`` (e.g. ``make_det_db.py det-txt`` over the benchmarked sequence), and
``--max-proposals N`` keeps the N highest-scoring proposals of every frame, so that every model
gets the same proposal queries; the mean number per frame is printed (``props``).

Examples:
    python tools/analysis/benchmark_fps.py configs/tdt/ablation_r34-fpn_d512.py \
        configs/tdt/two_stage_r34_fpn_osnet.py \
        --frames ../shared/assets/mot17_mini/train/MOT17-04-FRCNN --warmup 2 --device cpu \
        --random-init-teachers --cfg-options model.detector.test_cfg.score_thr=0 \
        model.detector.test_cfg.max_per_img=40 model.tracker.obj_score_thr=0
    python tools/analysis/benchmark_fps.py A.py a.pth B.py b.pth C.py c.pth --frames DIR \
        --out fps.json
    python tools/analysis/benchmark_fps.py \
        configs/vsd_mot/motrv2_r50_lqdancetrack-dancetrack-2to1.py \
        configs/vsd_mot/vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1.py \
        --frames ../shared/assets/mot17_mini/train/MOT17-04-FRCNN --random-init-teachers \
        --det-db work_dirs/mot17_mini_det_db.json --max-proposals 30
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import os.path as osp
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmdet.registry import MODELS
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from tqdm import tqdm

import mmdistillmot  # noqa: F401  (registers the project's modules)
from mmdistillmot.models.teachers.base_teacher import BaseTeacher

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")
#: Annotation loaders dropped from test pipelines (the benchmark has no ground truth).
ANNOTATION_LOADERS = ("LoadAnnotations", "LoadTrackAnnotations")
#: The det-db proposal loader (MOTRv2) that ``--det-db`` / ``--max-proposals`` configure.
PROPOSAL_LOADER = "LoadDetDBProposals"


class BenchmarkError(RuntimeError):
    """Bad arguments or inputs; the message says which."""


@dataclass
class ModelRun:
    """One benchmarked model and its measurements."""

    name: str
    config: str
    checkpoint: str | None
    model: nn.Module
    pipeline: Compose
    is_track: bool
    notes: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    tracked: list[int] = field(default_factory=list)
    detected: list[int] = field(default_factory=list)
    proposals: list[int] = field(default_factory=list)
    ran: set[nn.Module] = field(default_factory=set)
    read: set[int] = field(default_factory=set)

    @property
    def fps(self) -> float:
        """Frames per second over the timed frames."""
        return len(self.times) / sum(self.times) if self.times else float("nan")


# ---------------------------------------------------------------------- inputs
def split_models(items: list[str]) -> list[tuple[str, str | None]]:
    """Pair every config with the checkpoint that follows it (if any).

    Args:
        items: ``CONFIG [CKPT] CONFIG [CKPT] ...``.

    Returns:
        ``(config, checkpoint or None)`` pairs.

    Raises:
        BenchmarkError: A checkpoint without a config, an unknown file type, a missing file, or
            fewer than two configs.
    """
    pairs: list[tuple[str, str | None]] = []
    for item in items:
        if not osp.isfile(item):
            raise BenchmarkError(f"'{item}' does not exist.")
        if item.endswith(".py"):
            pairs.append((item, None))
        elif item.endswith(CHECKPOINT_SUFFIXES):
            if not pairs or pairs[-1][1] is not None:
                raise BenchmarkError(f"checkpoint '{item}' does not follow a config.")
            pairs[-1] = (pairs[-1][0], item)
        else:
            raise BenchmarkError(
                f"'{item}': expected a config (.py) or a checkpoint {CHECKPOINT_SUFFIXES}."
            )
    if len(pairs) < 2:
        raise BenchmarkError(f"give at least two configs to compare, got {len(pairs)}.")
    return pairs


def find_frames(path: str, num_frames: int | None) -> list[str]:
    """Image files of a folder, or of ``<sequence>/img1`` for a MOTChallenge sequence.

    Args:
        path: A folder of images or a MOTChallenge sequence folder.
        num_frames: Keep the first N (sorted by name); None keeps all.

    Returns:
        Sorted image paths.

    Raises:
        BenchmarkError: No images there, or fewer than ``num_frames``.
    """
    folder = osp.join(path, "img1") if osp.isdir(osp.join(path, "img1")) else path
    if not osp.isdir(folder):
        raise BenchmarkError(f"--frames '{path}' is not a folder of images or a MOT sequence.")
    files = sorted(
        osp.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not files:
        raise BenchmarkError(f"no images {IMAGE_SUFFIXES} in '{folder}'.")
    if num_frames is not None:
        if num_frames > len(files):
            raise BenchmarkError(f"--num-frames {num_frames}, but '{folder}' has {len(files)}.")
        files = files[:num_frames]
    return files


class FrameFromMemory(BaseTransform):
    """Stands in for ``LoadImageFromFile``: the frame is already decoded in ``results['img']``.

    Unlike mmdet's ``LoadImageFromNDArray`` it keeps ``img_path``, which det-db proposal lookups
    (``LoadDetDBProposals``) key on.
    """

    def transform(self, results: dict) -> dict:
        """Add the shapes of the in-memory ``[H, W, 3]`` frame.

        Args:
            results: Holds ``img`` (``[H, W, 3]`` uint8) and ``img_path``.

        Returns:
            ``results`` with ``img_shape`` and ``ori_shape``.
        """
        results["img_shape"] = results["img"].shape[:2]
        results["ori_shape"] = results["img"].shape[:2]
        return results


# ---------------------------------------------------------------------- config handling
def _has_parent(cfg: Config, key: str) -> bool:
    """Whether every dict (or list item) on the path to ``key``'s parent exists in ``cfg``."""
    node: Any = cfg
    for part in key.split(".")[:-1]:
        if isinstance(node, list | tuple):
            # list indices, as mmengine's merge_from_dict takes them (``pipeline.0.scale``)
            if not part.isdigit() or int(part) >= len(node):
                return False
            node = node[int(part)]
        elif isinstance(node, dict | Config) and part in node:
            node = node[part]
        else:
            return False
    return isinstance(node, dict | Config)


def apply_options(cfg: Config, options: dict[str, Any] | None) -> list[str]:
    """Merge the ``--cfg-options`` whose parent path exists in ``cfg``.

    Args:
        cfg: The loaded config (changed in place).
        options: ``dotted.key -> value``.

    Returns:
        The keys that were applied.
    """
    applied = [key for key in (options or {}) if _has_parent(cfg, key)]
    if applied:
        cfg.merge_from_dict({key: options[key] for key in applied})  # type: ignore[index]
    return applied


def allow_random_teachers(node: Any) -> list[str]:
    """Let every registered teacher in a model config run on random weights.

    Args:
        node: A model config (changed in place).

    Returns:
        The teacher types found.
    """
    found: list[str] = []
    if isinstance(node, list | tuple):
        for item in node:
            found += allow_random_teachers(item)
        return found
    if not isinstance(node, dict):
        return found
    kind = node.get("type")
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if isinstance(cls, type) and issubclass(cls, BaseTeacher):
        node["weights"] = None
        node["allow_random_init"] = True
        found.append(f"{cls.__name__}({node.get('arch', '')})")
    for value in node.values():
        found += allow_random_teachers(value)
    return found


def benchmark_pipeline(
    cfg: Config, det_db: str | None = None, max_proposals: int | None = None
) -> tuple[Compose, bool]:
    """The config's test pipeline reading in-memory frames, without annotation loading.

    Args:
        cfg: The loaded config.
        det_db: Replaces the det-db file of every ``LoadDetDBProposals`` step.
        max_proposals: Sets their ``max_num`` (highest scores kept).

    Returns:
        The composed pipeline and whether it packs tracking inputs (``PackTrackInputs``).
    """
    steps = get_test_pipeline_cfg(cfg)

    def convert(transforms: Iterable[dict]) -> list[dict | BaseTransform]:
        out: list[dict | BaseTransform] = []
        for transform in transforms:
            transform = ConfigDict(transform)
            kind = str(transform.get("type", ""))
            if kind.split(".")[-1] in ANNOTATION_LOADERS:
                continue
            if kind.split(".")[-1] == "LoadImageFromFile":
                out.append(FrameFromMemory())
                continue
            if kind.split(".")[-1] == PROPOSAL_LOADER:
                if det_db is not None:
                    transform.det_db = det_db
                if max_proposals is not None:
                    transform.max_num = max_proposals
            if isinstance(transform.get("transforms"), list):
                transform.transforms = convert(transform.transforms)
            out.append(transform)
        return out

    converted = convert(steps)
    is_track = any(str(t.get("type", "")).endswith("PackTrackInputs") for t in converted)
    return Compose(converted), is_track


# ---------------------------------------------------------------------- models
def build_run(
    index: int,
    config: str,
    checkpoint: str | None,
    options: dict[str, Any] | None,
    random_init_teachers: bool,
    device: torch.device,
    det_db: str | None = None,
    max_proposals: int | None = None,
) -> ModelRun:
    """Build one model, its pipeline and the notes printed about it."""
    cfg = Config.fromfile(config)
    notes = []
    applied = apply_options(cfg, options)
    if applied:
        notes.append("cfg-options: " + ", ".join(f"{k}={options[k]}" for k in applied))  # type: ignore[index]
    init_default_scope(cfg.get("default_scope", "mmdet"))
    if random_init_teachers:
        teachers = allow_random_teachers(cfg.model)
        if teachers:
            notes.append(
                "!!! RANDOM-WEIGHT TEACHERS (speed only, outputs meaningless): "
                + ", ".join(teachers)
                + " !!!"
            )
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location="cpu", strict=False)
        notes.append(f"checkpoint: {checkpoint}")
    else:
        notes.append("no checkpoint: random initialisation (speed only)")
    model.cfg = cfg
    model.to(device).eval()
    pipeline, is_track = benchmark_pipeline(cfg, det_db, max_proposals)
    name = f"{chr(ord('A') + index)}: {osp.splitext(osp.basename(config))[0]}"
    return ModelRun(name, config, checkpoint, model, pipeline, is_track, notes)


class ParameterReads(TorchFunctionMode):
    """Records which of the watched parameters any torch operation receives.

    Args:
        model: The model whose parameters are watched.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.watched = {id(param) for param in model.parameters()}
        self.read: set[int] = set()

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        for leaf in tree_flatten((args, kwargs))[0]:
            if isinstance(leaf, torch.Tensor) and id(leaf) in self.watched:
                self.read.add(id(leaf))
        return func(*args, **kwargs)


def count_parameters(
    model: nn.Module, ran: set[nn.Module], read: set[int] | None = None
) -> dict[str, int]:
    """Total, trainable and run-at-inference parameter counts (shared tensors counted once).

    Args:
        model: The model.
        ran: Modules whose forward ran while tracking.
        read: ``id()`` of parameters that torch operations read (``ParameterReads``); they
            count as run at inference too.

    Returns:
        ``total``, ``trainable`` and ``inference`` counts.
    """
    seen: set[int] = set()
    total = trainable = inference = 0
    parents = {child: parent for parent in model.modules() for child in parent.children()}
    for module in model.modules():
        direct = list(module.parameters(recurse=False))
        # a table read as `.weight` by the module that owns it (query embeddings)
        used = module in ran or (isinstance(module, nn.Embedding) and parents.get(module) in ran)
        for param in direct:
            if id(param) in seen:
                continue
            seen.add(id(param))
            total += param.numel()
            trainable += param.numel() if param.requires_grad else 0
            inference += param.numel() if used or id(param) in (read or ()) else 0
    return dict(total=total, trainable=trainable, inference=inference)


def _count(instances: Any) -> int:
    return 0 if instances is None else len(instances)


def _num_proposals(packed: dict) -> int | None:
    """Number of det-db proposals packed for the frame (None when the pipeline has none)."""
    sample = packed.get("data_samples")
    if sample is None:
        return None
    frames = list(sample) if hasattr(sample, "video_data_samples") else [sample]
    if not frames:
        return None
    proposals = frames[0].metainfo.get("det_proposals")
    return None if proposals is None else len(proposals)


def run_frame(run: ModelRun, image: np.ndarray, path: str, frame_id: int, num_frames: int) -> float:
    """Track (or detect) one frame; return its time in seconds."""
    device = next(run.model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    if run.is_track:
        data = dict(
            img=[image],
            img_path=[path],
            frame_id=[frame_id],
            ori_shape=[image.shape[:2]],
            img_id=[frame_id + 1],
            ori_video_length=[num_frames],
        )
    else:
        data = dict(img=image, img_path=path, img_id=frame_id, ori_shape=image.shape[:2])
    packed = run.pipeline(data)
    batch = pseudo_collate([packed])
    with torch.no_grad():
        (output,) = run.model.test_step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    sample = output[0] if run.is_track else output
    run.tracked.append(_count(sample.get("pred_track_instances", sample.get("pred_instances"))))
    if run.is_track and "pred_instances" in sample:
        run.detected.append(_count(sample.pred_instances))
    num_proposals = _num_proposals(packed)
    if num_proposals is not None:
        run.proposals.append(num_proposals)
    return elapsed


def benchmark(runs: list[ModelRun], frames: list[str], warmup: int) -> None:
    """Warm up on the first frames, then time every frame of the sequence for every model."""
    images = [mmcv.imread(path, channel_order="bgr") for path in frames]
    handles = []
    for run in runs:
        for module in run.model.modules():
            handles.append(
                module.register_forward_pre_hook(lambda m, _args, ran=run.ran: ran.add(m))
            )
    try:
        for frame_id in tqdm(range(min(warmup, len(frames))), desc="warm-up", unit="frame"):
            for run in runs:
                # untimed: record the parameters every operation reads
                with ParameterReads(run.model) as reads:
                    run_frame(run, images[frame_id], frames[frame_id], frame_id, len(frames))
                run.read |= reads.read
        for run in runs:
            run.tracked.clear()
            run.detected.clear()
            run.proposals.clear()
        # the timed pass starts again at frame 0: every tracker starts a new video
        for frame_id in tqdm(range(len(frames)), desc="timed", unit="frame"):
            shift = frame_id % len(runs)
            for run in runs[shift:] + runs[:shift]:
                elapsed = run_frame(run, images[frame_id], frames[frame_id], frame_id, len(frames))
                run.times.append(elapsed)
    finally:
        for handle in handles:
            handle.remove()


def print_notes_and_header(rows: list[dict[str, Any]], header: str) -> None:
    """Print every row's notes (what was applied or assumed), then a table header and rule."""
    for row in rows:
        for note in row["notes"]:
            print(f"  {row['name']}: {note}")
    print(header)
    print("-" * len(header))


def report(runs: list[ModelRun], frames: list[str], device: torch.device) -> dict[str, Any]:
    """Print the table and return it as a dict."""
    rows = []
    for run in runs:
        params = count_parameters(run.model, run.ran, run.read)
        rows.append(
            dict(
                name=run.name,
                config=run.config,
                checkpoint=run.checkpoint,
                fps=run.fps,
                median_ms=1000 * statistics.median(run.times),
                tracked_per_frame=float(np.mean(run.tracked)) if run.tracked else 0.0,
                detections_per_frame=float(np.mean(run.detected)) if run.detected else None,
                proposals_per_frame=float(np.mean(run.proposals)) if run.proposals else None,
                params=params,
                notes=run.notes,
            )
        )
    height, width = mmcv.imread(frames[0]).shape[:2]
    print(
        f"\n{len(frames)} frames of {width}x{height} from {osp.dirname(frames[0])}, "
        f"device {device}, torch threads {torch.get_num_threads()}"
    )
    print_notes_and_header(
        rows,
        f"{'model':<42}{'FPS':>8}{'ms/frame':>10}{'tracks':>8}{'dets':>7}{'props':>7}"
        f"{'params':>10}{'trainable':>11}{'inference':>11}",
    )
    for row in rows:
        p = row["params"]
        dets = "-" if row["detections_per_frame"] is None else f"{row['detections_per_frame']:.1f}"
        props = "-" if row["proposals_per_frame"] is None else f"{row['proposals_per_frame']:.1f}"
        print(
            f"{row['name']:<42}{row['fps']:>8.3f}{row['median_ms']:>10.1f}"
            f"{row['tracked_per_frame']:>8.1f}{dets:>7}{props:>7}"
            f"{p['total'] / 1e6:>9.2f}M{p['trainable'] / 1e6:>10.2f}M{p['inference'] / 1e6:>10.2f}M"
        )
    first = rows[0]
    for row in rows[1:]:
        ratio = first["fps"] / row["fps"]
        row["fps_ratio_first_over_this"] = ratio
        print(
            f"FPS ratio {first['name'].split(':')[0]} / {row['name'].split(':')[0]}: {ratio:.2f}x"
        )
    return dict(
        frames=len(frames),
        frame_size=[width, height],
        frames_dir=osp.dirname(frames[0]),
        device=str(device),
        torch_threads=torch.get_num_threads(),
        models=rows,
    )


# ---------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="CONFIG [CHECKPOINT] for two or more models")
    parser.add_argument("--frames", required=True, help="image folder or MOTChallenge sequence")
    parser.add_argument("--num-frames", type=int, help="use the first N frames (default all)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames first (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, help="CPU math threads (default: torch's choice)")
    parser.add_argument(
        "--random-init-teachers",
        action="store_true",
        help="teachers inside the models run on random weights (speed-only runs)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="key=value overrides, applied to every config that has the key's parent",
    )
    parser.add_argument(
        "--det-db", help="det-db JSON of the frames for LoadDetDBProposals (MOTRv2's proposals)"
    )
    parser.add_argument(
        "--max-proposals",
        type=int,
        help="keep this many highest-scoring proposals per frame (the same for every model)",
    )
    parser.add_argument("--out", help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        pairs = split_models(args.models)
        frames = find_frames(args.frames, args.num_frames)
        if args.warmup < 0:
            raise BenchmarkError("--warmup must be >= 0.")
        if args.det_db is not None and not osp.isfile(args.det_db):
            raise BenchmarkError(f"--det-db '{args.det_db}' does not exist.")
        if args.max_proposals is not None and args.max_proposals < 1:
            raise BenchmarkError("--max-proposals must be >= 1.")
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise BenchmarkError("--device cuda, but CUDA is not available.")
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [
        build_run(
            i,
            config,
            checkpoint,
            args.cfg_options,
            args.random_init_teachers,
            device,
            args.det_db,
            args.max_proposals,
        )
        for i, (config, checkpoint) in enumerate(pairs)
    ]
    benchmark(runs, frames, args.warmup)
    results = report(runs, frames, device)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
