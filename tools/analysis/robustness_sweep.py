"""Track a validation set degraded on the fly at several severities; CSV + plot of the metrics.

For every severity the config's test pipeline gets a ``RealESRGANDegradation`` right after the
image is loaded (inside ``TransformBroadcaster`` for video pipelines), with
``consistency='per_sequence'`` and a fixed seed, so every frame of a video shares one camera's
degradation and every tracker sees the same frames. Severity 0 is the clean set. The model is
tested with mmengine's Runner exactly as ``tools/test.py`` does.

Several trackers in one picture: sweep each, then ``--compare`` their CSV files (one panel per
metric, one line per tracker); no config or checkpoint is needed then.

The sweep starts from clean frames: a config whose test set is already low quality (a
``*_lq_*`` CocoVID file of ``make_lq_dataset.py``, e.g. the VSD-MOT configs' ``val_lq``, or a
test pipeline that already runs ``RealESRGANDegradation``, e.g. the ``*_synthetic-lq`` configs)
is refused with a one-line error naming the clean alternative (``--cfg-options
test_dataloader.dataset.ann_file=annotations/val_hq_cocoformat.json``, or the config without
``-lq``); ``--allow-degraded-input`` sweeps it anyway (degradations on top of degradations).

Examples:
    python tools/analysis/robustness_sweep.py configs/tdt/tdt_r18_fpn_embed_synthetic.py \
        work_dirs/demo/student/epoch_5.pth --severities 0 0.25 0.5 0.75 1 \
        --out work_dirs/robustness/one-stage
    python tools/analysis/robustness_sweep.py --out work_dirs/robustness --compare \
        one-stage=work_dirs/robustness/one-stage/robustness.csv \
        iou-only=work_dirs/robustness/iou-only/robustness.csv
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import csv
import re
import sys
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmdistillmot  # noqa: E402,F401  (registers components)

METRICS = ("HOTA", "MOTA", "IDF1")
LOADERS = ("LoadImageFromFile", "LoadImageFromNDArray")


def insert_degradation(pipeline: list, degradation: dict) -> list:
    """Return a copy of ``pipeline`` with ``degradation`` right after the image loader.

    Args:
        pipeline: A test pipeline; video pipelines hold the loader inside a
            ``TransformBroadcaster``'s ``transforms``.
        degradation: The ``RealESRGANDegradation`` config to insert.

    Raises:
        ValueError: no image loader is found (the message names the pipeline's types).
    """
    pipeline = copy.deepcopy(list(pipeline))
    for index, step in enumerate(pipeline):
        if step.get("type") in LOADERS:
            pipeline.insert(index + 1, dict(degradation))
            return pipeline
        inner = step.get("transforms")
        if isinstance(inner, list) and any(t.get("type") in LOADERS for t in inner):
            step["transforms"] = insert_degradation(inner, degradation)
            return pipeline
    types = [step.get("type") for step in pipeline]
    raise ValueError(f"no image loader ({' / '.join(LOADERS)}) in the test pipeline {types}")


DEGRADATIONS = ("RealESRGANDegradation",)
# A low-quality CocoVID list of make_lq_dataset.py: <split>_lq_..., <split>_lq2-hq1_... (mixes)
_LQ_ANN = re.compile(r"_lq(?=[_\d-])")


def _leaf_datasets(dataset: dict, path: str) -> Iterator[tuple[str, dict]]:
    """``(dotted path, dataset config)`` of every dataset under wrappers and concatenations."""
    if isinstance(dataset.get("datasets"), list):
        for index, inner in enumerate(dataset["datasets"]):
            yield from _leaf_datasets(inner, f"{path}.datasets.{index}")
    elif isinstance(dataset.get("dataset"), dict):
        yield from _leaf_datasets(dataset["dataset"], f"{path}.dataset")
    else:
        yield path, dataset


def _pipeline_types(pipeline: list) -> Iterator[str]:
    """Every transform type of a pipeline, nested ones included (wrappers' ``transforms``)."""
    for step in pipeline:
        if isinstance(step, list):  # a RandomChoice candidate: a list of transforms
            yield from _pipeline_types(step)
            continue
        yield step.get("type", "")
        if isinstance(step.get("transforms"), list):
            yield from _pipeline_types(step["transforms"])


def degraded_test_set(cfg: Config) -> str | None:
    """Why the config's test set is already degraded (a one-line reason), or ``None``.

    Args:
        cfg: A tracking config with a ``test_dataloader``.

    Returns:
        ``None`` for a clean test set; otherwise what degrades it and how to test the clean
        frames instead.
    """
    for path, dataset in _leaf_datasets(cfg.test_dataloader.dataset, "test_dataloader.dataset"):
        found = [t for t in _pipeline_types(dataset.get("pipeline", [])) if t in DEGRADATIONS]
        if found:
            return (
                f"its test pipeline ({path}.pipeline) already runs {found[0]}, so the sweep "
                "would degrade degraded frames; sweep the clean config instead (the same name "
                "without '-lq', e.g. configs/motrv2/motrv2_r50_synthetic.py)"
            )
        ann_file = str(dataset.get("ann_file", ""))
        name = os.path.basename(ann_file)
        if _LQ_ANN.search(name):
            clean = os.path.join(os.path.dirname(ann_file), _LQ_ANN.sub("_hq", name, count=1))
            if re.search(r"_lq_cocoformat", name):
                hint = f"--cfg-options {path}.ann_file={clean}"
            else:
                hint = f"a high-quality list, e.g. --cfg-options {path}.ann_file=" + (
                    "annotations/val_hq_cocoformat.json"
                )
            return (
                f"its test set {path}.ann_file={ann_file} holds low-quality (already degraded) "
                "frames, so the sweep would degrade degraded frames; test the clean frames "
                f"with {hint}"
            )
    return None


def find_metric(metrics: dict, name: str) -> float:
    """Pick ``name`` from a Runner's metric dict (keys like ``motchallenge-metric/HOTA``)."""
    for key, value in metrics.items():
        if key.split("/")[-1] == name:
            return float(value)
    raise KeyError(f"metric {name} not among {sorted(metrics)}")


def run_severity(cfg: Config, checkpoint: str, severity: float, seed: int, work_dir: str) -> dict:
    """Test the model on the set degraded at ``severity``; return HOTA/MOTA/IDF1 (0-1)."""
    cfg = copy.deepcopy(cfg)
    degradation = dict(
        type="RealESRGANDegradation", severity=severity, consistency="per_sequence", seed=seed
    )
    dataset = cfg.test_dataloader.dataset
    dataset.pipeline = insert_degradation(dataset.pipeline, degradation)
    cfg.load_from = checkpoint
    cfg.work_dir = os.path.join(work_dir, f"severity_{severity:g}")
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    return {name: find_metric(metrics, name) for name in METRICS}


def write_outputs(rows: list[dict], out_dir: str, title: str) -> tuple[str, str]:
    """Write ``robustness.csv`` and ``robustness.png`` (metrics in % against severity)."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "robustness.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["severity", *METRICS])
        writer.writeheader()
        writer.writerows(rows)
    png_path = os.path.join(out_dir, "robustness.png")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    severities = [row["severity"] for row in rows]
    for name in METRICS:
        ax.plot(severities, [100 * row[name] for row in rows], marker="o", label=name)
    ax.set_xlabel("Real-ESRGAN degradation severity")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return csv_path, png_path


def read_sweep_csv(path: str) -> list[dict]:
    """Rows of a ``robustness.csv`` written by this tool, as floats.

    Raises:
        ValueError: the file misses a column (the message names the file and the column) or
            holds a value that is not a number (file and line).
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("severity", *METRICS) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append({k: float(row[k]) for k in ("severity", *METRICS)})
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}:{line}: {err}") from None
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def write_comparison(curves: dict[str, list[dict]], out_dir: str) -> tuple[str, str]:
    """Plot several trackers' sweeps: one panel per metric, one line per tracker.

    Args:
        curves: tracker label -> rows of :func:`read_sweep_csv`.
        out_dir: folder for ``robustness_comparison.png`` and ``.csv`` (long format: tracker,
            severity, metrics).

    Returns:
        ``(csv_path, png_path)``.
    """
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "robustness_comparison.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["tracker", "severity", *METRICS])
        writer.writeheader()
        for label, rows in curves.items():
            writer.writerows({"tracker": label, **row} for row in rows)
    png_path = os.path.join(out_dir, "robustness_comparison.png")
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.0 * len(METRICS), 3.4), sharex=True)
    for ax, name in zip(axes, METRICS):
        for label, rows in curves.items():
            ax.plot(
                [row["severity"] for row in rows],
                [100 * row[name] for row in rows],
                marker="o",
                label=label,
            )
        ax.set_title(name)
        ax.set_xlabel("degradation severity")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("%")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return csv_path, png_path


