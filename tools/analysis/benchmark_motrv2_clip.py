r"""Seconds to build a MOTRv2 config's model and run one training clip and one tracked clip.

For every config: build the model (random weights, ``init_weights``), then on one random clip
of ``--frames`` frames of ``--size`` pixels with two people walking right (ground truth and one
det-db proposal each): the losses (forward), their backward, and tracking the same clip
(``mode='predict'``). The clip and the seed are the same for every config. Printed per config:
parameters, build, forward, backward and predict seconds (the median over ``--repeat`` rounds
for the three clip steps), and the load average before and after. Nothing here is a pass/fail
limit: the figures are for the model zoo and for spotting a regression by comparison.

This is the figure that ``tests/test_models/test_motrv2/test_motrv2_configs.py`` used to assert
(< 120 s for build + one 2-frame 64x96 clip) and no longer does.

Examples:
    python tools/analysis/benchmark_motrv2_clip.py configs/motrv2/motrv2_r50_synthetic.py \
        configs/motrv2/motrv2_r18_synthetic_cpu.py --frames 2 --size 96x64
    python tools/analysis/benchmark_motrv2_clip.py configs/motrv2/motrv2_r50_synthetic.py \
        --frames 5 --size 448x256 --out clip.json
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmdistillmot  # noqa: F401  (registers the project's modules)
from mmdistillmot.utils.progress import progress_bar

__all__ = ["make_clip", "time_config", "main"]


def make_clip(
    num_frames: int, height: int, width: int, seed: int = 0
) -> tuple[list[torch.Tensor], list[TrackDataSample]]:
    """A clip of random frames with two people walking right and one proposal per person.

    Args:
        num_frames: Frames ``T`` of the clip.
        height: Frame height ``H`` (at least 64).
        width: Frame width ``W`` (at least 96).
        seed: Seed of the frames' pixels.

    Returns:
        ``inputs``: one ``[T, 3, H, W]`` uint8 tensor in a list (as the dataloader gives it),
        and one TrackDataSample with gt boxes [2, 4] xyxy, labels, instance ids and det-db
        proposals [2, 5] (xyxy, score) per frame.
    """
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (num_frames, 3, height, width), generator=gen, dtype=torch.uint8)
    frames = []
    for t in range(num_frames):
        boxes = torch.tensor([[10.0, 8.0, 34.0, 56.0], [50.0, 6.0, 74.0, 50.0]]) + 2.0 * t
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                scale_factor=(1.0, 1.0),
                frame_id=t,
                img_path=f"train/SEQ/img1/{t + 1:06d}.jpg",
                det_proposals=np.concatenate(
                    [boxes.numpy() + 1.0, np.array([[0.9], [0.6]], dtype=np.float32)], axis=1
                ),
            )
        )
        sample.gt_instances = InstanceData(
            bboxes=boxes,
            labels=torch.zeros(2, dtype=torch.long),
            instances_ids=torch.tensor([4, 9]),
        )
        frames.append(sample)
    track = TrackDataSample()
    track.video_data_samples = frames
    return [imgs], [track]


def time_config(
    config: str, num_frames: int, height: int, width: int, repeat: int, seed: int = 0
) -> dict[str, Any]:
    """Build ``config``'s model and time one training and one tracked clip.

    Args:
        config: Path of a MOTRv2 config.
        num_frames: Frames of the clip.
        height: Frame height.
        width: Frame width.
        repeat: Rounds of forward, backward and predict; the medians are reported.
        seed: Seed of the weights and of the clip.

    Returns:
        A row: ``config``, ``params``, ``build_s``, ``forward_s``, ``backward_s``, ``predict_s``
        and ``total_s`` (build plus one round of the medians).
    """
    init_default_scope("mmdet")
    cfg = Config.fromfile(config)
    torch.manual_seed(seed)
    start = time.perf_counter()
    model = MODELS.build(cfg.model)
    model.init_weights()
    build_s = time.perf_counter() - start
    inputs, samples = make_clip(num_frames, height, width, seed)
    forward, backward, predict = [], [], []
    for _ in range(repeat):
        model.train()
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
        losses = model(**data, mode="loss")
        forward.append(time.perf_counter() - start)
        start = time.perf_counter()
        sum(losses.values()).backward()
        backward.append(time.perf_counter() - start)
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            data = model.data_preprocessor(
                dict(inputs=inputs, data_samples=samples), training=False
            )
            model(**data, mode="predict")
        predict.append(time.perf_counter() - start)
    row = dict(
        config=config,
        params=sum(p.numel() for p in model.parameters()),
        build_s=build_s,
        forward_s=statistics.median(forward),
        backward_s=statistics.median(backward),
        predict_s=statistics.median(predict),
    )
    row["total_s"] = build_s + row["forward_s"] + row["backward_s"] + row["predict_s"]
    return row


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    if width < 96 or height < 64:
        raise argparse.ArgumentTypeError(f"--size must be at least 96x64 (the boxes), got {text}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    """Command line: time every config, print the table, optionally write JSON.

    Args:
        argv: Arguments (``sys.argv[1:]`` if None).

    Returns:
        0 on success, 1 on a missing config.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="+", help="MOTRv2 configs")
    parser.add_argument("--frames", type=int, default=2, help="frames of the clip (default 2)")
    parser.add_argument(
        "--size", type=_size, default=(96, 64), help="WxH of the frames (default 96x64)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds per config (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    missing = [c for c in args.configs if not os.path.isfile(c)]
    if missing:
        print(f"config not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    width, height = args.size
    load_before = os.getloadavg()
    rows = [
        time_config(c, args.frames, height, width, args.repeat, args.seed)
        for c in progress_bar(args.configs, desc="configs", unit="config")
    ]
    load_after = os.getloadavg()
    print(
        f"one {args.frames}-frame {width}x{height} clip, {torch.get_num_threads()} threads, "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    header = f"{'config':<50} {'params M':>9} {'build s':>8} {'fwd s':>7} {'bwd s':>7} "
    header += f"{'predict s':>9} {'total s':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{os.path.basename(row['config']):<50} {row['params'] / 1e6:>9.2f} "
            f"{row['build_s']:>8.1f} {row['forward_s']:>7.1f} {row['backward_s']:>7.1f} "
            f"{row['predict_s']:>9.1f} {row['total_s']:>8.1f}"
        )
    if args.out:
        result = dict(
            frames=args.frames, size=[width, height], load_before=load_before[0],
            load_after=load_after[0], threads=torch.get_num_threads(), models=rows,
        )  # fmt: skip
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
