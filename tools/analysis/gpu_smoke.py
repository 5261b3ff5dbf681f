r"""GPU smoke test: one training iteration and one short test of every model family, on CUDA.

The test suite runs on the CPU only (``tests/conftest.py`` hides CUDA: its expected values are
CPU results), so this tool is the check that each family trains and tracks on a GPU. Families
and their configs:

* ``tdt``: TDT (RetinaNet ResNet-18 FPN student with an embedding head), configs/tdt/
  tdt_r18_fpn_embed_synthetic.py, on a teacher store extracted first (on the same device) by a
  random-weight OSNet x0.25 (configs/reid/osnet_x0_25_synthetic_teacher.py);
* ``fairmot``: FairMOT HRNetV2-W18, configs/fairmot/fairmot_hrnetv2-w18_synthetic.py;
* ``fairmot_dinov2``: the FeatureDistiller around it with a DINOv2-small teacher,
  configs/fairmot_dinov2/fairmot_dinov2-small_synthetic.py;
* ``motrv2``: the CPU-sized MOTRv2 (ResNet-18, d 128), configs/vsd_mot/
  motrv2_r18_synthetic-lq_cpu.py;
* ``vsd_mot``: VSD-MOT (VSD student, DCSD, DSWR, CLIP RN50 teacher) around it, configs/vsd_mot/
  vsd-mot_r18_dcsd-dswr_synthetic-lq_cpu.py.

Each family runs as ``tools/train.py`` and ``tools/test.py`` run a config: mmengine's
``Runner.from_cfg(cfg)`` (or the config's ``runner_type``), ``runner.train()`` then
``runner.test()``, on whatever device mmengine picks (CUDA when there is one). Only data,
schedule and outputs change: a tiny synthetic MOT set generated in a temporary folder by the
project's own generator (one training and one validation sequence of 4 frames, 320x192; its
public detections as the det-db of the MOTRv2 families; the plain frames stand for the LQ ones
of the VSD configs), one training iteration (``max_iters=1``, or one epoch of one batch), no
validation and no checkpoint, then a test of the validation video with the trackers' and the
detector's score thresholds at 0 (a random-weight model scores below the configured ones, and
the association code should run on the device too). The architectures, image sizes, batch
sizes, data workers, optimizers and hooks are the configs'. Teachers run on random weights
(their cost and device handling are the same as with the real files).

Per family it prints OK or FAIL, the seconds of training and of testing (data making excluded),
the peak GPU memory (``torch.cuda.max_memory_allocated`` over the family's run; on the CPU the
process's peak resident set so far), and what the test produced; a failure also prints its
traceback. A family also fails when a loss is not finite or a parameter or buffer of the model
is not on the device after training. Exit status: 0 when every family is OK, 1 when one fails,
2 when no CUDA device is available (nothing is run). After a CUDA error that leaves the context
unusable (a device-side assert), the families after it fail too: rerun them with ``--families``.

``--device cpu`` runs the same on the CPU (the tool then hides CUDA before torch is imported):
to test this tool on a machine without a GPU; slow (tens of seconds per family).

Examples:
    python tools/analysis/gpu_smoke.py
    python tools/analysis/gpu_smoke.py --families tdt motrv2 --keep-work-dir work_dirs/smoke
    python tools/analysis/gpu_smoke.py --device cpu --families tdt
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402

# ``--device cpu`` from the command line: hide CUDA before torch (and mmengine, which picks its
# device once, when imported) load; main() refuses the CPU where CUDA is visible anyway
if __name__ == "__main__" and any(
    a == "--device=cpu" or (a == "--device" and b == "cpu")
    for a, b in zip(sys.argv[1:], [*sys.argv[2:], ""])
):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import argparse
import contextlib
import copy
import gc
import importlib.util
import io
import json
import math
import resource
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmdistillmot  # noqa: F401  (registers the project's modules)
from mmdistillmot.apis.teacher_extraction import run_extraction
from mmdistillmot.datasets.synthetic import SyntheticMOTConfig, generate_synthetic_mot
from mmdistillmot.models.teachers.base_teacher import BaseTeacher
from mmdistillmot.utils import one_line

REPO = Path(__file__).resolve().parents[2]

#: Family -> its config (repository-relative).
FAMILIES: dict[str, str] = {
    "tdt": "configs/tdt/tdt_r18_fpn_embed_synthetic.py",
    "fairmot": "configs/fairmot/fairmot_hrnetv2-w18_synthetic.py",
    "fairmot_dinov2": "configs/fairmot_dinov2/fairmot_dinov2-small_synthetic.py",
    "motrv2": "configs/vsd_mot/motrv2_r18_synthetic-lq_cpu.py",
    "vsd_mot": "configs/vsd_mot/vsd-mot_r18_dcsd-dswr_synthetic-lq_cpu.py",
}
#: The teacher whose store TDT trains from (random weights here).
STORE_TEACHER = "configs/reid/osnet_x0_25_synthetic_teacher.py"
#: Exit status when no CUDA device is available.
NO_CUDA = 2

#: Tracker and detector thresholds set to 0 for the test (keys found in the model config).
_ZERO_THRESHOLDS = (
    "obj_score_thr",
    "init_score_thr",
    "keep_score_thr",
    "output_score_thr",
    "min_area",
    "min_box_area",
)


@dataclass
class SmokeData:
    """The tiny dataset the families run on."""

    root: Path
    train_ann: Path
    val_ann: Path
    num_identities: int
    det_db: Path | None = None
    store: Path | None = None


@dataclass
class FamilyResult:
    """What one family's run gave."""

    name: str
    ok: bool = False
    train_s: float = 0.0
    test_s: float = 0.0
    peak_mib: float = 0.0
    loss: float = float("nan")
    frames: int = 0
    boxes: int = 0
    error: str = ""
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- data
def _load_tool(relative: str, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_data(root: Path, device: torch.device, det_db: bool, store: bool) -> SmokeData:
    """Generate the tiny synthetic set, and the det-db and teacher store when asked.

    Args:
        root: Folder to write (created).
        device: Where the store's teacher runs.
        det_db: Also write ``det_db.json`` from the public detections (MOTRv2 families).
        store: Also extract ``teacher_store`` with a random-weight OSNet x0.25 (TDT).

    Returns:
        The dataset's paths and identity count.
    """
    generate_synthetic_mot(
        root,
        SyntheticMOTConfig(
            seed=0, num_train=1, num_val=1, frames=4, width=320, height=192, reid=None
        ),
        progress=False,
    )
    train_ann = root / "annotations" / "train_cocoformat.json"
    val_ann = root / "annotations" / "val_cocoformat.json"
    train = json.loads(train_ann.read_text())
    num_ids = int(
        train.get("num_instances") or 1 + max(a["instance_id"] for a in train["annotations"])
    )
    data = SmokeData(root=root, train_ann=train_ann, val_ann=val_ann, num_identities=num_ids)
    if det_db:
        tool = _load_tool("tools/dataset_converters/make_det_db.py", "_gpu_smoke_make_det_db")
        db = {**tool.det_db_from_det_txt(root / "train"), **tool.det_db_from_det_txt(root / "val")}
        data.det_db = root / "det_db.json"
        data.det_db.write_text(json.dumps(db))
    if store:
        data.store = root / "teacher_store"
        run_extraction(
            str(REPO / STORE_TEACHER),
            str(train_ann),
            str(root),
            str(data.store),
            cfg_options={"teacher.weights": None, "teacher.allow_random_init": True},
            device=str(device),
            batch_size=4,
        )
    return data


# ---------------------------------------------------------------------- configs
def _leaf_datasets(dataset: Any) -> Iterator[Any]:
    """Dataset configs that read data, inside wrappers (``datasets`` / ``dataset``)."""
    if not isinstance(dataset, Mapping):
        return
    children = list(dataset.get("datasets") or [])
    if isinstance(dataset.get("dataset"), Mapping):
        children.append(dataset["dataset"])
    if not children:
        yield dataset
    for child in children:
        yield from _leaf_datasets(child)


def _transforms(pipeline: Any) -> Iterator[Any]:
    """Every transform config of a pipeline, nested ``transforms`` included."""
    for transform in pipeline or []:
        if isinstance(transform, Mapping):
            yield transform
            yield from _transforms(transform.get("transforms"))


def _walk(node: Any) -> Iterator[Any]:
    """Every dict inside a config node."""
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item)