def compare(pairs: list[str], out_dir: str) -> int:
    """``--compare LABEL=CSV ...``: read the sweeps and write the comparison plot and CSV."""
    curves: dict[str, list[dict]] = {}
    for pair in pairs:
        label, sep, path = pair.partition("=")
        if not sep or not label or not path:
            sys.exit(f"error: --compare takes LABEL=CSV pairs, got '{pair}'")
        if not os.path.isfile(path):
            sys.exit(f"error: '{path}' (for {label}) does not exist")
        try:
            curves[label] = read_sweep_csv(path)
        except ValueError as err:
            sys.exit(f"error: {err}")
    csv_path, png_path = write_comparison(curves, out_dir)
    print(f"wrote {csv_path} and {png_path}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", help="tracking config (its test set is degraded)")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint to test")
    parser.add_argument("--severities", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--seed", type=int, default=0, help="degradation seed")
    parser.add_argument("--out", default="work_dirs/robustness", help="output folder")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    parser.add_argument(
        "--allow-degraded-input",
        action="store_true",
        help="sweep a test set that is already low quality (refused by default)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=CSV",
        help="plot earlier sweeps side by side instead of running one",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        return compare(args.compare, args.out)
    if args.config is None or args.checkpoint is None:
        sys.exit("error: give CONFIG and CHECKPOINT (or --compare LABEL=CSV ...)")
    if not os.path.isfile(args.config):
        sys.exit(f"error: config '{args.config}' does not exist")
    if not os.path.isfile(args.checkpoint):
        sys.exit(f"error: checkpoint '{args.checkpoint}' does not exist")
    bad = [s for s in args.severities if not 0.0 <= s <= 1.0]
    if bad:
        sys.exit(f"error: severities must lie in [0, 1], got {bad}")
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if not isinstance(cfg.get("test_dataloader"), ConfigDict):
        sys.exit(f"error: {args.config} has no test_dataloader")
    reason = degraded_test_set(cfg)
    if reason is not None and not args.allow_degraded_input:
        sys.exit(f"error: {args.config}: {reason} (or pass --allow-degraded-input)")
    rows = []
    for severity in sorted(args.severities):
        scores = run_severity(cfg, args.checkpoint, severity, args.seed, args.out)
        rows.append({"severity": severity, **scores})
        print(
            f"severity {severity:g}: " + ", ".join(f"{k} {100 * v:.1f}" for k, v in scores.items())
        )
    title = f"{os.path.basename(args.config)} ({os.path.basename(args.checkpoint)})"
    csv_path, png_path = write_outputs(rows, args.out, title)
    print(f"wrote {csv_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
