"""A Market-1501-like person re-identification split rendered in the same synthetic world.

Layout under ``OUT/reid/``::

    bounding_box_train/  PPPP_cCs1_FFFFFF_00.jpg   training identities
    bounding_box_test/   PPPP_cCs1_FFFFFF_00.jpg   gallery of the test identities
    query/               PPPP_cCs1_FFFFFF_00.jpg   one image per test identity and camera

``PPPP`` is the person id (4 digits), ``C`` the camera (1 to 6), ``FFFFFF`` a frame number that
is unique per camera; all crops are 64 x 128 pixels (width x height), like Market-1501.
Training and test identities are disjoint, and neither appears in the tracking sequences: they
come from their own identity sampler (the caller passes a separate random stream). Each identity
walks a short way in front of two to four cameras whose scenes differ (ground, facades,
lighting, scenery), and each crop is cut around the person with a detector-like loose, shifted
box; other people and scenery may partly hide the person, as in real crops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .appearance import Appearance, IdentitySampler
from .render import FigurePose, composite, draw_figure, draw_shadow, measure_sprite
from .scene import Scene, sample_scene
from .writer import write_jpeg

__all__ = ["REID_FOLDERS", "ReIDConfig", "generate_reid_split", "reid_file_name"]

REID_FOLDERS = ("bounding_box_train", "bounding_box_test", "query")
_CROP_W, _CROP_H = 64, 128


@dataclass(frozen=True)
class ReIDConfig:
    """Size of the Re-ID split.

    Attributes:
        train_ids: Number of training identities.
        test_ids: Number of test identities (query and gallery).
        images_per_id: Crops per identity, spread over its cameras.
        cameras: Number of cameras (1 to 9, Market-1501 has 6).
        width: Camera image width in pixels (sets the scenes' scale).
        height: Camera image height in pixels.
        jpeg_quality: JPEG quality of the crops.
    """

    train_ids: int = 100
    test_ids: int = 50
    images_per_id: int = 16
    cameras: int = 6
    width: int = 480
    height: int = 272
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.train_ids < 1 or self.test_ids < 1:
            raise ValueError(
                f"train_ids and test_ids must be >= 1, got {self.train_ids}, {self.test_ids}"
            )
        if not 2 <= self.cameras <= 9:
            raise ValueError(
                f"cameras must be 2 to 9 (one digit in file names), got {self.cameras}"
            )
        if self.images_per_id < 4:
            raise ValueError(
                f"images_per_id must be >= 4 (two cameras, a query and a gallery image each), "
                f"got {self.images_per_id}"
            )
        if self.train_ids + self.test_ids > 9999:
            raise ValueError("at most 9999 identities fit the 4-digit person id")


def reid_file_name(pid: int, camera: int, frame: int) -> str:
    """Market-1501 file name ``PPPP_cCs1_FFFFFF_00.jpg`` (camera 1-based)."""
    return f"{pid:04d}_c{camera}s1_{frame:06d}_00.jpg"


def _render_crop(
    scene: Scene,
    look: Appearance,
    pose: FigurePose,
    t: int,
    extras: list[tuple[float, Appearance, FigurePose]],
    z: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float] | None:
    """Renders the neighbourhood of one person and cuts a 64 x 128 crop around it.

    Returns:
        ``(crop, visibility)`` or ``None`` when the person is not well inside the image.
    """
    cam = scene.camera
    h = pose.height_px
    # Just enough context for the loose crop cut below (about 0.45 h wide, 1.15 h tall).
    x0, y0 = max(0, int(pose.u - 0.4 * h)), max(0, int(pose.v - 1.2 * h))
    x1, y1 = min(cam.width, int(pose.u + 0.4 * h) + 1), min(cam.height, int(pose.v + 0.12 * h) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    region = (x0, y0, x1, y1)
    dx, dy = (int(v) for v in scene.jitter[t])
    patch = scene.empty_frame(t, region)
    labels = np.zeros(patch.shape[:2], np.int32)

    def local(p: FigurePose) -> FigurePose:
        return FigurePose(p.u - x0, p.v - y0, p.height_px, p.heading, p.phase, p.gait)

    people = [(z, look, local(pose), 1)] + [
        (ez, elook, local(epose), 2 + i) for i, (ez, elook, epose) in enumerate(extras)
    ]
    for _, _, p, _ in people:
        draw_shadow(patch, p)
    sprites = [(pz, label, draw_figure(plook, ppose)) for pz, plook, ppose, label in people]
    layers = sprites + [
        (occ.z, -(k + 1), occ.at(dx + x0, dy + y0)) for k, occ in enumerate(scene.occluders)
    ]
    composite(patch, labels, layers)
    target = sprites[0][2]
    measured = measure_sprite(labels, target, 1)
    if measured is None:
        return None
    (bx, by, bw, bh), visibility = measured
    image = scene.finish(patch, t, rng, region)
    # A detector-like box: a little loose and off-centre, then resized to 64 x 128.
    cx = bx + bw / 2 + rng.normal(0, 0.05) * bw
    cy = by + bh / 2 + rng.normal(0, 0.03) * bh
    ch = bh * rng.uniform(1.05, 1.15)
    cw = max(bw * rng.uniform(1.05, 1.25), ch * 0.36)
    src = np.array(
        [[cx - cw / 2, cy - ch / 2], [cx + cw / 2, cy - ch / 2], [cx - cw / 2, cy + ch / 2]],
        np.float32,
    )
    dst = np.array([[0, 0], [_CROP_W, 0], [0, _CROP_H]], np.float32)
    warp = cv2.getAffineTransform(src, dst)
    crop = cv2.warpAffine(
        image, warp, (_CROP_W, _CROP_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop, visibility


def _walk_poses(
    scene: Scene, look: Appearance, count: int, rng: np.random.Generator
) -> list[tuple[float, float, FigurePose, int]]:
    """``count`` poses along a short walk in view of one camera: ``(x, z, pose, t)``."""
    area, cam = scene.area, scene.camera
    # Near enough that the person is 40 % to 90 % as tall as at the bottom edge (sharp crops).
    z_low, z_high = area.z_near * 1.15, min(area.z_far * 0.6, area.z_near * 2.5)
    z = z_low + (z_high - z_low) * rng.random()
    x = rng.uniform(-0.6, 0.6) * float(cam.half_width_m(z))
    heading = rng.uniform(-math.pi, math.pi)
    speed = rng.uniform(0.8, 1.6)
    phase = rng.uniform(0, 2 * math.pi)
    t = int(rng.integers(scene.num_frames))
    out = []
    for _ in range(count):
        gap = int(rng.integers(3, 9))  # frames between two crops of one tracklet
        step = speed * gap / 15.0
        x += step * math.cos(heading)
        z = float(np.clip(z + step * math.sin(heading), z_low, z_high))
        limit = 0.75 * float(cam.half_width_m(z))
        x = float(np.clip(x, -limit, limit))
        phase = (phase + 2 * math.pi * step / (0.8 * look.height_m)) % (2 * math.pi)
        t = (t + gap) % scene.num_frames
        u, v, pm = cam.project(x, z)
        dx, dy = (int(val) for val in scene.jitter[t])
        pose = FigurePose(
            float(u) - dx, float(v) - dy, look.height_m * float(pm), heading, phase, 1.0
        )
        out.append((x, z, pose, t))
        heading += rng.normal(0, 0.2)
    return out


def _distractor(
    scene: Scene,
    x: float,
    z: float,
    t: int,
    rng: np.random.Generator,
    sampler: IdentitySampler,
) -> tuple[float, Appearance, FigurePose]:
    """Another person next to the target at ``(x, z)``, in front or behind, in frame ``t``."""
    ez = float(np.clip(z + rng.uniform(-1.5, 1.5), scene.area.z_near * 1.1, scene.area.z_far))
    ex = x + float(rng.choice((-1.0, 1.0))) * rng.uniform(0.3, 0.8)
    u, v, pm = scene.camera.project(ex, ez)
    dx, dy = (int(val) for val in scene.jitter[t])
    look = sampler.new()
    pose = FigurePose(
        float(u) - dx,
        float(v) - dy,
        look.height_m * float(pm),
        rng.uniform(-math.pi, math.pi),
        rng.uniform(0, 2 * math.pi),
        1.0,
    )
    return ez, look, pose


def _camera_crops(
    scene: Scene,
    look: Appearance,
    count: int,
    rng: np.random.Generator,
    passers_by: IdentitySampler,
    min_visibility: float = 0.5,
    attempts: int = 6,
) -> list[np.ndarray]:
    """Up to ``count`` crops of one identity in one camera, from short walks in its view.

    Crops where the person is less than ``min_visibility`` visible are dropped; a walk that
    stays behind scenery is replaced by a new one, at most ``attempts`` walks.
    """
    crops: list[np.ndarray] = []
    for _ in range(attempts):
        for x, z, pose, t in _walk_poses(scene, look, 2 * (count - len(crops)), rng):
            extras = []
            if rng.random() < 0.2:
                extras.append(_distractor(scene, x, z, t, rng, passers_by))
            result = _render_crop(scene, look, pose, t, extras, z, rng)
            if result is not None and result[1] >= min_visibility:
                crops.append(result[0])
                if len(crops) == count:
                    return crops
    return crops


def generate_reid_split(
    out_dir: Path, cfg: ReIDConfig, rng: np.random.Generator, progress: bool = True
) -> dict:
    """Renders the Re-ID split into ``out_dir`` (the ``reid`` folder).

    Args:
        out_dir: Destination; the three Market-1501 folders are created in it.
        cfg: Size of the split.
        rng: Random generator; pass a stream not used for the tracking sequences.
        progress: Show a progress bar.

    Returns:
        A JSON-ready summary: identity ids per subset, image counts, and each identity's
        appearance (``identities``: pid -> :meth:`Appearance.to_dict`).
    """
    out_dir = Path(out_dir)
    for folder in REID_FOLDERS:
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    scenes = [sample_scene(rng, cfg.width, cfg.height, num_frames=120) for _ in range(cfg.cameras)]
    frame_counter = [0] * cfg.cameras
    # Separate samplers: look-alikes stay within training or within test identities; people
    # walking past (distractors) come from a third one and are never labelled.
    train_sampler, test_sampler = IdentitySampler(rng), IdentitySampler(rng)
    passers_by = IdentitySampler(rng, lookalike_prob=0.0)
    subsets = [("train", pid, train_sampler) for pid in range(1, cfg.train_ids + 1)]
    subsets += [
        ("test", pid, test_sampler)
        for pid in range(cfg.train_ids + 1, cfg.train_ids + cfg.test_ids + 1)
    ]
    counts = dict.fromkeys(REID_FOLDERS, 0)
    identities: dict[str, dict] = {}
    bar = tqdm(total=len(subsets) * cfg.images_per_id, desc="re-id crops", disable=not progress)
    for subset, pid, sampler in subsets:
        look = sampler.new()
        identities[f"{pid:04d}"] = look.to_dict()
        # Two to four cameras, at least two crops in each (a query and a gallery image).
        num_cams = int(rng.integers(2, min(4, cfg.cameras, cfg.images_per_id // 2) + 1))
        cams = sorted(int(c) for c in rng.choice(cfg.cameras, size=num_cams, replace=False))
        per_cam = np.full(num_cams, 2)
        extra = rng.multinomial(cfg.images_per_id - 2 * num_cams, np.full(num_cams, 1 / num_cams))
        per_cam += extra
        for cam, count in zip(cams, per_cam):
            crops = _camera_crops(scenes[cam], look, int(count), rng, passers_by)
            if len(crops) < 2:
                raise RuntimeError(
                    f"could not render 2 usable crops of identity {pid} in camera {cam + 1}"
                )
            for index, crop in enumerate(crops):
                frame_counter[cam] += 1
                if subset == "train":
                    folder = "bounding_box_train"
                else:
                    folder = "query" if index == 0 else "bounding_box_test"
                name = reid_file_name(pid, cam + 1, frame_counter[cam])
                write_jpeg(out_dir / folder / name, crop, cfg.jpeg_quality)
                counts[folder] += 1
                bar.update(1)
    bar.close()
    return {
        "train_ids": list(range(1, cfg.train_ids + 1)),
        "test_ids": list(range(cfg.train_ids + 1, cfg.train_ids + cfg.test_ids + 1)),
        "images": counts,
        "cameras": cfg.cameras,
        "identities": identities,
    }
