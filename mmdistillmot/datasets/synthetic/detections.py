"""Public detections made from the ground truth the way a real detector errs.

For MOTChallenge's public-detection protocol a sequence ships ``det/det.txt``. Here each
ground-truth box is detected with a probability that falls with occlusion and with small size,
its box jitters in position and size, and its score rises with visibility; a few false positives
(person-shaped boxes where nobody is) and duplicate boxes on one person are added per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdistillmot.datasets.mot_files import MOT_ROW_DTYPE, make_mot_rows

__all__ = ["DetectionNoise", "noisy_detections"]


@dataclass(frozen=True)
class DetectionNoise:
    """How imperfect the simulated detector is.

    Attributes:
        min_visibility: Boxes less visible than this are never detected.
        miss_rate: Chance of missing a fully visible, large person.
        small_height: People shorter than this (pixels) are missed more often.
        center_sigma: Standard deviation of the centre shift, as a fraction of box size.
        size_sigma: Standard deviation of the log size change.
        false_positives: Mean number of false positives per frame.
        duplicate_rate: Chance that a detected person gets a second, shifted box.
    """

    min_visibility: float = 0.2
    miss_rate: float = 0.05
    small_height: float = 24.0
    center_sigma: float = 0.04
    size_sigma: float = 0.06
    false_positives: float = 0.3
    duplicate_rate: float = 0.02


def _clip_box(
    x: float, y: float, w: float, h: float, width: int, height: int
) -> tuple[float, float, float, float] | None:
    """Cuts a box to the image with corners on a 0.1 px grid; ``None`` below 2 x 2 pixels."""
    x0, y0 = round(max(0.0, x), 1), round(max(0.0, y), 1)
    x1, y1 = round(min(float(width), x + w), 1), round(min(float(height), y + h), 1)
    if x1 - x0 < 2.0 or y1 - y0 < 2.0:
        return None
    return x0, y0, round(x1 - x0, 1), round(y1 - y0, 1)


def noisy_detections(
    gt: np.ndarray,
    num_frames: int,
    width: int,
    height: int,
    rng: np.random.Generator,
    noise: DetectionNoise | None = None,
) -> np.ndarray:
    """Simulates a detector's output for one sequence.

    Args:
        gt: Ground-truth rows of dtype :data:`~mmdistillmot.datasets.mot_files.MOT_ROW_DTYPE`
            (uses ``frame``, ``x``, ``y``, ``w``, ``h``, ``visibility``).
        num_frames: Number of frames in the sequence (false positives go into every frame).
        width: Image width in pixels.
        height: Image height in pixels.
        rng: Random generator.
        noise: Detector imperfections; defaults to :class:`DetectionNoise`.

    Returns:
        Detection rows, dtype ``MOT_ROW_DTYPE``, ``id = -1``, ``conf`` the score in (0, 1),
        boxes rounded to 0.1 px and inside the image, sorted by frame.
    """
    noise = noise or DetectionNoise()
    frames: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    scores: list[float] = []
    heights = gt["h"][gt["visibility"] > 0.5] if len(gt) else np.zeros(0)
    typical_h = float(np.median(heights)) if heights.size else 0.25 * height

    def add(frame: int, box: tuple[float, float, float, float] | None, score: float) -> None:
        if box is not None:
            frames.append(frame)
            boxes.append(box)
            scores.append(round(float(np.clip(score, 0.01, 0.99)), 3))

    for row in gt:
        vis, h = float(row["visibility"]), float(row["h"])
        if vis < noise.min_visibility:
            continue
        p_detect = (1.0 - noise.miss_rate) * min(1.0, (vis - noise.min_visibility) / 0.4)
        p_detect *= min(1.0, h / noise.small_height)
        if rng.random() > p_detect:
            continue
        w = float(row["w"])
        for copy in range(2):
            if copy == 1 and rng.random() > noise.duplicate_rate:
                break
            spread = 1.0 if copy == 0 else 3.0
            cx = float(row["x"]) + w / 2 + rng.normal(0, noise.center_sigma * spread) * w
            cy = float(row["y"]) + h / 2 + rng.normal(0, noise.center_sigma * spread) * h
            nw = w * float(np.exp(rng.normal(0, noise.size_sigma)))
            nh = h * float(np.exp(rng.normal(0, noise.size_sigma)))
            score = 0.45 + 0.5 * vis + rng.normal(0, 0.08) - 0.2 * copy
            add(
                int(row["frame"]), _clip_box(cx - nw / 2, cy - nh / 2, nw, nh, width, height), score
            )

    for frame in range(1, num_frames + 1):
        for _ in range(int(rng.poisson(noise.false_positives))):
            # Person-shaped, about as tall as the people here, anywhere below the top fifth.
            fh = min(0.75 * height, typical_h * float(np.exp(rng.normal(0, 0.4))))
            fw = fh * rng.uniform(0.3, 0.5)
            fx = rng.uniform(-0.1 * fw, width - 0.9 * fw)
            fy = rng.uniform(0.2 * height, max(0.2 * height, height - 0.8 * fh))
            add(frame, _clip_box(fx, fy, fw, fh, width, height), rng.uniform(0.05, 0.6))

    if not frames:
        return np.zeros(0, dtype=MOT_ROW_DTYPE)
    rows = make_mot_rows(frames, [-1] * len(frames), np.asarray(boxes), np.asarray(scores))
    return rows[np.argsort(rows["frame"], kind="stable")]