def random_init_teachers(model_cfg: Any) -> list[str]:
    """Let every registered teacher in a model config run on random weights (in place)."""
    found = []
    for node in _walk(model_cfg):
        kind = node.get("type")
        cls = MODELS.get(kind) if isinstance(kind, str) else kind
        if isinstance(cls, type) and issubclass(cls, BaseTeacher):
            node["weights"] = None
            node["allow_random_init"] = True
            found.append(cls.__name__)
    return found


def smoke_config(cfg: Config, data: SmokeData, work_dir: Path, verbose: bool = False) -> Config:
    """A copy of ``cfg`` that trains one iteration and tests one video of the tiny set.

    Args:
        cfg: The family's loaded config (not modified).
        data: The tiny dataset.
        work_dir: The run's work dir (logs, test outputs).
        verbose: Keep the config's log level (default: warnings only).

    Returns:
        The smoke config.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.load_from = None
    cfg.resume = False
    cfg.launcher = "none"
    if not verbose:
        cfg.log_level = "WARNING"
    train_cfg = cfg.train_cfg
    if "IterBased" in str(train_cfg.get("type", "")):
        train_cfg.update(max_iters=1, val_interval=10**9)
    else:  # one epoch: the training video has 4 frames, one batch of the configs' 1..4
        train_cfg.update(max_epochs=1, val_interval=10**9)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    hooks = cfg.get("default_hooks") or ConfigDict()
    hooks.checkpoint = dict(type="CheckpointHook", interval=-1, save_last=False)
    if "logger" in hooks:
        hooks.logger.interval = 1
    cfg.default_hooks = hooks
    if cfg.get("auto_scale_lr"):
        cfg.auto_scale_lr.enable = False

    for name, ann in (("train_dataloader", data.train_ann), ("test_dataloader", data.val_ann)):
        for dataset in _leaf_datasets(cfg[name].dataset):
            dataset.update(data_root=str(data.root), ann_file=str(ann))
            for transform in _transforms(dataset.get("pipeline")):
                if transform.get("type") == "LoadDetDBProposals":
                    assert data.det_db is not None
                    transform["det_db"] = str(data.det_db)
                elif transform.get("type") == "LoadTeacherEmbeddings":
                    assert data.store is not None
                    transform.update(
                        store_dir=str(data.store),
                        ann_file=str(data.train_ann),
                        allow_random_init_teacher=True,
                    )
    evaluators = cfg.test_evaluator
    for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
        if "ann_file" in evaluator:
            evaluator.ann_file = str(data.val_ann)
        if "outfile_prefix" in evaluator:
            evaluator.outfile_prefix = str(work_dir / "test_results")

    random_init_teachers(cfg.model)
    for node in _walk(cfg.model):
        if node.get("num_identities") is not None:  # room for every identity of the tiny set
            node["num_identities"] = max(int(node["num_identities"]), data.num_identities)
        for key in _ZERO_THRESHOLDS:
            if key in node and "Tracker" in str(node.get("type", "")):
                node[key] = 0
        if "score_thr" in node and "nms" in node:  # a detector's test_cfg
            node.update(score_thr=0.0, max_per_img=10)
    return cfg


# ---------------------------------------------------------------------- running
class _PeakMemory:
    """Peak GPU memory of a run (CUDA), or the process's peak resident set so far (CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_mib(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def _off_device(model: torch.nn.Module, device: torch.device) -> list[str]:
    """Parameters and buffers of ``model`` that are not on ``device``'s type."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return sorted(name for name, tensor in tensors if tensor.device.type != device.type)


def _count_tracks(outputs: list[Any], counts: list[int]) -> list[Any]:
    """Add the frames and track boxes of a test step's outputs to ``counts`` (in place)."""
    for sample in outputs:
        frames = getattr(sample, "video_data_samples", [sample])
        for frame in frames:
            counts[0] += 1
            counts[1] += len(frame.pred_track_instances.bboxes)
    return outputs


