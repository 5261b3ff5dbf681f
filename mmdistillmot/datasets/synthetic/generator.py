"""The whole synthetic dataset: tracking sequences, detections, Re-ID split, CocoVID files.

Output layout under ``OUT``::

    train/SYN-01/{img1/000001.jpg..., gt/gt.txt, det/det.txt, seqinfo.ini}   MOTChallenge
    val/SYN-05/...
    reid/{bounding_box_train, bounding_box_test, query}/                   Market-1501-like
    annotations/{train,val}_cocoformat.json                                 CocoVID (mot2coco)
    synthetic_manifest.json    settings, per-sequence statistics, every identity's appearance

Every random draw comes from ``numpy.random.Generator`` streams derived from the seed (one
stream per sequence and purpose, one for the Re-ID split), and JPEG quality is fixed, so the same
settings give byte-identical files and a sequence does not change when others are added. The
manifest is written last: its presence marks a complete dataset.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..mot_cocovid import write_cocovid
from .appearance import IdentitySampler
from .detections import noisy_detections
from .motion import MotionConfig, simulate_walkers
from .reid import ReIDConfig, generate_reid_split
from .scene import sample_scene
from .sequence import Observation, assign_track_ids, render_frames
from .writer import SequenceWriter

__all__ = ["MANIFEST_NAME", "SyntheticMOTConfig", "generate_synthetic_mot", "sequence_names"]

MANIFEST_NAME = "synthetic_manifest.json"
GENERATOR_VERSION = 1
# What this generator writes at the top of OUT; nothing else there is ever touched.
_OWN_ENTRIES = ("train", "val", "reid", "annotations", MANIFEST_NAME)


@dataclass(frozen=True)
class SyntheticMOTConfig:
    """Settings of one synthetic dataset.

    Attributes:
        seed: Seed of every random stream.
        num_train: Number of training sequences.
        num_val: Number of validation sequences.
        frames: Frames per sequence.
        width: Image width in pixels.
        height: Image height in pixels.
        fps: Frame rate of the sequences.
        people: Range of the mean number of people in view; each sequence draws its own.
        jpeg_quality: JPEG quality of frames and crops.
        reid: Size of the Re-ID split, or ``None`` for no Re-ID split.
    """

    seed: int = 0
    num_train: int = 4
    num_val: int = 2
    frames: int = 150
    width: int = 480
    height: int = 272
    fps: int = 15
    people: tuple[float, float] = (6.0, 16.0)
    jpeg_quality: int = 90
    reid: ReIDConfig | None = field(default_factory=ReIDConfig)

    def __post_init__(self) -> None:
        if self.num_train < 0 or self.num_val < 0 or self.num_train + self.num_val == 0:
            raise ValueError(
                f"need at least one sequence, got num_train={self.num_train}, "
                f"num_val={self.num_val}"
            )
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")
        if self.width < 64 or self.height < 48:
            raise ValueError(f"size must be at least 64x48, got {self.width}x{self.height}")
        if not 0 < self.people[0] <= self.people[1]:
            raise ValueError(f"people must be a range 0 < low <= high, got {self.people}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1 to 100, got {self.jpeg_quality}")

    def to_dict(self) -> dict:
        """JSON-ready settings (compared on re-runs to skip finished work)."""
        data = asdict(self)
        data["generator_version"] = GENERATOR_VERSION
        # Through json and back: tuples become lists, as in a manifest read from disk.
        return json.loads(json.dumps(data))


def sequence_names(cfg: SyntheticMOTConfig) -> list[tuple[str, str]]:
    """``(split, name)`` of every sequence: ``SYN-01`` ... numbered across train then val."""
    splits = ["train"] * cfg.num_train + ["val"] * cfg.num_val
    return [(split, f"SYN-{i + 1:02d}") for i, split in enumerate(splits)]


def _streams(seed: int, key: int, count: int) -> list[np.random.Generator]:
    """``count`` independent generators for stream ``key`` of ``seed``."""
    children = np.random.SeedSequence(seed, spawn_key=(key,)).spawn(count)
    return [np.random.default_rng(child) for child in children]


def _generate_sequence(
    out_dir: Path, split: str, name: str, index: int, cfg: SyntheticMOTConfig, bar: tqdm
) -> dict:
    """Renders and writes one sequence; returns its manifest entry."""
    scene_rng, motion_rng, render_rng, det_rng = _streams(cfg.seed, index, 4)
    scene = sample_scene(scene_rng, cfg.width, cfg.height, cfg.frames)
    motion = MotionConfig(fps=cfg.fps, target_people=float(motion_rng.uniform(*cfg.people)))
    identities = IdentitySampler(motion_rng, lookalike_prob=motion.lookalike_prob)
    tracks = simulate_walkers(scene.area, cfg.frames, motion, motion_rng, identities)
    writer = SequenceWriter(
        out_dir / split / name, name, cfg.fps, cfg.width, cfg.height, cfg.jpeg_quality
    )
    observations: list[Observation] = []
    for image, seen in render_frames(scene, tracks, render_rng):
        writer.add_frame(image)
        observations.extend(seen)
        bar.update(1)
    gt, walker_to_track = assign_track_ids(observations)
    det = noisy_detections(gt, cfg.frames, cfg.width, cfg.height, det_rng)
    writer.finish(gt, det)
    by_walker = {t.walker_id: t for t in tracks}
    track_of_identity = {by_walker[w].identity: tid for w, tid in walker_to_track.items()}
    people = {}
    for walker_id, track_id in walker_to_track.items():
        track = by_walker[walker_id]
        imitated = identities.lookalike_of[track.identity]
        people[str(track_id)] = dict(
            appearance=track.appearance.to_dict(),
            # The track id of the person this one was dressed after (None: an original, or
            # dressed after someone never annotated in this sequence).
            lookalike_of=track_of_identity.get(imitated),
        )
    per_frame = np.bincount(gt["frame"], minlength=cfg.frames + 1)[1:]
    return dict(
        split=split,
        style=scene.style,
        frames=cfg.frames,
        tracks=len(walker_to_track),
        boxes=int(len(gt)),
        detections=int(len(det)),
        mean_people_per_frame=round(float(np.mean(per_frame)), 2),
        max_people_per_frame=int(np.max(per_frame)),
        occluded_boxes=int(np.count_nonzero(gt["visibility"] < 0.75)),
        lookalikes=sum(1 for p in people.values() if p["lookalike_of"] is not None),
        occluders=[dict(kind=o.kind, x=round(o.x, 2), z=round(o.z, 2)) for o in scene.occluders],
        camera=dict(
            focal=round(scene.camera.focal, 2),
            horizon_y=round(scene.camera.horizon_y, 2),
            cam_height=round(scene.camera.cam_height, 3),
        ),
        people=people,
    )


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuses to mix with foreign files; with ``overwrite`` removes only our own entries."""
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        return
    if not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder")
    entries = sorted(p.name for p in out_dir.iterdir())
    ours = [e for e in entries if e in _OWN_ENTRIES]
    if not ours:
        return
    if not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds {', '.join(ours)} from another run with other settings "
            f"(or an interrupted one); pass overwrite=True (--overwrite) to replace them"
        )
    for entry in ours:
        path = out_dir / entry
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def generate_synthetic_mot(
    out_dir: str | Path,
    cfg: SyntheticMOTConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Writes the synthetic dataset to ``out_dir``.

    Re-running with the same settings on a complete dataset does nothing and returns its
    manifest. Other files in ``out_dir`` are never touched.

    Args:
        out_dir: Dataset root.
        cfg: Settings; defaults to :class:`SyntheticMOTConfig`.
        overwrite: Replace an earlier output with other settings (or an interrupted one).
        progress: Show progress bars.

    Returns:
        The manifest (also written to ``out_dir/synthetic_manifest.json``).

    Raises:
        FileExistsError: When ``out_dir`` holds output of other settings and not ``overwrite``.
    """
    cfg = cfg or SyntheticMOTConfig()
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_NAME
    if manifest_path.is_file():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if previous.get("config") == cfg.to_dict():
            return previous
    _prepare_out_dir(out_dir, overwrite)
    names = sequence_names(cfg)
    sequences = {}
    with tqdm(total=len(names) * cfg.frames, desc="frames", disable=not progress) as bar:
        for index, (split, name) in enumerate(names):
            bar.set_postfix_str(name)
            sequences[name] = _generate_sequence(out_dir, split, name, index, cfg, bar)
    annotations = {}
    for split in ("train", "val"):
        if any(s == split for s, _ in names):
            data = write_cocovid(
                out_dir, split, out_dir / "annotations" / f"{split}_cocoformat.json"
            )
            annotations[split] = dict(
                file=f"annotations/{split}_cocoformat.json",
                images=len(data["images"]),
                annotations=len(data["annotations"]),
                instances=data["num_instances"],
            )
    reid = None
    if cfg.reid is not None:
        # Stream key 10000: apart from every sequence's key, so Re-ID people are other people.
        (reid_rng,) = _streams(cfg.seed, 10000, 1)
        reid_cfg = cfg.reid
        reid = generate_reid_split(out_dir / "reid", reid_cfg, reid_rng, progress=progress)
    manifest = dict(
        config=cfg.to_dict(),
        sequences=sequences,
        annotations=annotations,
        reid=reid,
    )
    tmp = manifest_path.with_name(MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    tmp.replace(manifest_path)
    return manifest
