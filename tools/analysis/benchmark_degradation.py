"""Measure the Real-ESRGAN degradation's cost per 1920x1080 frame on one CPU thread.

Each measured frame draws its own parameter set (per-frame mode, seeded), so the figures are
over the mix of kernels, resizes and noises the degradation produces. Reports wall time and
process CPU time per frame (median, mean, p90, min, max); on a shared machine the CPU time is
the steadier figure. ``--filters`` prints instead the cost of a dense ``cv2.filter2D`` against
one separable pass per kernel size, from which ``ops._MAX_SEPARABLE_RANK`` is set.

Example::

    python tools/analysis/benchmark_degradation.py --frames 30
    python tools/analysis/benchmark_degradation.py --filters
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from mmdistillmot.datasets.lq_builder import retain_freed_memory
from mmdistillmot.datasets.transforms.degradation import (
    apply_degradation,
    sample_degradation_params,
)
from mmdistillmot.datasets.transforms.degradation.real_esrgan_degradation import derive_seed
from mmdistillmot.utils.progress import progress_bar

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FRAME = REPO_ROOT.parent / "shared/assets/mot17_mini/train/MOT17-02-FRCNN/img1/000001.jpg"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--image",
        type=Path,
        default=None,
        help=f"frame to degrade (default: {DEFAULT_FRAME} if present, else a synthetic frame)",
    )
    parser.add_argument("--frames", type=int, default=20, help="measured frames (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured frames first")
    parser.add_argument("--severity", type=float, default=1.0, help="severity in [0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the parameter draws")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--filters", action="store_true", help="time dense vs separable filters per kernel size"
    )
    parser.add_argument(
        "--retain-freed-memory",
        action="store_true",
        help="keep freed buffers in the process (as make_lq_dataset.py does) to save page faults",
    )
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error(f"--frames must be >= 1 and --warmup >= 0 (got {args.frames}, {args.warmup})")
    return args


def synthetic_frame(width: int = 1920, height: int = 1080, seed: int = 0) -> np.ndarray:
    """A 1080p BGR frame with smooth shading, sharp edges and fine texture, shape (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.stack(
        [96 + 64 * np.sin(xx / 97.0 + c) * np.cos(yy / 61.0 - c) for c in range(3)], axis=-1
    )
    for _ in range(60):  # opaque rectangles give edges
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        frame[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, size=3)
    frame += rng.normal(0.0, 6.0, size=frame.shape).astype(np.float32)  # texture
    return np.clip(frame, 0, 255).astype(np.uint8)


def load_frame(path: Path | None) -> tuple[np.ndarray, str]:
    """The frame to benchmark and a description of where it came from."""
    if path is None and DEFAULT_FRAME.is_file():
        path = DEFAULT_FRAME
    if path is None:
        return synthetic_frame(), "synthetic 1920x1080 frame"
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"error: cannot read image {path}")
    return frame, str(path)


def summarise(values_ms: list[float]) -> dict[str, float]:
    """Median, mean, p90, min and max of a list of milliseconds."""
    ordered = sorted(values_ms)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p90": p90,
        "min": ordered[0],
        "max": ordered[-1],
    }


def time_call(fn, repeats: int = 3) -> float:
    """Smallest CPU time of ``repeats`` calls of ``fn``, milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1000.0


def benchmark_filters(frame: np.ndarray) -> None:
    """Prints dense-vs-separable filter costs per kernel size on ``frame`` (float32)."""
    image = frame.astype(np.float32)
    border = cv2.BORDER_REFLECT_101
    rng = np.random.default_rng(0)
    add_ms = time_call(lambda: cv2.add(image, image))
    print(f"{'k':>3} {'dense ms':>9} {'sep ms':>7} {'max rank':>8}")
    for size in range(3, 23, 2):
        kernel = rng.random((size, size)).astype(np.float32)
        taps = rng.random(size).astype(np.float32)
        dense = time_call(lambda k=kernel: cv2.filter2D(image, -1, k, borderType=border))
        sep = time_call(lambda t=taps: cv2.sepFilter2D(image, -1, t, t, borderType=border))
        print(f"{size:>3} {dense:>9.1f} {sep:>7.1f} {max(1, int(dense // (sep + add_ms))):>8}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    retained = retain_freed_memory() if args.retain_freed_memory else False
    frame, source = load_frame(args.image)
    print(
        f"frame: {source}, {frame.shape[1]}x{frame.shape[0]}; threads: {args.threads}; "
        f"freed memory retained: {retained}"
    )
    if args.filters:
        benchmark_filters(frame)
        return 0
    wall_ms: list[float] = []
    cpu_ms: list[float] = []
    per_op: dict[str, float] = {}
    user_sys = [0.0, 0.0]
    for index in progress_bar(range(args.warmup + args.frames), desc="degrading", unit="frame"):
        rng = np.random.default_rng(derive_seed(args.seed, "benchmark", index))
        params = sample_degradation_params(rng, args.severity)
        timings: dict[str, float] = {}
        wall, cpu, times = time.perf_counter(), time.process_time(), os.times()
        out = apply_degradation(frame, params, rng, timings=timings)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = os.times()
        assert out.shape == frame.shape and out.dtype == np.uint8
        if index < args.warmup:
            continue
        user_sys[0] += (after.user - times.user) * 1000.0 / args.frames
        user_sys[1] += (after.system - times.system) * 1000.0 / args.frames
        wall_ms.append(wall * 1000.0)
        cpu_ms.append(cpu * 1000.0)
        for name, seconds in timings.items():
            per_op[name] = per_op.get(name, 0.0) + seconds * 1000.0 / args.frames
    report = {
        "source": source,
        "size": [int(frame.shape[1]), int(frame.shape[0])],
        "frames": args.frames,
        "severity": args.severity,
        "threads": args.threads,
        "freed_memory_retained": retained,
        "wall_ms": summarise(wall_ms),
        "cpu_ms": summarise(cpu_ms),
        "mean_cpu_ms_user_system": user_sys,
        "mean_cpu_ms_per_operator": per_op,
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}, "
        f"OpenCV {cv2.__version__}, NumPy {np.__version__}",
    }
    for key in ("wall_ms", "cpu_ms"):
        stats = report[key]
        print(
            f"{key[:-3]:>4} ms/frame: median {stats['median']:.0f}, mean {stats['mean']:.0f}, "
            f"p90 {stats['p90']:.0f}, min {stats['min']:.0f}, max {stats['max']:.0f} "
            f"(over {args.frames} frames)"
        )
    print(f"mean CPU ms/frame: user {user_sys[0]:.0f} + system {user_sys[1]:.0f}")
    print("mean CPU ms per operator: " + ", ".join(f"{k} {v:.1f}" for k, v in per_op.items()))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