def run_family(
    name: str, data: SmokeData, device: torch.device, work_dir: Path, verbose: bool = False
) -> FamilyResult:
    """Train one iteration and test the validation video of one family, as the tools do.

    Args:
        name: A key of :data:`FAMILIES`.
        data: The tiny dataset.
        device: The device expected to hold the model (the one mmengine picks).
        work_dir: The family's work dir.
        verbose: Show the Runner's log.

    Returns:
        The result; exceptions are caught, printed with their traceback and recorded.
    """
    result = FamilyResult(name)
    memory = _PeakMemory(device)
    runner = None
    try:
        cfg = smoke_config(Config.fromfile(str(REPO / FAMILIES[name])), data, work_dir, verbose)
        memory.start()
        start = time.perf_counter()
        runner = RUNNERS.build(cfg) if "runner_type" in cfg else Runner.from_cfg(cfg)
        runner.train()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.train_s = time.perf_counter() - start
        result.loss = float(runner.message_hub.get_scalar("train/loss").current())
        if not math.isfinite(result.loss):
            raise RuntimeError(f"the training loss is {result.loss}")
        off = _off_device(runner.model, device)
        if off:
            raise RuntimeError(
                f"{len(off)} parameters / buffers not on {device.type} after training: "
                + ", ".join(off[:5])
            )
        counts = [0, 0]  # frames, track boxes
        test_step = runner.model.test_step
        runner.model.test_step = lambda batch: _count_tracks(test_step(batch), counts)
        start = time.perf_counter()
        # TrackEval prints its tables; the Runner's log keeps the metrics
        with contextlib.redirect_stdout(sys.stdout if verbose else io.StringIO()):
            runner.test()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.test_s = time.perf_counter() - start
        result.frames, result.boxes = counts
        if result.frames == 0:
            raise RuntimeError("the test produced no frame")
        result.ok = True
    except Exception as err:  # a smoke test reports every failure and goes on
        traceback.print_exc()
        result.error = f"{type(err).__name__}: {one_line(err)}"
    finally:
        result.peak_mib = memory.peak_mib()
        del runner
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def _line(result: FamilyResult, device: torch.device) -> str:
    memory = "peak GPU" if device.type == "cuda" else "max RSS"
    status = "OK  " if result.ok else "FAIL"
    line = (
        f"{result.name:<16}{status}  train {result.train_s:7.2f} s  test {result.test_s:7.2f} s"
        f"  {memory} {result.peak_mib:8.0f} MiB"
    )
    if result.ok:
        return line + f"  loss {result.loss:.3g}, {result.frames} frames, {result.boxes} boxes"
    return line + f"  {result.error}"


