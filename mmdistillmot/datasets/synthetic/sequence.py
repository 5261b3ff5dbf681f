"""Rendering one sequence: people walking through a scene, frame by frame, with ground truth.

Each frame: the background window of the (jittered) camera, shadows, then scenery and people
far to near, each pasted with its owner label; then lighting, blur and noise. Ground truth is
measured on the owner map (see :func:`~.render.measure_sprite`): the box of the full silhouette
cut to the image and the visible share of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mmdistillmot.datasets.mot_files import MOT_ROW_DTYPE, make_mot_rows

from .motion import WalkerTrack
from .render import FigurePose, composite, draw_figure, draw_shadow, measure_sprite
from .scene import Scene

__all__ = ["Observation", "assign_track_ids", "figure_pose", "render_frames"]

# Speed (m/s) from which the limbs swing fully; slower walkers swing less, standing ones not.
_FULL_GAIT_SPEED = 0.6
# Boxes cut by the image border to less than this many pixels wide or tall are not annotated.
MIN_BOX_SIDE = 3


@dataclass(frozen=True)
class Observation:
    """One person in one frame.

    Attributes:
        frame: 1-based frame number.
        walker_id: The walker (see :class:`~.motion.WalkerTrack`).
        box: ``(x, y, w, h)`` in whole pixels, inside the image, ``w, h >= MIN_BOX_SIDE``.
        visibility: Share of the silhouette that is in the image and not hidden, in [0, 1].
    """

    frame: int
    walker_id: int
    box: tuple[int, int, int, int]
    visibility: float


def figure_pose(scene: Scene, track: WalkerTrack, index: int, dx: int, dy: int) -> FigurePose:
    """The image pose of ``track`` at its ``index``-th state, for a camera shifted by (dx, dy)."""
    u, v, px_per_m = scene.camera.project(float(track.x[index]), float(track.z[index]))
    return FigurePose(
        u=float(u) - dx,
        v=float(v) - dy,
        height_px=track.appearance.height_m * float(px_per_m),
        heading=float(track.heading[index]),
        phase=float(track.phase[index]),
        gait=min(1.0, float(track.speed[index]) / _FULL_GAIT_SPEED),
    )


def _may_show(pose: FigurePose, width: int, height: int) -> bool:
    """Cheap test whether any part of the figure can fall inside the image."""
    h = pose.height_px
    return (
        pose.u + 0.5 * h > 0
        and pose.u - 0.5 * h < width
        and pose.v - 1.1 * h < height
        and pose.v + 0.1 * h > 0
    )


def render_frames(
    scene: Scene, tracks: list[WalkerTrack], rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, list[Observation]]]:
    """Renders every frame of a sequence.

    Args:
        scene: The camera's world; its schedules set the number of frames.
        tracks: The walkers.
        rng: Random generator for sensor noise.

    Yields:
        ``(image, observations)`` per frame: the BGR image, shape (H, W, 3), uint8, and the
        annotated people in it.
    """
    width, height = scene.camera.width, scene.camera.height
    for t in range(scene.num_frames):
        dx, dy = (int(v) for v in scene.jitter[t])
        frame = scene.empty_frame(t)
        labels = np.zeros((height, width), np.int32)
        people = []
        for track in tracks:
            index = track.index(t)
            if index is None:
                continue
            pose = figure_pose(scene, track, index, dx, dy)
            if _may_show(pose, width, height):
                people.append((float(track.z[index]), track, pose))
        for _, _, pose in people:
            draw_shadow(frame, pose)
        sprites = {
            track.walker_id: draw_figure(track.appearance, pose) for _, track, pose in people
        }
        layers = [(z, track.walker_id + 1, sprites[track.walker_id]) for z, track, _ in people]
        layers += [(occ.z, -(k + 1), occ.at(dx, dy)) for k, occ in enumerate(scene.occluders)]
        composite(frame, labels, layers)
        observations = []
        for walker_id, sprite in sprites.items():
            measured = measure_sprite(labels, sprite, walker_id + 1)
            if measured is None:
                continue
            box, visibility = measured
            if box[2] < MIN_BOX_SIDE or box[3] < MIN_BOX_SIDE:
                continue
            # Three decimals: what gt.txt holds, so files and memory agree.
            observations.append(Observation(t + 1, walker_id, box, round(visibility, 3)))
        observations.sort(key=lambda o: o.walker_id)
        yield scene.finish(frame, t, rng), observations


def assign_track_ids(observations: list[Observation]) -> tuple[np.ndarray, dict[int, int]]:
    """Numbers the people seen in a sequence 1, 2, ... in order of first appearance.

    Args:
        observations: All observations of the sequence.

    Returns:
        ``(rows, ids)``: MOT17-style ground-truth rows (dtype ``MOT_ROW_DTYPE``, ``conf`` 1,
        class 1 = pedestrian) and the map from walker id to track id.
    """
    ids: dict[int, int] = {}
    for obs in sorted(observations, key=lambda o: (o.frame, o.walker_id)):
        ids.setdefault(obs.walker_id, len(ids) + 1)
    if not observations:
        return np.zeros(0, dtype=MOT_ROW_DTYPE), ids
    rows = make_mot_rows(
        [o.frame for o in observations],
        [ids[o.walker_id] for o in observations],
        np.asarray([o.box for o in observations], np.float64),
        conf=1.0,
        class_id=1,
        visibility=[o.visibility for o in observations],
    )
    return rows, ids
