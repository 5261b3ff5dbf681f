r"""Seconds per training step and peak step memory of two or more configs, side by side.

Every model is built from its config in one process, with its own optimizer wrapper
(``optim_wrapper`` of the config), and runs ``train_step`` (forward, losses, backward, optimizer
step) on the same batches: ``--batches`` batches are drawn once, up front, from each config's own
train dataloader (``num_workers=0``, random state reset to ``--seed`` before each config), so
configs with the same data pipeline get identical batches (checked and printed). Data loading is
excluded from the time. The models take turns within every step, in an order that rotates from
step to step, so a change of machine load hits all of them alike.

Printed per model: median, mean and min seconds per step over the timed steps, peak memory of a
step, parameter counts (total, trainable), and the ratio of its median to the first config's
median (the training-step overhead, e.g. of a distillation teacher over the plain student), with
the ratio of the fastest steps beside it (the least disturbed by other processes' load).

Peak memory of a step: on CUDA, ``torch.cuda.max_memory_allocated`` during the step minus the
memory allocated before it. On CPU, the process's resident-set high-water mark (``VmHWM``,
reset before every step through ``/proc/self/clear_refs``) minus the resident set before the
step, after glibc's ``malloc_trim`` has returned freed heap pages (memory the allocator keeps
mapped would otherwise hide part of the step's peak); where the reset is not allowed, the growth
of ``ru_maxrss`` is reported instead, which is only a lower bound after the first step (printed).

Teachers need their weight files unless ``--random-init-teachers`` is given: random weights cost
the same time (same architecture, same input size), which is all this tool measures.
``--cfg-options`` go to every config that already has the parent of the key (as in
``benchmark_fps.py``); what was applied where is printed.

Examples:
    python tools/analysis/benchmark_train_step.py \
        configs/fairmot/fairmot_hrnetv2-w18_synthetic.py \
        configs/fairmot_dinov2/fairmot_dinov2-small_synthetic.py \
        --steps 10 --warmup 1 --random-init-teachers --out step.json
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import contextlib
import copy
import ctypes
import json
import os.path as osp
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from mmdet.registry import MODELS
from mmengine.config import Config, DictAction
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.runner.utils import set_random_seed
from torch import nn
from tqdm import tqdm

import mmdistillmot  # noqa: F401  (registers the project's modules)

# the config helpers are shared with the FPS benchmark next to this file
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_fps import (  # noqa: E402
    BenchmarkError,
    allow_random_teachers,
    apply_options,
    print_notes_and_header,
)

__all__ = [
    "StepRun",
    "StepMemory",
    "build_step_run",
    "draw_batches",
    "same_batches",
    "benchmark_steps",
    "report",
    "main",
]


def _malloc_trim() -> None:
    """Return free heap memory to the OS (glibc ``malloc_trim``); a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class StepMemory:
    """Peak memory of one training step, in bytes above what was in use before it.

    Args:
        device: The device the model trains on.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = "cuda.max_memory_allocated" if device.type == "cuda" else self._cpu_method()
        self._before = 0

    @staticmethod
    def _cpu_method() -> str:
        try:
            with open("/proc/self/clear_refs", "w") as file:
                file.write("5")  # "5" resets the peak resident set size (Linux >= 4.0)
            return "VmHWM"
        except OSError:
            return "ru_maxrss"

    @staticmethod
    def _status_kib(field_name: str) -> int:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"/proc/self/status has no {field_name}")

    def start(self) -> None:
        """Mark the memory in use now and reset the peak counter."""
        if self.method == "cuda.max_memory_allocated":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._before = torch.cuda.memory_allocated(self.device)
        elif self.method == "VmHWM":
            # give freed heap pages back first, so that the resident set before the step is
            # what is alive (weights, optimizer state) and the step's own peak shows above it
            _malloc_trim()
            with open("/proc/self/clear_refs", "w") as file:
                file.write("5")
            self._before = self._status_kib("VmRSS") * 1024
        else:
            self._before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def stop(self) -> int:
        """Peak bytes above the start mark since :meth:`start`."""
        if self.method == "cuda.max_memory_allocated":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method == "VmHWM":
            peak = self._status_kib("VmHWM") * 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(0, peak - self._before)


@dataclass
class StepRun:
    """One benchmarked config, its model, optimizer, batches and measurements."""

    name: str
    config: str
    model: nn.Module
    optim_wrapper: OptimWrapper
    batches: list[dict]
    notes: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------- building
def draw_batches(cfg: Config, num_batches: int, seed: int) -> list[dict]:
    """The first batches of a config's train dataloader, read in this process.

    Args:
        cfg: The loaded config (its ``train_dataloader`` is used with ``num_workers=0``).
        num_batches: How many batches to draw.
        seed: Random state set before the dataloader is built (sampler order, augmentations).

    Returns:
        ``num_batches`` collated batches (``inputs`` / ``data_samples`` dicts).

    Raises:
        BenchmarkError: The config has no train dataloader or too few batches.
    """
    if "train_dataloader" not in cfg or cfg.train_dataloader is None:
        raise BenchmarkError(f"'{cfg.filename}' has no train_dataloader.")
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(num_workers=0, persistent_workers=False)
    set_random_seed(seed)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    batches: list[dict] = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == num_batches:
            return batches
    raise BenchmarkError(
        f"'{cfg.filename}': --batches {num_batches}, but its train dataloader gives {len(batches)}."
    )


def _tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a batch's ``inputs`` (nested lists / dicts), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for key in sorted(value) for t in _tensors(value[key])]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _tensors(item)]
    return []


def same_batches(first: list[dict], other: list[dict]) -> bool:
    """Whether two lists of batches have identical input tensors."""
    if len(first) != len(other):
        return False
    for a, b in zip(first, other, strict=True):
        ta, tb = _tensors(a["inputs"]), _tensors(b["inputs"])
        if len(ta) != len(tb) or any(
            x.shape != y.shape or not torch.equal(x, y) for x, y in zip(ta, tb, strict=True)
        ):
            return False
    return True


def build_step_run(
    index: int,
    config: str,
    options: dict[str, Any] | None,
    random_init_teachers: bool,
    device: torch.device,
    num_batches: int,
    seed: int,
) -> StepRun:
    """Build one config's model (weights initialised as the runner does), optimizer and batches.

    Args:
        index: Position on the command line (names the row A, B, ...).
        config: Config file.
        options: ``--cfg-options`` (applied where the key's parent exists).
        random_init_teachers: Let registered teachers run on random weights.
        device: Where the model trains.
        num_batches: Batches drawn from the train dataloader.
        seed: Random seed for the weights and the batches.

    Returns:
        The run, ready to time.
    """
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
                "RANDOM-WEIGHT TEACHERS (timing only; same cost as trained weights): "
                + ", ".join(teachers)
            )
    batches = draw_batches(cfg, num_batches, seed)
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    if hasattr(model, "init_weights"):
        model.init_weights()  # as the runner does before training
    model.to(device)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    name = f"{chr(ord('A') + index)}: {osp.splitext(osp.basename(config))[0]}"
    return StepRun(name, config, model, optim_wrapper, batches, notes)


# ---------------------------------------------------------------------- timing
def _one_step(run: StepRun, batch: dict, memory: StepMemory) -> None:
    # a fresh copy per step: preprocessors and losses may write into the data samples
    batch = copy.deepcopy(batch)
    device = memory.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    memory.start()
    start = time.perf_counter()
    log_vars = run.model.train_step(batch, run.optim_wrapper)  # type: ignore[operator]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    run.times.append(time.perf_counter() - start)
    run.peaks.append(memory.stop())
    run.losses.append(float(log_vars["loss"].detach()))


def benchmark_steps(runs: list[StepRun], steps: int, warmup: int, device: torch.device) -> str:
    """Warm-up steps, then ``steps`` timed steps of every model, interleaved.

    Args:
        runs: The models (each keeps its own times, peaks and losses).
        steps: Timed steps per model.
        warmup: Untimed steps per model first (allocator, lazy init).
        device: The training device.

    Returns:
        The memory method used (see :class:`StepMemory`).
    """
    memory = StepMemory(device)
    for step in tqdm(range(warmup), desc="warm-up", unit="step"):
        for run in runs:
            _one_step(run, run.batches[step % len(run.batches)], memory)
    for run in runs:
        run.times.clear()
        run.peaks.clear()
        run.losses.clear()
    for step in tqdm(range(steps), desc="timed", unit="step"):
        shift = step % len(runs)
        for run in runs[shift:] + runs[:shift]:
            _one_step(run, run.batches[step % len(run.batches)], memory)
    return memory.method


def _parameters(model: nn.Module) -> tuple[int, int]:
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def report(runs: list[StepRun], device: torch.device, memory_method: str) -> dict[str, Any]:
    """Print the table and return it as a dict.

    Args:
        runs: Timed runs (at least one step each).
        device: The training device.
        memory_method: How the peaks were measured.

    Returns:
        ``device``, ``torch_threads``, ``memory_method`` and one row per model with
        ``median_s``, ``mean_s``, ``min_s``, ``peak_mib``, ``params``, ``trainable``,
        ``overhead_vs_first`` (ratio of medians), ``min_overhead_vs_first`` (ratio of the
        fastest steps) and ``notes``.
    """
    rows: list[dict[str, Any]] = []
    for run in runs:
        total, trainable = _parameters(run.model)
        rows.append(
            dict(
                name=run.name,
                config=run.config,
                steps=len(run.times),
                median_s=statistics.median(run.times),
                mean_s=statistics.fmean(run.times),
                min_s=min(run.times),
                peak_mib=max(run.peaks) / 2**20,
                params=total,
                trainable=trainable,
                last_loss=run.losses[-1],
                notes=run.notes,
            )
        )
    for row in rows:
        row["overhead_vs_first"] = row["median_s"] / rows[0]["median_s"]
        # the fastest step is the least disturbed by other processes on a shared machine
        row["min_overhead_vs_first"] = row["min_s"] / rows[0]["min_s"]
    print(
        f"\n{rows[0]['steps']} timed steps per model, {len(runs[0].batches)} batch(es), "
        f"device {device}, torch threads {torch.get_num_threads()}, memory: {memory_method}"
    )
    print_notes_and_header(
        rows,
        f"{'model':<46}{'median s':>10}{'mean s':>9}{'min s':>8}{'peak MiB':>10}"
        f"{'params':>10}{'trainable':>11}{'x first':>9}{'(min)':>8}",
    )
    for row in rows:
        print(
            f"{row['name']:<46}{row['median_s']:>10.3f}{row['mean_s']:>9.3f}{row['min_s']:>8.3f}"
            f"{row['peak_mib']:>10.0f}{row['params'] / 1e6:>9.2f}M"
            f"{row['trainable'] / 1e6:>10.2f}M{row['overhead_vs_first']:>9.2f}"
            f"{row['min_overhead_vs_first']:>8.2f}"
        )
    if memory_method == "ru_maxrss":
        print("peak MiB: growth of the process high-water mark, a lower bound after the first")
    return dict(
        device=str(device),
        torch_threads=torch.get_num_threads(),
        memory_method=memory_method,
        batches=len(runs[0].batches),
        models=rows,
    )


# ---------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="two or more configs; the first is the base")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model (10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (1)")
    parser.add_argument("--batches", type=int, default=1, help="distinct batches, cycled (1)")
    parser.add_argument("--seed", type=int, default=0, help="weights and batches seed (0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, help="CPU math threads (default: torch's choice)")
    parser.add_argument(
        "--random-init-teachers",
        action="store_true",
        help="teachers inside the models run on random weights (timing only)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="key=value overrides, applied to every config that has the key's parent",
    )
    parser.add_argument("--out", help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if len(args.configs) < 2:
            raise BenchmarkError(f"give at least two configs to compare, got {len(args.configs)}.")
        for config in args.configs:
            if not (osp.isfile(config) and config.endswith(".py")):
                raise BenchmarkError(f"'{config}' is not a config file (.py).")
        if args.steps < 1 or args.warmup < 0 or args.batches < 1:
            raise BenchmarkError("--steps and --batches must be >= 1, --warmup >= 0.")
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise BenchmarkError("--device cuda, but CUDA is not available.")
        if args.threads:
            torch.set_num_threads(args.threads)
        runs = [
            build_step_run(
                i,
                config,
                args.cfg_options,
                args.random_init_teachers,
                device,
                args.batches,
                args.seed,
            )
            for i, config in enumerate(args.configs)
        ]
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for run in runs[1:]:
        same = same_batches(runs[0].batches, run.batches)
        run.notes.append(
            "same input batches as A" if same else "input batches DIFFER from A's (own pipeline)"
        )
    memory_method = benchmark_steps(runs, args.steps, args.warmup, device)
    results = report(runs, device, memory_method)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