# ---------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--families",
        nargs="+",
        choices=list(FAMILIES),
        default=list(FAMILIES),
        help="families to run (default: all)",
    )
    parser.add_argument(
        "--device",
        choices=["cuda", "cpu"],
        default="cuda",
        help="cuda (default; exit status 2 without a CUDA device) or cpu (tests this tool)",
    )
    parser.add_argument(
        "--keep-work-dir",
        type=Path,
        help="write data and runs here and keep them (default: a temporary folder, removed)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the Runner's log")
    return parser.parse_args(argv)


def no_cuda_message() -> str:
    """Why there is no CUDA device, in one line."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    hidden = f"; CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
    build = torch.version.cuda or "none (a CPU-only build)"
    return (
        f"error: no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, "
        f"CUDA {build}{hidden}); nothing was run (--device cpu tests this tool on the CPU)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(no_cuda_message(), file=sys.stderr)
        return NO_CUDA
    if device.type == "cpu" and torch.cuda.is_available():
        print(
            "error: --device cpu, but CUDA is visible to this process (mmengine would train on "
            "it); run the tool as a script, or with CUDA_VISIBLE_DEVICES=''",
            file=sys.stderr,
        )
        return 1
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device.type} ({name}); torch {torch.__version__}; families: {args.families}")
    work = args.keep_work_dir or Path(tempfile.mkdtemp(prefix="gpu_smoke_"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[FamilyResult] = []
    try:
        try:
            data = make_data(
                work / "data",
                device,
                det_db=bool({"motrv2", "vsd_mot"} & set(args.families)),
                store="tdt" in args.families,
            )
        except Exception as err:
            traceback.print_exc()
            print(f"FAIL: making the tiny dataset: {type(err).__name__}: {one_line(err)}")
            return 1
        for family in args.families:
            result = run_family(family, data, device, work / family, args.verbose)
            results.append(result)
            print(_line(result, device), flush=True)
    finally:
        if args.keep_work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = [r.name for r in results if not r.ok]
    print(
        f"{len(results) - len(failed)}/{len(results)} families OK"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
